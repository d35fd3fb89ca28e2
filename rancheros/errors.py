"""Exceptions of our own: each carries a message an operator can act on.

The CLI turns any RosError into one line on stderr and exit status 1; PID 1
logs it as one console line and keeps booting.
"""


class RosError(Exception):
    """Base of every error a user may see."""


class ConfigError(RosError):
    """A config layer cannot be read or parsed (names the file and position)."""


class ValidationError(ConfigError):
    """A value does not fit the schema (names the key path and the expectation)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


class StoreError(RosError):
    """The persistent config store cannot be read or written."""


class DockerError(RosError):
    """A Docker daemon cannot be started, reached or asked."""


class ServiceError(RosError):
    """A service cannot be defined, created, started or stopped."""


class BootError(RosError):
    """A fatal early boot error: PID 1 prints it and opens a recovery shell."""


class CommandError(RosError):
    """A helper program failed or outlived its timeout (names it and shows its stderr's tail)."""


class InstallError(RosError):
    """An install, upgrade or rollback cannot go on; nothing the operator needs was changed."""
