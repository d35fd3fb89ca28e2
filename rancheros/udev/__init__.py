"""The udev service: systemd-udevd on the OS's /dev, so /dev/disk/by-* links exist for everyone."""
