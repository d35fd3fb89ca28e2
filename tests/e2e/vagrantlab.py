"""A private libvirt + Vagrant lab inside a network namespace of the test's (no systemd, QEMU TCG).

Every command runs as `ip netns exec NS unshare -m ...`: the libvirt bridges, dnsmasq and the guests'
addresses exist only in that namespace, and libvirt's fixed directories (/etc/libvirt, /run/libvirt,
/var/lib/libvirt, ...) are private directories bound over them, so this machine's libvirt is untouched.
/dev/kvm is masked with /dev/null: KVM hangs QEMU here, and libvirt then offers only TCG ("qemu").
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

# The system directory -> its private copy's name under the lab's root.
SYSTEM_DIRS = {"/etc/libvirt": "etc", "/run/libvirt": "run", "/var/lib/libvirt": "lib",
               "/var/log/libvirt": "log", "/var/cache/libvirt": "cache"}
LIBVIRTD_CONF = ('unix_sock_group = "root"\nunix_sock_rw_perms = "0770"\nauth_unix_rw = "none"\n'
                 'auth_unix_ro = "none"\nlog_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n')
VIRTLOGD_CONF = 'log_outputs = "3:file:/var/log/libvirt/virtlogd.log"\n'
QEMU_CONF = ('user = "root"\ngroup = "root"\ndynamic_ownership = 0\nremember_owner = 0\n'
             'security_driver = "none"\n')


class LabError(Exception):
    """A lab command failed; the message carries its output's tail."""


