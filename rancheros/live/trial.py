"""`ros config set ... --try SECONDS`: a change that reverts itself unless `ros config confirm` comes in time.

The local layer as it was goes into `trial.json` beside it, on the state disk. A helper container outside
every console (`config-trial`) waits for the deadline; if the trial is still pending then, it puts the old
layer back and applies that. A reboot before the confirmation reverts too (the boot manager, before it
reads the config): a change that cut the operator off is undone by a power cycle as well.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rancheros.config.paths import ConfigPaths
from rancheros.config.store import LocalStore, fsync_dir, write_atomic
from rancheros.errors import ConfigError, ServiceError

log = logging.getLogger(__name__)
HELPER = "config-trial"   # the helper container's name
POLL = 1.0                # seconds between the helper's looks at the trial file
MAX_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Trial:
    """A pending trial: until when, the local layer's text before it (None: there was none), what ran."""

    deadline: float
    previous: str | None
    command: str

    def left(self, now: float | None = None) -> float:
        return max(0.0, self.deadline - (time.time() if now is None else now))


def trial_path(paths: ConfigPaths) -> Path:
    return paths.config_dir / "trial.json"


def pending(paths: ConfigPaths) -> Trial | None:
    """The pending trial, or None; an unreadable file is a pending trial of unknown content (refused)."""
    try:
        data = json.loads(trial_path(paths).read_text())
        return Trial(float(data["deadline"]), data["previous"], str(data.get("command", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"the config trial file {trial_path(paths)} is unreadable ({e}); "
                          "remove it to go on") from None


def check_seconds(seconds: int) -> int:
    if not 1 <= seconds <= MAX_SECONDS:
        raise ConfigError(f"--try: {seconds} is not a number of seconds from 1 to {MAX_SECONDS}")
    return seconds


def begin(paths: ConfigPaths, seconds: int, command: str) -> Trial:
    """Record the local layer as it is now; refused while another trial is pending."""
    check_seconds(seconds)
    current = pending(paths)
    if current is not None:
        raise ConfigError(f"a config trial is pending ({current.command!r}, {current.left():.0f}s left): "
                          "`ros config confirm` it or let it revert first")
    try:
        previous = paths.local.read_text()
    except FileNotFoundError:
        previous = None
    trial = Trial(time.time() + seconds, previous, command)
    paths.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(trial_path(paths), json.dumps(dataclasses.asdict(trial)).encode(), 0o600)
    return trial


def _claim(paths: ConfigPaths) -> Trial | None:
    """Take the pending trial away atomically (confirm and revert race for it; one wins)."""
    path = trial_path(paths)
    claimed = path.with_name(f".trial.{os.getpid()}.claimed")
    try:
        trial = pending(paths)
        os.rename(path, claimed)
    except (FileNotFoundError, ConfigError):
        return None
    claimed.unlink()
    fsync_dir(path.parent)
    return trial


def abort(paths: ConfigPaths) -> None:
    """The trial's change was refused (invalid): nothing to revert, no trial pending."""
    _claim(paths)


def confirm(paths: ConfigPaths) -> Trial:
    """Keep the trial's change for good; ConfigError when none is pending (it reverted already, or never was)."""
    trial = _claim(paths)
    if trial is None:
        raise ConfigError("no config trial is pending (it was confirmed, or its time ran out and it reverted)")
    return trial


def restore(paths: ConfigPaths, trial: Trial) -> None:
    """Put the local layer back as it was before the trial."""
    store = LocalStore(paths)
    with store.locked():
        if trial.previous is None:
            paths.local.unlink(missing_ok=True)
            fsync_dir(paths.config_dir)
        else:
            write_atomic(paths.local, trial.previous.encode("utf-8"))


def revert_if_due(paths: ConfigPaths, now: float | None = None, force: bool = False) -> Trial | None:
    """Revert the pending trial when its time is up (or `force`: at boot); returns it when it reverted."""
    trial = pending(paths)
    if trial is None or (not force and trial.left(now) > 0):
        return None
    trial = _claim(paths)
    if trial is None:
        return None
    restore(paths, trial)
    return trial


def revert_at_boot(paths: ConfigPaths) -> None:
    """A trial still pending at boot was never confirmed: the previous config is back before anything reads it."""
    try:
        trial = revert_if_due(paths, force=True)
    except Exception as e:  # the boot goes on with whatever config there is
        log.error("config trial: cannot revert: %s", e)
        return
    if trial is not None:
        log.warning("config trial %r was not confirmed before this boot: the previous config is back",
                    trial.command)


def start_helper(engine, seconds: int) -> str:
    """The container that waits out the trial (`ros config trial-wait`), outside every console; returns its id."""
    from rancheros.console.run import FROZEN
    from rancheros.sysdocker.service import create_args

    services, _, _ = engine.definitions()
    base = services.get("command-volumes")
    if base is None:
        raise ServiceError("no command-volumes service: cannot start the config trial's helper")
    helper = dataclasses.replace(base, name=HELPER, restart="no", labels={"io.rancher.os.scope": "system"},
                                 volumes=[], command=[FROZEN, "config", "trial-wait"], network_mode="host",
                                 pid="host", uts="host", privileged=True,
                                 volumes_from=["system-volumes", "command-volumes"])
    args = create_args(helper)
    api = engine.api
    remove_helper(api)
    cid = api.create_container(host_config=api.create_host_config(**args.host), **args.container)["Id"]
    api.start(cid)
    return cid


def remove_helper(api) -> None:
    """The helper goes (confirm, or a new trial); one already gone is fine."""
    from docker.errors import NotFound

    try:
        api.remove_container(HELPER, force=True)
    except NotFound:
        pass
