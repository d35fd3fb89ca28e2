"""Kernel modules: drivers for the hardware present (coldplug, as udev would) and the config's list."""

from __future__ import annotations

import glob
import logging
import shlex

from rancheros.system.command import CommandError, CommandNotFound, CommandTimeout, run

log = logging.getLogger(__name__)

MODPROBE_TIMEOUT = 60.0  # one modprobe call (up to 200 aliases); a driver whose probe hangs must not hang the boot

# Not tied to a device, so coldplug never loads them: overlay2 for both Dockers, the state fs, and
# what the user Docker's bridge network and NAT need.
BASE_MODULES = ("overlay", "ext4", "bridge", "br_netfilter", "veth", "nf_nat", "nf_conntrack",
                "iptable_nat", "iptable_filter", "xt_MASQUERADE", "xt_conntrack", "xt_addrtype")


def modaliases(sysfs: str = "/sys") -> list[str]:
    """Every device's modalias: what modprobe needs to load its driver before udev runs.

    Read where udev's coldplug looks, each bus's and class's device list (input devices are on no bus;
    the CPU's alias is on the cpu root device), not by walking all of /sys/devices.
    """
    found = set()
    for path in [*glob.glob(f"{sysfs}/bus/*/devices/*/modalias"), *glob.glob(f"{sysfs}/class/*/*/modalias"),
                 f"{sysfs}/devices/system/cpu/modalias"]:
        try:
            with open(path) as f:
                alias = f.read().strip()
        except OSError:
            continue
        if alias:
            found.add(alias)
    return sorted(found)


def config_modules(doc: dict) -> list[list[str]]:
    """`rancher.modules` as modprobe argument lists: each entry is `name [param=value ...]`."""
    mods = ((doc or {}).get("rancher") or {}).get("modules") or []
    if isinstance(mods, str):
        mods = [mods]
    return [shlex.split(str(m)) for m in mods if str(m).strip()]


def _modprobe(args: list[str]) -> str | None:
    """None when modprobe succeeded, else why not (bounded by MODPROBE_TIMEOUT)."""
    names = [a for a in args if not a.startswith("-")]
    what = f"modprobe {names[0]}" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "") if names else "modprobe"
    try:
        r = run(["modprobe", *args], what, MODPROBE_TIMEOUT, ok=None)
    except CommandNotFound:
        return "modprobe not found"
    except CommandTimeout as e:   # coldplug does not report its failures: a hang is said here
        log.warning("%s; the boot goes on", e)
        return str(e).removeprefix(f"{what}: ")
    except CommandError as e:
        return str(e).removeprefix(f"{what}: ")
    return (r.stderr.strip() or f"status {r.returncode}") if r.returncode else None


def coldplug(rounds: int = 4) -> int:
    """Load drivers for present devices; bus drivers (virtio_pci...) reveal new devices, so repeat."""
    seen: set[str] = set()
    for _ in range(rounds):
        new = [a for a in modaliases() if a not in seen]
        if not new:
            break
        seen.update(new)
        for i in range(0, len(new), 200):
            _modprobe(["-q", "-a", "-b", *new[i:i + 200]])  # aliases without a driver are normal
    return len(seen)


def load(doc: dict) -> None:
    """Load drivers for present devices, then the config's modules; failures are logged, never fatal."""
    coldplug()
    _modprobe(["-q", "-a", "-b", *BASE_MODULES])  # built-in ones are simply there
    for args in config_modules(doc):
        err = _modprobe(args)
        if err:
            log.error("module %s: %s", args[0], err)
        else:
            log.info("module %s loaded", args[0])
