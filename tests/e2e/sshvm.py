"""SSH into a test VM as a user would: OpenSSH's client with a throwaway ed25519 key (or a password).

    key = SshKey.generate(tmp_dir)
    ssh = Ssh(port=2222, key=key)
    ssh.wait(timeout=600)
    print(ssh.run("docker ps").stdout)
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=8"]


@dataclass(frozen=True)
class SshKey:
    """A private key file and its public line."""

    path: Path
    public: str

    @classmethod
    def generate(cls, directory: Path, name: str = "id_ed25519") -> "SshKey":
        path = Path(directory) / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"e2e-{name}", "-f", str(path)],
                       check=True, capture_output=True)
        return cls(path, path.with_name(name + ".pub").read_text().strip())


def cloud_config_cmdline(doc: dict) -> str:
    """`rancher.cloud_init.user_data=<base64 #cloud-config>` for the kernel command line (cmdline datasource)."""
    text = "#cloud-config\n" + yaml.safe_dump(doc, default_flow_style=False)
    return "rancher.cloud_init.user_data=" + base64.b64encode(text.encode()).decode()


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


class SshError(AssertionError):
    """A command over SSH failed where the test needed it to succeed."""


@dataclass
class Ssh:
    """`ssh -p PORT user@127.0.0.1 CMD` with a key (BatchMode) or a password (SSH_ASKPASS)."""

    port: int
    key: Optional[SshKey] = None
    user: str = "rancher"
    password: Optional[str] = None
    host: str = "127.0.0.1"

    def argv(self, command: str) -> list[str]:
        argv = ["ssh", "-p", str(self.port), *OPTS]
        if self.password is None:
            argv += ["-o", "BatchMode=yes", "-o", "PasswordAuthentication=no"]
            if self.key:
                argv += ["-i", str(self.key.path), "-o", "IdentitiesOnly=yes"]
        else:
            argv += ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                     "-o", "NumberOfPasswordPrompts=1"]
        return argv + [f"{self.user}@{self.host}", command]

    def _env(self, workdir: Path) -> dict:
        env = dict(os.environ)
        if self.password is not None:   # OpenSSH >= 8.4 asks SSH_ASKPASS even with a tty-less stdin
            helper = workdir / "askpass.sh"
            helper.write_text(f"#!/bin/sh\necho {shlex.quote(self.password)}\n")
            helper.chmod(0o700)
            env.update(SSH_ASKPASS=str(helper), SSH_ASKPASS_REQUIRE="force", DISPLAY=env.get("DISPLAY", ":0"))
        return env

    def run(self, command: str, check: bool = True, timeout: float = 300, stdin: bytes | None = None,
            workdir: Path | None = None) -> Result:
        """Run `command` in the VM; with check, a non-zero exit fails with the command's output."""
        workdir = Path(workdir or (self.key.path.parent if self.key else "/tmp"))
        done = subprocess.run(self.argv(command), input=stdin if stdin is not None else b"",
                              capture_output=True, timeout=timeout, env=self._env(workdir))
        res = Result(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))
        if check and res.rc != 0:
            raise SshError(f"ssh `{command}` exited {res.rc}\nstdout: {res.stdout[-3000:]}\n"
                           f"stderr: {res.stderr[-3000:]}")
        return res

    def out(self, command: str, **kw) -> str:
        """stdout of a command that must succeed, stripped."""
        return self.run(command, **kw).stdout.strip()

    def wait(self, timeout: float = 600, vm=None) -> None:
        """Until a trivial command answers (the console service is up and takes our key)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if vm is not None and not vm.running:
                raise SshError(f"the VM exited while waiting for SSH; serial tail:\n{vm._tail()}")
            try:
                last = self.run("true", check=False, timeout=60)
                if last.rc == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(3)
        tail = f"\nserial tail:\n{vm._tail(60)}" if vm is not None else ""
        raise SshError(f"no SSH on port {self.port} after {timeout:.0f}s: {last.stderr if last else ''}{tail}")
