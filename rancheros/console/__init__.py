"""The console service: user `rancher`, SSH (host keys, authorized keys, sshd_config), gettys, start.sh."""
