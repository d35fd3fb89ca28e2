"""Install to disk, A/B upgrade and rollback: the disk layout, the bootloader, the slots, the boot env."""
