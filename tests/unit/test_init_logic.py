"""Pure logic of init: blank-device verdicts, state settings from the cmdline, unmount order, backoff."""

from __future__ import annotations

import signal

import pytest

from rancheros.config import ConfigPaths, load
from rancheros.init.backoff import Backoff
from rancheros.system.blockdev import Probe, blank_verdict, find_device, parse_export
from rancheros.init.modules import modaliases
from rancheros.init.shutdown import SIGNAL_ACTIONS, Action, unmount_order
from rancheros.system.mountinfo import MountEntry
from rancheros.system.mountinfo import parse as parse_mountinfo
from rancheros.init.state import StateSettings


@pytest.mark.parametrize("probe,blank,why", [
    (Probe("/dev/vda"), True, "blank"),
    (Probe("/dev/vda", {"TYPE": "ext4"}), False, "ext4 file system without a label"),
    (Probe("/dev/vda", {"TYPE": "xfs", "LABEL": "data"}), False, "xfs file system labelled 'data'"),
    (Probe("/dev/vda", {"PTTYPE": "gpt"}), False, "gpt partition table"),
    (Probe("/dev/vda", mbr=True), False, "dos partition table"),
    (Probe("/dev/vda", gpt=True), False, "gpt partition table"),
    (Probe("/dev/vda", nonzero_head=True), False, "holds data"),
    (Probe("/dev/vda", nonzero_tail=True), False, "holds data"),
])
def test_blank_verdict(probe, blank, why):
    got_blank, got_why = blank_verdict(probe)
    assert got_blank is blank
    assert why in got_why


def test_parse_export_and_find_device():
    text = ("DEVNAME=/dev/vda\nLABEL=RANCHER_STATE\nUUID=1234\nTYPE=ext4\n\n"
            "DEVNAME=/dev/vdb\nUUID=abcd\nTYPE=ext4\n")
    records = parse_export(text)
    assert [r["DEVNAME"] for r in records] == ["/dev/vda", "/dev/vdb"]
    assert find_device("LABEL=RANCHER_STATE", records)["DEVNAME"] == "/dev/vda"
    assert find_device("UUID=abcd", records)["DEVNAME"] == "/dev/vdb"
    assert find_device("/dev/vdb", records)["DEVNAME"] == "/dev/vdb"
    assert find_device("LABEL=OTHER", records) is None


def test_state_settings_from_kernel_cmdline(tmp_path):
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("console=ttyS0 rancher.state.dev=LABEL=MYSTATE "
                       "rancher.state.autoformat=[/dev/sda,/dev/vda] rancher.state.required=true quiet\n")
    doc = load(ConfigPaths(config_dir=tmp_path / "conf", image_config=tmp_path / "none.yml", cmdline=cmdline))
    s = StateSettings.from_config(doc)
    assert s.dev == "LABEL=MYSTATE"
    assert s.label == "MYSTATE"
    assert s.autoformat == ("/dev/sda", "/dev/vda")
    assert s.required is True


def test_state_settings_defaults_and_path_spec():
    assert StateSettings.from_config({}).dev == "LABEL=RANCHER_STATE"
    s = StateSettings.from_config({"rancher": {"state": {"dev": "/dev/vdb", "autoformat": "/dev/vdb"}}})
    assert s.label == "RANCHER_STATE" and s.autoformat == ("/dev/vdb",)


MOUNTINFO = """\
22 1 0:20 / / rw,relatime - tmpfs rootfs rw
23 22 0:5 / /proc rw - proc proc rw
24 22 0:21 / /sys rw - sysfs sysfs rw
25 24 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
30 22 254:0 / /mnt/state rw - ext4 /dev/vda rw
31 22 254:0 /home /home rw - ext4 /dev/vda rw
32 22 254:0 /var/lib/system-docker /var/lib/system-docker rw - ext4 /dev/vda rw
40 32 0:50 / /var/lib/system-docker/overlay2/x/merged rw - overlay overlay rw
41 22 0:51 / /with\\040space rw - tmpfs tmpfs rw
"""


