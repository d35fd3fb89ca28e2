"""One RancherOS VM driven over SSH, shared by the service and user-Docker e2e modules (one boot, many checks).

The machine boots vmlinuz+initrd with the live entry's command line minus its password; our SSH key
comes through the `cmdline` cloud-init datasource. `cold_restart` starts a new QEMU process on the same
state disk (e.g. with another command line or a second NIC); `reboot` is `sudo ros os reboot` inside.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from rosbuild.errors import VmError
from rosbuild import oci
from rosbuild.qemu import VM, create_disk, free_port
from sshvm import Ssh, SshKey, cloud_config_cmdline

BOOT = 1200  # seconds a TCG boot may take before a test gives up (not a performance assertion)
SERVICES_UP = r"rancheros: services up"


def base_cmdline(artifacts, password: Optional[str] = None) -> str:
    """The live entry's command line with `rancher.password` removed (or set to `password`)."""
    cmd = re.sub(r"\s*rancher\.password=\S+", "", artifacts.live_cmdline).strip()
    return f"{cmd} rancher.password={password}" if password else cmd


@dataclass
class Machine:
    """A VM with a state disk, a key, and host ports forwarded to the guest's 22 and `guest_ports`."""

    artifacts: object
    workdir: Path
    guest_ports: tuple[int, ...] = (8080, 2376, 2200)   # 2200: the SSH port of the live-ops trial
    memory: int = 2048
    key_on_cmdline: bool = True   # False: the test's datasource must deliver the key
    boot_timeout: float = BOOT
    medium: bool = False          # True: the small initrd finds the image on the ISO (a CD), as installed
    state_disk: bool = True       # False: no disk at all (memory mode)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.key = SshKey.generate(self.workdir)
        self.disk = create_disk(self.workdir / "state.img", "6G") if self.state_disk else None
        self.ssh_port = free_port()
        self.ports = {p: free_port() for p in self.guest_ports}
        self.vm: Optional[VM] = None
        self.boots = 0
        self.ssh = Ssh(self.ssh_port, self.key)

    def url(self, guest_port: int) -> str:
        return f"127.0.0.1:{self.ports[guest_port]}"

    def start(self, password: Optional[str] = None, extra_append: str = "", extra_args: list[str] = (),
              extra_disks: list[Path] = ()) -> VM:
        """Boot (a new QEMU process) and wait until SSH with our key answers."""
        self.stop()
        user_data = cloud_config_cmdline({"ssh_authorized_keys": [self.key.public]}) if self.key_on_cmdline else ""
        append = " ".join(filter(None, [base_cmdline(self.artifacts, password), user_data, extra_append]))
        self.boots += 1
        boot = ({"initrd": self.artifacts.initrd_small, "iso": self.artifacts.iso} if self.medium
                else {"initrd": self.artifacts.initrd})
        self.vm = VM(kernel=self.artifacts.vmlinuz, append=append, **boot,
                     disks=[d for d in (self.disk, *extra_disks) if d], memory=self.memory, ssh_port=self.ssh_port,
                     hostfwd=[f"tcp:127.0.0.1:{h}-:{g}" for g, h in self.ports.items()],
                     extra_args=list(extra_args), serial_log=self.workdir / f"serial-{self.boots}.log")
        self.vm.start()
        self.vm.wait_for(SERVICES_UP, timeout=self.boot_timeout)
        self.ssh.wait(timeout=600, vm=self.vm)
        return self.vm

    def reboot(self) -> None:
        """`sudo ros os reboot` in the guest; back when services are up and SSH answers again."""
        mark = len(self.vm.serial_text())
        self.ssh.run("sudo ros os reboot", check=False, timeout=60)
        self.vm.wait_for(r"rancheros: rebooting", timeout=300, start=mark)
        self.vm.wait_for(SERVICES_UP, timeout=BOOT, start=mark)
        self.ssh.wait(timeout=600, vm=self.vm)

    def stop(self) -> None:
        if self.vm is not None:
            self.vm.cleanup()
            self.vm = None


_SHARED: dict[str, Machine] = {}


def shared_machine(artifacts, tmp_path_factory) -> Machine:
    """The session's one service/user-Docker machine, booted on first use."""
    if "main" not in _SHARED:
        m = Machine(artifacts, tmp_path_factory.mktemp("rancher-vm"))
        _SHARED["main"] = m
        m.start()
    elif _SHARED["main"].vm is None or not _SHARED["main"].vm.running:
        _SHARED["main"].start()
    return _SHARED["main"]


def busybox_archive(workdir: Path, tag: str = "e2e/busybox:1") -> Path:
    """A `docker load` archive of one layer: Debian's static /bin/busybox, its applet links, a web page."""
    root = workdir / "bb-root"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "www").mkdir(exist_ok=True)
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    for applet in ("sh", "echo", "cat", "httpd", "sleep", "hostname"):
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (root / "www" / "index.html").write_text("hello from the user docker\n")
    layer_path = workdir / "bb-layer.tar"
    with open(layer_path, "wb") as f:
        oci.layer_tar(root, f, mtime=1700000000)
    image = oci.Image(tag=tag, layers=[oci.Layer.from_file(layer_path)], cmd=["/bin/sh"],
                      env=["PATH=/bin"])
    out = oci.write_archive([image], workdir / "busybox-image.tar", mtime=1700000000)
    with tarfile.open(out) as t:   # a sanity check of our own input, not of the system under test
        assert "manifest.json" in t.getnames()
    return out


def wait_until(predicate, timeout: float, what: str, interval: float = 3.0):
    """Poll `predicate` until it returns a truthy value; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not true after {timeout:.0f}s (last: {last!r})")


class SerialShell:
    """Commands typed at the serial console's login (the live image's password), as root through sudo.

    The serial console is the interface PID 1 itself guarantees; SSH belongs to the console service.
    """

    def __init__(self, vm: VM):
        self.vm = vm

    def login(self, user: str = "rancher", password: str = "rancher") -> None:
        """Log in, or find the shell still logged in. Enter asks again for a prompt: late console lines
        from init may have been written after the one on screen."""
        deadline = time.monotonic() + 600
        while True:
            mark = len(self.vm.serial_text())
            self.vm.send_serial("\n")
            try:
                prompt = self.vm.wait_for(r"(login: *$)|([$#] *$)", timeout=20, start=mark)
            except VmError:
                if time.monotonic() > deadline or not self.vm.running:
                    raise
                continue
            if prompt.group(2):
                return
            self.vm.send_serial(user + "\n")
            self.vm.wait_for(r"[Pp]assword: *$", timeout=120, start=prompt.end())
            self.vm.send_serial(password + "\n")

    def run(self, cmd: str, timeout: float = 300, check: bool = True) -> str:
        """Output of `sudo sh -c CMD` (kept in a file: bash's prompt escapes and sudo's pty stay out of it)."""
        tag = uuid.uuid4().hex[:8]
        mark = len(self.vm.serial_text())
        # `""` splits the markers so the echoed command line never matches them.
        self.vm.send_serial(f"sudo sh -c {shlex.quote(cmd)} >$HOME/.e2e.out 2>&1; echo {tag}\"\"=$?; "
                            f"cat $HOME/.e2e.out; echo {tag}\"\"-end\n")
        status = self.vm.wait_for(rf"{tag}=(\d+)", timeout=timeout, start=mark)
        end = self.vm.wait_for(rf"{tag}-end", timeout=60, start=status.end())
        out = self.vm.serial_text()[status.end():end.start()].replace("\r", "").strip()
        if check and status.group(1) != "0":
            pytest.fail(f"`{cmd}` exited {status.group(1)}:\n{out}")
        return out
