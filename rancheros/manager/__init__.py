"""The boot manager: PID 1's one child, which runs system Docker and the services after the root switch."""