def test_unmount_order_is_topmost_first_and_skips_kernel_fs():
    order = [m.target for m in unmount_order(parse_mountinfo(MOUNTINFO))]
    assert order == ["/with space", "/var/lib/system-docker/overlay2/x/merged", "/var/lib/system-docker",
                     "/home", "/mnt/state"]
    assert MountEntry("/mnt/state", "ext4", "/dev/vda") in parse_mountinfo(MOUNTINFO)


def test_signal_actions():
    assert SIGNAL_ACTIONS[signal.SIGTERM] is Action.POWEROFF
    assert SIGNAL_ACTIONS[signal.SIGPWR] is Action.POWEROFF
    assert SIGNAL_ACTIONS[signal.SIGINT] is Action.REBOOT
    assert SIGNAL_ACTIONS[signal.SIGUSR1] is Action.REBOOT
    assert SIGNAL_ACTIONS[signal.SIGUSR2] is Action.HALT
    assert Action.POWEROFF.words == "powering off" and Action.REBOOT.words == "rebooting"


def test_backoff_grows_caps_and_resets_after_stable_run():
    b = Backoff(initial=1, factor=2, maximum=8, stable_after=60)
    assert [b.next_delay(ran_for=1) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert b.next_delay(ran_for=61) == 1
    assert b.next_delay(ran_for=0.5) == 2


def test_early_mount_plan_skips_what_is_mounted_and_keeps_order():
    from rancheros.init.mounts import EARLY, plan
    assert [m.target for m in plan(set())] == [m.target for m in EARLY]
    todo = [m.target for m in plan({"/proc", "/sys", "/dev"})]
    assert todo[0] == "/dev/pts" and "/proc" not in todo and todo.index("/run") < todo.index("/sys/fs/cgroup")


def test_config_modules_and_hostname_choice():
    from rancheros.manager.hostname import name_from_config
    from rancheros.init.modules import config_modules
    assert config_modules({"rancher": {"modules": ["dummy numdummies=2", "  ", "bonding"]}}) == [
        ["dummy", "numdummies=2"], ["bonding"]]
    assert config_modules({}) == []
    assert name_from_config({"hostname": "top", "rancher": {"hostname": "low"}}) == "top"
    assert name_from_config({"rancher": {"hostname": "low"}}) == "low"
    assert name_from_config({}) is None


def test_modaliases_come_from_bus_and_class_device_lists_and_the_cpu(tmp_path):
    """As sysfs lays them out: bus and class device lists are links into /sys/devices; the CPU's is on its root."""
    def device(path: str, alias: str | None) -> str:
        d = tmp_path / "devices" / path
        d.mkdir(parents=True)
        if alias is not None:
            (d / "modalias").write_text(alias + "\n")
        return str(d)

    for bus, name, alias in [("pci", "0000:00:04.0", "pci:v00001AF4d00001001"),
                             ("virtio", "virtio1", "virtio:d00000002v00001AF4"),
                             ("platform", "serial8250", "platform:serial8250"),
                             ("pci", "0000:00:05.0", "pci:v00001AF4d00001001"),   # the same driver twice
                             ("acpi", "LNXPWRBN:00", "")]:                        # an empty modalias
        (tmp_path / "bus" / bus / "devices").mkdir(parents=True, exist_ok=True)
        (tmp_path / "bus" / bus / "devices" / name).symlink_to(device(f"{bus}-root/{name}", alias))
    device("system/cpu", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000")
    (tmp_path / "class" / "input").mkdir(parents=True)                         # input devices: a class, no bus
    power_button = device("LNXPWRBN:00/input/input0", "input:b0019v0000p0001e0000-e0,1,k74")
    (tmp_path / "class" / "input" / "input0").symlink_to(power_button)
    device("unlisted/thing", "seen-by-no-list")
    assert modaliases(str(tmp_path)) == ["cpu:type:x86,ven0000fam0006mod003F:feature:,0000",
                                         "input:b0019v0000p0001e0000-e0,1,k74",
                                         "pci:v00001AF4d00001001", "platform:serial8250",
                                         "virtio:d00000002v00001AF4"]
