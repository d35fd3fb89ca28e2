"""cloud-init: datasources, user-data parsing, and applying it at boot."""

import logging

from rancheros.config.paths import ConfigPaths

log = logging.getLogger(__name__)


def local_stage(paths: ConfigPaths, doc: dict) -> None:
    """Init's hook: run the local datasources; never raises (PID 1 keeps booting)."""
    from rancheros.cloudinit.stage import run_stage
    try:
        run_stage(paths, doc, network=False)
    except Exception as e:  # noqa: BLE001 - the boot must go on whatever user-data holds
        log.error("cloud-init local stage failed: %s", e)


def network_stage(paths: ConfigPaths, doc: dict) -> int:
    """The cloud-init service: run the network datasources.

    Always 0: bad user-data is logged item by item and must not hold back the
    services that wait for this one-shot (the console among them).
    """
    from rancheros.cloudinit.stage import run_stage
    try:
        run_stage(paths, doc, network=True)
    except Exception as e:  # noqa: BLE001 - see above
        log.error("cloud-init network stage failed: %s", e)
    return 0
