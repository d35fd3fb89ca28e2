"""The two cloud-init stages: local (in init, before services) and network (the service).

A stage asks its datasources in order; the first one with data wins. Its
cloud-config becomes the datasource layer of the config
(`cloud-config.d/<stage>.yml`), then files, scripts, runcmd and mounts are
applied. Nothing here raises for bad input: each problem is one log line.
"""

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

from rancheros.cloudinit import apply, userdata
from rancheros.cloudinit.datasources import Datasource, Found, for_stage
from rancheros.cloudinit.fetch import DatasourceError, wait_for_network
from rancheros.config import keys
from rancheros.config.merge import merge_all
from rancheros.config.paths import ConfigPaths
from rancheros.config.schema import without_type_errors
from rancheros.config.store import ensure_dir, write_atomic
from rancheros.config.yamlio import dump_yaml
from rancheros.errors import RosError

log = logging.getLogger(__name__)

APPLIED_ELSEWHERE = ("write_files", "runcmd", "mounts")


@dataclass
class StageResult:
    """What a stage did, for the caller's one summary line and for tests."""

    source: str = ""
    layer: Path | None = None
    errors: int = 0
    config: dict = field(default_factory=dict)


def first_with_data(sources: list[Datasource]) -> Found | None:
    """Ask each datasource in order; an unreachable one is one line, never a hang."""
    for ds in sources:
        try:
            found = ds.read()
        except (DatasourceError, RosError, OSError) as e:
            log.error("cloud-init: datasource %s: %s", ds.spec, e)
            continue
        if found:
            return found
    return None


def cloud_config_of(found: Found) -> tuple[dict, list, int]:
    """Merged cloud-config (wrong types dropped), scripts and error count of what a datasource delivered."""
    parsed = userdata.parse(found.userdata, f"user-data from {found.source}")
    for err in parsed.errors:
        log.error("cloud-init: %s", err)
    cc, invalid = drop_invalid(merge_all(parsed.cloud_configs))
    meta = found.metadata
    if meta.hostname and not cc.get("hostname"):
        cc["hostname"] = meta.hostname
    if meta.public_keys:
        have = list(cc.get("ssh_authorized_keys") or [])
        cc["ssh_authorized_keys"] = have + [k for k in meta.public_keys if k not in have]
    return cc, parsed.scripts, len(parsed.errors) + invalid


def drop_invalid(cc: dict) -> tuple[dict, int]:
    """Remove the values the schema rejects (each one logged), keep the rest.

    write_files, runcmd and mounts are left whole: apply checks each of their items itself (index, path, why)."""
    checked = {k: v for k, v in cc.items() if k not in APPLIED_ELSEWHERE}
    kept, problems = without_type_errors(checked)
    for problem in problems:
        log.error("cloud-init: %s: %s (ignored)", problem.path or "(top)", problem.message)
    return {**kept, **{k: v for k, v in cc.items() if k in APPLIED_ELSEWHERE}}, len(problems)


def save_layer(paths: ConfigPaths, stage: str, cc: dict, source: str) -> Path:
    """Write the datasource layer atomically, 0600 (it may hold keys)."""
    ensure_dir(paths.datasource_dir)
    path = paths.datasource_dir / f"{stage}.yml"
    layer = {k: v for k, v in cc.items() if k not in APPLIED_ELSEWHERE}
    write_atomic(path, f"# from {source}\n{dump_yaml(layer)}".encode(), 0o600)
    return path


def run_stage(paths: ConfigPaths, doc: dict, network: bool, cmdline: str | None = None,
              target: apply.Target = apply.Target()) -> StageResult:
    """Run the local (network=False) or network stage of cloud-init."""
    stage = "network" if network else "local"
    if cmdline is None:
        try:
            cmdline = Path(paths.cmdline).read_text()
        except OSError:
            cmdline = ""
    specs = keys.get(doc, "rancher.cloud_init.datasources") or []
    if not isinstance(specs, list):
        log.error("cloud-init: rancher.cloud_init.datasources must be a list, got %r (ignored)", specs)
        specs = []
    sources = for_stage(specs, cmdline, network)
    if network and sources:
        wait_for_network()
    found = first_with_data(sources)
    if not found:
        log.info("cloud-init %s: no datasource had data", stage)
        return StageResult()
    cc, scripts, errors = cloud_config_of(found)
    result = StageResult(found.source, None, errors, cc)
    try:
        result.layer = save_layer(paths, stage, cc, found.source)
    except RosError as e:
        log.error("cloud-init: cannot save the datasource layer: %s", e)
        result.errors += 1
    instance = found.metadata.instance_id or found.source
    result.errors += apply.write_files(cc.get("write_files"), target)
    result.errors += apply.mount_all(cc.get("mounts"), target)
    result.errors += apply.run_scripts(scripts, instance, target)
    result.errors += apply.run_commands(cc.get("runcmd"), instance, target)
    if cc.get("hostname") and target.root == Path("/"):
        try:
            socket.sethostname(str(cc["hostname"]))
        except (OSError, ValueError) as e:
            log.error("cloud-init: hostname %r: %s", cc["hostname"], e)
            result.errors += 1
    log.info("cloud-init %s: applied user-data from %s (%d errors)", stage, found.source, result.errors)
    return result
