"""The build's own exceptions; build.py prints any of them as one line and exits 1.

The product's errors (rancheros.errors) are the product's: rosbuild never imports them; where the
build runs product code (the installer for disk images, the catalog) they pass through to build.py,
which prints them as one line too.
"""


class BuildError(Exception):
    """A build step failed (names the step and shows its output's tail)."""


class VmError(BuildError):
    """A QEMU machine did not start, answer or stop in time (names it and the serial log's tail)."""
