"""The syslog service: busybox syslogd and klogd kept alive, their file rotated by Debian's logrotate."""
