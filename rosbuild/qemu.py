"""A QEMU virtual machine runner for `build.py run`, the e2e tests and bench/.

The serial console is written to a log file (and, with `interactive`, shared
with the terminal); tests read it with `wait_for` and type at it with
`send_serial`. A QMP monitor on a unix socket gives ACPI power-down.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from rosbuild.errors import VmError
from rosbuild import steps

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
OVMF = Path("/usr/share/ovmf/OVMF.fd")
_ACCEL_CACHE: dict[str, str] = {}


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _kvm_runs_guest_code(timeout: float, kernel: Optional[Path] = None) -> bool:
    """Boot a Linux kernel under KVM for a moment and check that it printed its banner.

    SeaBIOS alone is not enough: on some hosts it runs under KVM while a kernel hangs at once.
    Without a kernel to try (nothing built yet) the answer is no.
    """
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
    except OSError:
        return False
    if kernel is None or not Path(kernel).is_file():
        return False
    with tempfile.TemporaryDirectory(prefix="ros-kvm-probe-") as tmp:
        serial = Path(tmp) / "serial.log"
        cmd = [QEMU, "-accel", "kvm", "-machine", "pc", "-display", "none", "-nodefaults",
               "-m", "128", "-no-reboot", "-serial", f"file:{serial}", "-kernel", str(kernel),
               "-append", "console=ttyS0 panic=-1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        ok = False
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                text = serial.read_text(errors="replace") if serial.exists() else ""
                if "Linux version" in text:
                    ok = True
                    break
                time.sleep(0.1)
        finally:
            proc.kill()
            proc.wait()
    return ok


def probe_accel(timeout: float = 5.0, cache_dir: Optional[Path] = None, kernel: Optional[Path] = None) -> str:
    """'kvm' if KVM boots a kernel (`kernel`, else the built one) within `timeout` s, else 'tcg'; cached per host boot.

    ROS_QEMU_ACCEL=kvm|tcg overrides the probe.
    """
    forced = os.environ.get("ROS_QEMU_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    key = _boot_id()
    if key in _ACCEL_CACHE:
        return _ACCEL_CACHE[key]
    cache_file = (cache_dir / "qemu-accel.json") if cache_dir else None
    if cache_file and cache_file.exists():
        try:
            data = json.loads(cache_file.read_text())
            if data.get("boot_id") == key and data.get("accel") in ("kvm", "tcg"):
                _ACCEL_CACHE[key] = data["accel"]
                return data["accel"]
        except (OSError, ValueError):
            pass
    accel = "kvm" if _kvm_runs_guest_code(timeout, kernel or steps.DIST / "vmlinuz") else "tcg"
    log.info("qemu accelerator: %s", accel)
    _ACCEL_CACHE[key] = accel
    if cache_file:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps({"boot_id": key, "accel": accel}))
        except OSError:
            pass
    return accel


def free_port() -> int:
    """A TCP port free on the host's loopback right now (for a forwarded guest port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ssh_banner(port: int, wait: float = 10.0) -> bool:
    """Whether the forwarded port answers with an SSH banner (sshd listens and the guest's link is up).

    Waits up to `wait` s for the banner on one connection: each connection costs the guest an sshd
    child, and giving up early and reconnecting piles them up in a busy TCG guest, delaying the banner.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(wait)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def wait_ssh_banner(port: int, deadline: float, stop: threading.Event | None = None) -> float | None:
    """time.monotonic() when the forwarded port first answers with an SSH banner; None at the deadline
    (a monotonic time) or once `stop` is set. A probe can block for seconds: run it beside other waits."""
    stop = stop or threading.Event()
    while time.monotonic() < deadline and not stop.is_set():
        if ssh_banner(port):
            return time.monotonic()
        stop.wait(0.5)
    return None


def _disk_format(path: Path) -> str:
    return "qcow2" if path.suffix == ".qcow2" else "raw"


def create_disk(path: Path, size: str = "4G") -> Path:
    """Create a qcow2 (by .qcow2 suffix) or sparse raw disk image if it does not exist yet."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["qemu-img", "create", "-q", "-f", _disk_format(path), str(path), size],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise VmError(f"qemu-img create {path} failed: {res.stderr.strip()}")
    return path


