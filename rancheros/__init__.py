"""RancherOS in Python: PID 1, the service engine and the `ros` CLI."""

__version__ = "0.1.0"