class VagrantLab:
    """libvirtd + virtlogd in network namespace `ns`, state under `root`, Vagrant's home under it too."""

    def __init__(self, root: Path, ns: str = "ros-vagrant") -> None:
        self.root, self.ns = root, ns
        self.state = root / "libvirt"
        self.vagrant_home = root / "vagrant.d"
        self._made_run_dir = False

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Vagrant's environment: a private home, no checks against the internet."""
        env = {k: v for k, v in os.environ.items() if k != "VAGRANT_LOG" or v}   # an empty VAGRANT_LOG breaks it
        env.update(VAGRANT_HOME=str(self.vagrant_home), VAGRANT_CHECKPOINT_DISABLE="1",
                   VAGRANT_BOX_UPDATE_CHECK_DISABLE="1", VAGRANT_DEFAULT_PROVIDER="libvirt",
                   LIBVIRT_DEFAULT_URI="qemu:///system", **(extra or {}))
        return env

    def wrap(self, cmd: list[str]) -> list[str]:
        """`cmd` inside the namespace, with the private directories bound and /dev/kvm masked."""
        binds = "; ".join(f"mount --bind {shlex.quote(str(self.state / d))} {shlex.quote(s)}"
                          for s, d in SYSTEM_DIRS.items())
        script = f"set -e; {binds}; if [ -e /dev/kvm ]; then mount --bind /dev/null /dev/kvm; fi; exec \"$@\""
        return ["ip", "netns", "exec", self.ns, "unshare", "-m", "--propagation", "private",
                "sh", "-c", script, "lab", *cmd]

    def run(self, cmd: list[str], timeout: float, cwd: Path | None = None, check: bool = True,
            env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.CompletedProcess:
        """Run `cmd` in the lab (in `cwd`, else the lab's root: never a directory with a Vagrantfile of
        its own); its output is returned (and appended to `log`); LabError when it fails."""
        try:
            p = subprocess.run(self.wrap(cmd), cwd=cwd or self.root, env=self.env(env), capture_output=True, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise LabError(f"{' '.join(cmd)}: no answer within {timeout:.0f} s; output: "
                           f"{(e.stdout or b'')[-2000:]!r}") from None
        if log is not None:
            with open(log, "a") as f:
                f.write(f"$ {' '.join(cmd)}\n{p.stdout}{p.stderr}\n")
        if check and p.returncode != 0:
            raise LabError(f"{' '.join(cmd)} exited {p.returncode}: {(p.stdout + p.stderr)[-3000:]}")
        return p

    def virsh(self, *args: str, check: bool = True) -> str:
        return self.run(["virsh", "-c", "qemu:///system", *args], timeout=120, check=check).stdout

    def up(self) -> None:
        """The namespace, the private libvirt directories and configuration, the two daemons, a pool."""
        self.down()
        for sub in SYSTEM_DIRS.values():
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        shutil.copytree("/etc/libvirt", self.state / "etc", dirs_exist_ok=True, symlinks=True)
        for net in ("qemu/networks/autostart/default.xml", "qemu/networks/default.xml"):
            (self.state / "etc" / net).unlink(missing_ok=True)   # no 'default' network (192.168.122.0/24)
        (self.state / "etc/libvirtd.conf").write_text(LIBVIRTD_CONF)
        (self.state / "etc/virtlogd.conf").write_text(VIRTLOGD_CONF)
        (self.state / "etc/qemu.conf").write_text(QEMU_CONF)
        for sub in ("lib/images", "lib/qemu/nvram", "lib/boot", "lib/dnsmasq", "lib/network", "log/qemu",
                    "cache/qemu"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        for system in SYSTEM_DIRS:
            if not Path(system).exists():
                Path(system).mkdir(parents=True)
                self._made_run_dir = self._made_run_dir or system == "/run/libvirt"
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=30)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True, timeout=30)
        self.run(["virtlogd", "-d", "-p", str(self.state / "virtlogd.pid")], timeout=60)
        self.run(["libvirtd", "-d", "-p", str(self.state / "libvirtd.pid")], timeout=60)
        deadline = time.monotonic() + 60
        while self.run(["virsh", "-c", "qemu:///system", "version"], timeout=30, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise LabError(f"libvirtd did not answer within 60 s: {self.libvirtd_log()[-2000:]}")
            time.sleep(1)
        self.virsh("pool-define-as", "default", "dir", "--target", "/var/lib/libvirt/images")
        self.virsh("pool-start", "default")

    def libvirtd_log(self) -> str:
        log = self.state / "log/libvirtd.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def domains(self) -> list[str]:
        return self.virsh("list", "--all", "--name").split()

    def networks(self) -> list[str]:
        return self.virsh("net-list", "--all", "--name").split()

    def volumes(self) -> list[str]:
        lines = self.virsh("vol-list", "default").splitlines()[2:]
        return [line.split()[0] for line in lines if line.strip()]

    def _namespace_exists(self) -> bool:
        return self.ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                         timeout=30).stdout.split()

    def down(self) -> None:
        """Everything the lab made, gone: domains, networks, daemons, the namespace, the private state."""
        if self._namespace_exists():
            if (self.state / "run/libvirt-sock").exists():
                for name in self.virsh("list", "--all", "--name", check=False).split():
                    self.virsh("destroy", name, check=False)
                    self.virsh("undefine", "--nvram", name, check=False)
                for name in self.virsh("net-list", "--all", "--name", check=False).split():
                    self.virsh("net-destroy", name, check=False)
                    self.virsh("net-undefine", name, check=False)
            for daemon in ("libvirtd", "virtlogd"):
                pidfile = self.state / f"{daemon}.pid"
                if pidfile.exists():
                    try:
                        os.kill(int(pidfile.read_text()), signal.SIGTERM)
                    except (ProcessLookupError, ValueError):
                        pass
            time.sleep(2)
            for sig in (signal.SIGTERM, signal.SIGKILL):   # dnsmasq, qemu: whatever still runs in the namespace
                pids = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True,
                                      timeout=30).stdout.split()
                for pid in pids:
                    try:
                        os.kill(int(pid), sig)
                    except ProcessLookupError:
                        pass
                if pids:
                    time.sleep(1)
            subprocess.run(["ip", "netns", "del", self.ns], check=True, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._made_run_dir:
            try:
                os.rmdir("/run/libvirt")
            except OSError:
                pass