@dataclass
class VM:
    """One QEMU machine. Boot with kernel+initrd(+append) or from an ISO (`iso`)."""

    kernel: Optional[Path] = None
    initrd: Optional[Path] = None
    iso: Optional[Path] = None
    append: str = ""
    disks: list[Path] = field(default_factory=list)
    memory: int = 1024
    cpus: int = 1
    ssh_port: Optional[int] = None
    hostfwd: list[str] = field(default_factory=list)   # e.g. "tcp:127.0.0.1:8080-:80"
    nic_model: str = "virtio-net-pci"
    disk_interface: str = "virtio"
    uefi: bool = False
    serial_log: Optional[Path] = None
    interactive: bool = False          # serial + monitor on this terminal (build.py run)
    accel: Optional[str] = None        # None: probe
    extra_args: list[str] = field(default_factory=list)
    workdir: Optional[Path] = None

    def __post_init__(self) -> None:
        self._proc: Optional[subprocess.Popen] = None
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self._serial_sock: Optional[socket.socket] = None
        self._drain: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    # ---- command line -------------------------------------------------
    def _paths(self) -> Path:
        if self._tmp is None:   # sockets live in a short private dir (unix path limit)
            self._tmp = tempfile.TemporaryDirectory(prefix="ros-vm-")
        if self.workdir is None:
            self.workdir = Path(self._tmp.name)
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.serial_log is None:
            self.serial_log = self.workdir / "serial.log"
        return self.workdir

    @property
    def qmp_path(self) -> Path:
        return Path(self._tmp.name) / "qmp.sock"

    @property
    def serial_path(self) -> Path:
        return Path(self._tmp.name) / "serial.sock"

    def command(self) -> list[str]:
        """The qemu command line for this machine."""
        self._paths()
        accel = self.accel or probe_accel()
        cmd = [QEMU, "-accel", accel, "-machine", "pc", "-m", str(self.memory),
               "-smp", str(self.cpus), "-display", "none", "-vga", "std"]
        if accel == "kvm":
            cmd += ["-cpu", "host"]
        if self.uefi:
            cmd += ["-bios", str(OVMF)]
        if self.interactive:
            cmd += ["-chardev", f"stdio,id=ser0,mux=on,signal=off,logfile={self.serial_log}",
                    "-serial", "chardev:ser0", "-mon", "chardev=ser0,mode=readline"]
        else:
            cmd += ["-chardev",
                    f"socket,id=ser0,path={self.serial_path},server=on,wait=off,logfile={self.serial_log}",
                    "-serial", "chardev:ser0", "-monitor", "none"]
        cmd += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if self.kernel:
            cmd += ["-kernel", str(self.kernel)]
            if self.initrd:
                cmd += ["-initrd", str(self.initrd)]
            if self.append:
                cmd += ["-append", self.append]
        if self.iso:
            cmd += ["-drive", f"file={self.iso},media=cdrom,readonly=on,if=ide,index=2"]
            if not self.kernel:
                cmd += ["-boot", "d"]
        for disk in self.disks:
            disk = Path(disk)
            cmd += ["-drive", f"file={disk},if={self.disk_interface},format={_disk_format(disk)}"]
        fwds = list(self.hostfwd)
        if self.ssh_port:
            fwds.insert(0, f"tcp:127.0.0.1:{self.ssh_port}-:22")
        netdev = "user,id=net0" + "".join(f",hostfwd={f}" for f in fwds)
        cmd += ["-netdev", netdev, "-device", f"{self.nic_model},netdev=net0"]
        cmd += ["-device", "virtio-rng-pci"]   # entropy early in boot (getrandom would block)
        cmd += list(self.extra_args)
        return cmd

    # ---- lifecycle ----------------------------------------------------
    def start(self) -> "VM":
        if self._proc is not None:
            raise VmError("VM already started")
        cmd = self.command()
        Path(self.serial_log).write_bytes(b"")
        log.info("starting: %s", " ".join(cmd))
        if self.interactive:
            self._proc = subprocess.Popen(cmd)
        else:
            self._stderr = open(Path(self.workdir) / "qemu.stderr", "wb")
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._stderr,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def serial_text(self) -> str:
        """Everything the guest wrote to its serial console so far."""
        try:
            return Path(self.serial_log).read_bytes().decode("utf-8", errors="replace")
        except (OSError, TypeError):
            return ""

    def _qemu_stderr(self) -> str:
        try:
            return (Path(self.workdir) / "qemu.stderr").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _tail(self, lines: int = 40) -> str:
        return "\n".join(self.serial_text().splitlines()[-lines:])

    def wait_for(self, pattern: str, timeout: float = 120.0, start: int = 0) -> re.Match:
        """Wait until the serial log (from offset `start`) matches `pattern`; raise VmError with the tail."""
        rx = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.serial_text(), start)
            if m:
                return m
            if not self.running:
                raise VmError(f"qemu exited (rc={self._proc.returncode if self._proc else None}) before "
                                f"{pattern!r} appeared on the serial console; qemu said: {self._qemu_stderr()}\n"
                                f"--- serial tail ---\n{self._tail()}")
            if time.monotonic() > deadline:
                raise VmError(f"timed out after {timeout:.0f}s waiting for {pattern!r} on the serial "
                                f"console\n--- serial tail ---\n{self._tail()}")
            time.sleep(0.2)

    def _connect_serial(self) -> socket.socket:
        with self._lock:
            if self._serial_sock is None:
                if self.interactive:
                    raise VmError("send_serial needs a non-interactive VM (serial on a socket)")
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(str(self.serial_path))
                self._serial_sock = s
                self._drain = threading.Thread(target=self._drain_serial, daemon=True)
                self._drain.start()
            return self._serial_sock

    def _drain_serial(self) -> None:
        """Read and discard what qemu sends to the socket client (the logfile keeps it)."""
        sock = self._serial_sock
        try:
            while sock and sock.recv(65536):
                pass
        except OSError:
            pass

    def send_serial(self, text: str) -> None:
        """Type `text` at the serial console."""
        self._connect_serial().sendall(text.encode())

    def qmp(self, command: str, **arguments) -> dict:
        """Run one QMP command and return its reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.qmp_path))
            f = s.makefile("rwb")
            json.loads(f.readline())  # greeting
            for cmd in ({"execute": "qmp_capabilities"},
                        {"execute": command, **({"arguments": arguments} if arguments else {})}):
                f.write(json.dumps(cmd).encode() + b"\n")
                f.flush()
                while True:
                    reply = json.loads(f.readline())
                    if "return" in reply or "error" in reply:
                        break
            if "error" in reply:
                raise VmError(f"QMP {command} failed: {reply['error']}")
            return reply

    def powerdown(self) -> None:
        """Press the ACPI power button."""
        self.qmp("system_powerdown")

    def wait(self) -> int:
        """Wait for qemu to exit however long it takes (interactive runs)."""
        if self._proc is None:
            raise VmError("VM was not started")
        return self._proc.wait()

    def wait_exit(self, timeout: float = 60.0) -> int:
        if self._proc is None:
            raise VmError("VM was not started")
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise VmError(f"qemu still running {timeout:.0f}s after the request to stop\n"
                            f"--- serial tail ---\n{self._tail()}") from None

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._serial_sock is not None:
            self._serial_sock.close()
            self._serial_sock = None
        if getattr(self, "_stderr", None):
            self._stderr.close()

    def cleanup(self) -> None:
        """Kill qemu and remove the private work directory (keeps a caller-chosen serial_log)."""
        self.kill()
        if self._tmp is not None:
            if self.serial_log and Path(self.serial_log).is_relative_to(self._tmp.name) \
                    and Path(self.serial_log).exists():
                shutil.copy(self.serial_log, Path(tempfile.gettempdir()) / "ros-vm-last-serial.log")
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "VM":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()
