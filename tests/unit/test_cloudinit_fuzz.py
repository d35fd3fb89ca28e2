"""Issue 20 items 8-9: property tests for cloud-init user-data parsing and applying (hypothesis, bounded).

Random cloud-config documents (write_files, mounts, runcmd, ssh_authorized_keys... of any type and shape)
and random multipart/gzip user-data go through the local stage against a temporary root: each gives a
result or our one clear error, never another exception, and nothing is written or mounted outside the
root and the state directory (an audit hook watches every open for writing, mkdir, rename, chmod, chown
and unlink while the stage runs; commands and mounts are recorded, never run).

Every failure found is collected (type and place), so one run counts them all; counts are printed
(`pytest -s`). `FUZZ_EXAMPLES=20000 FUZZ_SECONDS=300` runs a long campaign.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rancheros.cloudinit import apply, stage, userdata
from rancheros.config.paths import ConfigPaths
from rancheros.config.schema import validate
from rancheros.errors import RosError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))
SECONDS = float(os.environ.get("FUZZ_SECONDS", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
                suppress_health_check=list(HealthCheck))
LIMIT = 16 << 20  # what any decompression in cloud-init may produce
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {"os.mkdir", "os.rmdir", "os.remove", "os.chmod", "os.chown", "os.truncate", "os.utime",
               "os.mkfifo", "os.mknod"}
PAIR_EVENTS = {"os.rename", "os.symlink", "os.link"}


@dataclass
class Watch:
    """An audit hook (installed once, armed per call) that records writes outside the allowed trees."""

    allowed: tuple[str, ...] = ()
    armed: bool = False
    busy: bool = False
    outside: list[str] = field(default_factory=list)

    def hook(self, event: str, args: tuple) -> None:
        if not self.armed or self.busy:
            return
        self.busy = True
        try:
            for path in self._written(event, args):
                if not self._inside(path):
                    self.outside.append(f"{event} {path!r}")
        except Exception:  # noqa: BLE001 - the hook must never change what it watches
            pass
        finally:
            self.busy = False

    def _written(self, event: str, args: tuple) -> list:
        if event == "subprocess.Popen":
            return [f"<ran {args[1]!r}>"]
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & WRITE_FLAGS)
            return [path] if writes else []
        if event in PATH_EVENTS and args[-1] is None:
            return [args[0]]
        if event in PAIR_EVENTS:
            return [args[1]] + ([args[0]] if event == "os.rename" else [])
        return []

    def _inside(self, path: Any) -> bool:
        if isinstance(path, int):
            return True
        text = os.fsdecode(os.fspath(path))
        if text.startswith("<ran"):
            return False
        if "\0" in text or "/__pycache__/" in text:
            return True
        full = os.path.abspath(text)
        parent = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
        return all(any(p == a or p.startswith(a + os.sep) for a in self.allowed)
                   for p in (parent, os.path.realpath(full)))


WATCH = Watch()
sys.addaudithook(WATCH.hook)


@dataclass
class Sandbox:
    """A root with traps (symlinks out of it, a loop, a file in the way), a state dir, a config dir."""

    base: Path

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def outside(self) -> Path:
        return self.base / "outside"

    def reset(self) -> None:
        for d in ("root", "state", "conf", "outside", "seed"):
            shutil.rmtree(self.base / d, ignore_errors=True)
        (self.root / "etc").mkdir(parents=True)
        self.outside.mkdir()
        (self.base / "seed").mkdir()
        (self.root / "file").write_text("x")
        (self.root / "out-rel").symlink_to("../outside")
        (self.root / "out-abs").symlink_to(self.outside)
        (self.root / "etc" / "up").symlink_to("../..")
        (self.root / "loop").symlink_to("loop")
        WATCH.allowed = tuple(os.path.realpath(self.base / d) for d in ("root", "state", "conf"))

    def paths(self) -> ConfigPaths:
        return ConfigPaths(config_dir=self.base / "conf", image_config=self.base / "none.yml",
                           cmdline=self.base / "cmdline")

    def target(self) -> apply.Target:
        return apply.Target(root=self.root, state_dir=self.base / "state")


class Campaign:
    """Counts inputs, collects each distinct failure (type and place) with its first input."""

    def __init__(self, name: str):
        self.name, self.tried, self.failed, self.t0 = name, 0, 0, time.monotonic()
        self.failures: dict[str, str] = {}

    def step(self) -> bool:
        """True (and counted) while the campaign's time lasts; later examples are skipped uncounted."""
        if time.monotonic() - self.t0 >= SECONDS:
            return False
        self.tried += 1
        return True

    def check(self, fn: Callable[[], Any], example: Any) -> None:
        """Run `fn` armed: our own error is fine, any other exception or a write outside is a failure."""
        WATCH.outside.clear()
        WATCH.armed = True
        found = []
        try:
            fn()
        except RosError:
            pass
        except Exception as e:  # noqa: BLE001 - that is what is being counted
            found.append(f"{type(e).__name__} at {_place(e)}: {str(e)[:120]}")
        finally:
            WATCH.armed = False
        found += [f"outside the root: {w}" for w in WATCH.outside[:1]]
        for sig in found:
            key = " ".join(sig.split(" ")[:4]) if sig.startswith("outside") else sig.split(": ")[0]
            self.failures.setdefault(key, f"{sig} <- {example!r:.300}")
        self.failed += bool(found)

    def report(self) -> None:
        print(f"\nfuzz {self.name}: {self.tried} inputs in {time.monotonic() - self.t0:.1f}s, "
              f"{self.failed} failed, {len(self.failures)} distinct failures")
        for text in self.failures.values():
            print("  ", text)
        assert not self.failures, "\n".join(self.failures.values())


def _place(e: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/rancheros/" in f.filename] or \
        traceback.extract_tb(e.__traceback__)
    f = frames[-1]
    return f"{f.filename.split('/rancheros/')[-1]}:{f.lineno}"


@pytest.fixture
def sandbox(tmp_path_factory, monkeypatch):
    """A fresh sandbox; commands and mounts recorded, not run; cloud-init's log lines muted."""
    box = Sandbox(tmp_path_factory.mktemp("cifuzz"))

    def fake_run(argv, name, cwd):
        if argv and argv[0] == "mount":
            real = os.path.realpath(argv[-1])
            if not any(real == a or real.startswith(a + os.sep) for a in WATCH.allowed[:1]):
                WATCH.outside.append(f"mount {argv[-1]!r}")
        return True

    monkeypatch.setattr(apply, "_run", fake_run)
    monkeypatch.setattr(stage, "wait_for_network", lambda *a, **k: True)
    validate({})  # jsonschema is imported lazily: not while the hook is armed
    logger = logging.getLogger("rancheros")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield box
    logger.setLevel(level)


# ---- strategies -------------------------------------------------------------------------------------

def pick(values: list) -> st.SearchStrategy:
    """sampled_from without the values in the strategy's repr (some are kilobytes long)."""
    return st.sampled_from(range(len(values))).map(values.__getitem__)


NASTY = ["", "/", "\x00", "a\x00b", "..", "-o", "--bind", "!!bool x", "~", "\n", "\u00e9", "x" * 300, "0644",
         "0o777", "root:root", "99999999999999999999:0", "null", "yes", "1e999", "\t", "${HOME}", "a: b"]
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**66, 2**66), st.floats(), text, pick(NASTY), st.binary(max_size=8))
map_keys = st.one_of(text, st.sampled_from(["path", "content", "image", "a.b", "-x", "\x01", "x" * 600, "tls"]),
                     st.integers(0, 3), st.none())
trees = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(map_keys, c, max_size=4),
                     max_leaves=10)

PATHS = ["/", "", ".", "..", "/.", "//", "/..", "/../x", "/../../x", "/etc/../../x", "rel", "rel/x", "./x",
         "/a\x00b", "\x00", "/etc", "/etc/", "/file", "/file/x", "/out-rel/x", "/out-abs/x", "/out-rel",
         "/out-abs", "/out-rel/../x", "/loop", "/loop/x", "/etc/up/x", "/etc/up/../x", "/etc/up/out-abs/x",
         "/" + "a" * 300, "/" + "a/" * 300 + "b", "/etc/motd", "/etc/\n", "~/x", "/etc/a b", "/etc/\u00e9"]
PARTS = ["etc", "..", ".", "out-rel", "out-abs", "loop", "file", "up", "x", ""]
paths = st.one_of(pick(PATHS), text.map(lambda t: "/" + t),
                  st.lists(st.sampled_from(PARTS), max_size=5).map(lambda p: "/" + "/".join(p)))

BOMB = gzip.compress(b"\0" * (LIMIT + 1), 9)
SCRIPT_BOMB = gzip.compress(b"#!/bin/sh\n" + b"\0" * (LIMIT + 1), 9)
GZ = gzip.compress(b"zipped\n")
CONTENTS = {"gz": base64.b64encode(GZ).decode(), "gz-cut": base64.b64encode(GZ[:-4]).decode(),
            "bomb": base64.b64encode(BOMB).decode(), "bad": "not base64!", "empty": "", "pad": "=" * 5,
            "magic": base64.b64encode(b"\x1f\x8b" * 4).decode()}
contents = st.one_of(text, st.binary(max_size=16), trees, st.sampled_from(sorted(CONTENTS)).map(CONTENTS.get))
encodings = st.one_of(st.sampled_from(sorted(apply.ENCODINGS) + ["rot13", "GZIP", " b64 ", "gz+b64+x", "B64"]),
                      trees)
perms = st.one_of(pick(["0644", "0o600", "644", "7777", "10000", "-1", "rw-r--r--", "", "0x1ff",
                                   "\uff19", "9" * 5000]), st.integers(-10, 10**6), trees)
owners = st.one_of(st.sampled_from(["root", "root:root", "0:0", "0", "nobody", "nosuchuser", "nosuchuser:root",
                                    "root:nosuchgroup", ":", ":0", "0:", "99999999999999999999", "4294967295",
                                    "a\x00b", "-1", "root:a\x00b"]), trees)
entries = st.one_of(
    st.fixed_dictionaries({}, optional={"path": paths, "content": contents, "encoding": encodings,
                                        "permissions": perms, "owner": owners,
                                        "append": st.one_of(st.booleans(), trees)}),
    trees)
devices = st.sampled_from(["/dev/sdb1", "LABEL=x", "-o", "--bind", "tmpfs", "a\x00b", "", "none"])
mount_entries = st.one_of(st.lists(st.one_of(devices, paths, scalars, trees), max_size=6), trees)
commands = st.one_of(text, st.sampled_from(["true", "a\x00b", ""]), st.lists(st.one_of(scalars, trees), max_size=4),
                     trees)
rancher = st.one_of(trees, st.fixed_dictionaries({}, optional={
    "services": st.dictionaries(map_keys, st.one_of(trees, st.fixed_dictionaries({"image": scalars})), max_size=3),
    "docker": st.fixed_dictionaries({"tls": scalars}),
    "network": trees,
    "ssh": st.fixed_dictionaries({}, optional={"port": scalars, "keys": trees})}))
cloud_configs = st.fixed_dictionaries({}, optional={
    "write_files": st.one_of(st.lists(entries, max_size=5), trees),
    "mounts": st.one_of(st.lists(mount_entries, max_size=3), trees),
    "runcmd": st.one_of(st.lists(commands, max_size=3), trees),
    "ssh_authorized_keys": st.one_of(st.lists(st.one_of(text, trees), max_size=3), trees),
    "hostname": st.one_of(scalars, trees),
    "rancher": rancher,
    "bootcmd": trees,
})
NASTY_YAML = ["x: !!bool x", "x: !!timestamp x", "x: !!int _", "x: !!binary '@@'", "a: &a [*a]", "{a: 1, a: 2}",
              "[", "x: !!python/object:os.system x", "y: !!set {a}", "y: !!omap [{a: 1}]", "x: \t", "--- a\n--- b",
              "%YAML 1.1\n---", "x: !!float x", "x: '\u00e9", "write_files: !!str [a]", "<<: [1]"]


def dump(doc: dict) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1000)


cloud_config_texts = st.builds(
    lambda doc, nasty, where: "#cloud-config\n" + ({0: dump(doc), 1: f"{nasty}\n{dump(doc)}",
                                                    2: f"{dump(doc)}{nasty}\n"}[where]),
    cloud_configs, st.sampled_from(NASTY_YAML), st.sampled_from([0, 0, 1, 2]))

CTYPES = [b"text/cloud-config", b"text/x-shellscript", b"text/plain", b"application/gzip", b"text/x-cloud-config",
          b"application/octet-stream", b"text/html", b"multipart/mixed", b"message/rfc822", b"", b"x"]
CTES = [b"", b"base64", b"quoted-printable", b"x-uuencode", b"bogus", b"7bit"]
FILENAMES = [None, b"a.sh", b"../../x", b"a\x00b", b"x" * 300, b"", b"/", b".."]


@dataclass(frozen=True)
class Part:
    """One MIME part to assemble: its headers' choices and its payload."""

    ctype: bytes
    cte: bytes
    filename: bytes | None
    payload: bytes
    raw: bool  # the payload is a whole MIME document: its own headers become the part's headers


def _encode(payload: bytes, cte: bytes) -> bytes:
    return base64.encodebytes(payload) if cte == b"base64" else payload


def assemble(parts: list[Part], boundary: bytes, outer: bytes) -> bytes:
    """A multipart document from `parts`, the header lines a real MIME writer would put."""
    out = [b"Content-Type: " + outer + b'; boundary="' + boundary + b'"\nMIME-Version: 1.0\n\n']
    for p in parts:
        out.append(b"--" + boundary + b"\n")
        if p.raw:
            out.append(p.payload + b"\n")
            continue
        out.append(b"Content-Type: " + p.ctype + b"\n")
        if p.cte:
            out.append(b"Content-Transfer-Encoding: " + p.cte + b"\n")
        if p.filename is not None:
            out.append(b'Content-Disposition: attachment; filename="' + p.filename + b'"\n')
        out.append(b"\n" + _encode(p.payload, p.cte) + b"\n")
    out.append(b"--" + boundary + b"--\n")
    return b"".join(out)


def nested(depth: int, kind: str) -> bytes:
    """`depth` levels of multipart, message/rfc822 or text/plain-holding-MIME around one cloud-config."""
    doc = b"Content-Type: text/cloud-config\n\n#cloud-config\nhostname: deep\n"
    for i in range(depth):
        if kind == "multipart":
            doc = assemble([Part(b"", b"", None, doc, True)], f"b{i}".encode(), b"multipart/mixed")
        elif kind == "rfc822":
            doc = b"Content-Type: message/rfc822\n\n" + doc
        else:
            doc = assemble([Part(b"text/plain", b"", None, doc, False)], f"p{i}".encode(), b"multipart/mixed")
    return doc


LEAVES = {"script": b"#!/bin/sh\necho hi\n", "empty": b"", "blank": b"   ", "hello": b"hello", "magic": b"\x1f\x8b",
          "bad-gz": b"\x1f\x8bgarbage", "bomb": BOMB, "script-bomb": SCRIPT_BOMB,
          "gz5": gzip.compress(gzip.compress(gzip.compress(gzip.compress(gzip.compress(b"#!"))))),
          "mime-cut": b"Content-Type: multipart/mixed\n\n--", "mime-head": b"MIME-Version: 1.0\n",
          "gz-trailing": GZ + b"trailing", "gz-zeros": GZ + b"\0\0", "gz-gz": GZ + GZ,
          "deep-yaml": b"#cloud-config\n" + b"[" * 5000}
leaves = st.one_of(
    cloud_config_texts.map(lambda t: t.encode("utf-8", "surrogateescape")),
    st.sampled_from(sorted(LEAVES)).map(LEAVES.get),
    st.binary(max_size=64))


def _wrap(children):
    part = st.builds(Part, st.sampled_from(CTYPES), st.sampled_from(CTES), st.sampled_from(FILENAMES), children,
                     st.booleans())
    return st.one_of(
        children.map(gzip.compress),
        st.builds(lambda b, cut: gzip.compress(b)[:cut], children, st.integers(0, 40)),
        st.builds(assemble, st.lists(part, max_size=4), st.sampled_from([b"b", b"==x==", b"", b"a b"]),
                  st.sampled_from([b"multipart/mixed", b"multipart/digest", b"multipart/alternative", b"text/plain"])))


userdatas = st.one_of(
    st.recursive(leaves, _wrap, max_leaves=6),
    st.builds(nested, st.integers(1, 40), st.sampled_from(["multipart", "rfc822", "text"])),
    st.builds(nested, st.sampled_from([15, 16, 17, 300, 1200]), st.sampled_from(["multipart", "rfc822", "text"])),
    st.integers(0, 400).map(lambda n: assemble([Part(b"text/cloud-config", b"", None, b"#cloud-config\na: 1\n",
                                                     False)] * n, b"many", b"multipart/mixed")),
)


def _seed(box: Sandbox, data: bytes) -> str:
    """Put `data` where the file datasource reads it; its spec."""
    (box.base / "seed" / "ud").write_bytes(data)
    return f"file:{box.base / 'seed' / 'ud'}"


def _run_stage(box: Sandbox, data: bytes, spec: str) -> None:
    """Parse (checking the result's shape) and run the local stage over `data` against the sandbox."""
    parsed = userdata.parse(data)
    assert all(isinstance(e, str) for e in parsed.errors)
    assert sum(len(s.content) for s in parsed.scripts) <= LIMIT
    result = stage.run_stage(box.paths(), {"rancher": {"cloud_init": {"datasources": [spec]}}}, network=False,
                             cmdline="", target=box.target())
    assert isinstance(result.errors, int)


# ---- campaigns -------------------------------------------------------------------------------------------

def test_fuzz_cloud_config_documents(sandbox):
    c = Campaign("cloud-config documents")

    @FUZZ
    @given(cloud_config_texts)
    def run(doc):
        if not c.step():
            return
        sandbox.reset()
        data = doc.encode("utf-8", "surrogateescape")
        spec = _seed(sandbox, data)
        c.check(lambda: _run_stage(sandbox, data, spec), doc)
    run()
    c.report()


def test_fuzz_write_files_and_mounts_directly(sandbox):
    c = Campaign("write_files/mounts/runcmd items")

    @FUZZ
    @given(st.one_of(st.lists(entries, max_size=6), trees), st.one_of(st.lists(mount_entries, max_size=4), trees),
           st.one_of(st.lists(commands, max_size=3), trees))
    def run(files, mounts, cmds):
        if not c.step():
            return
        sandbox.reset()
        target = sandbox.target()

        def go():
            assert isinstance(apply.write_files(files, target), int)
            assert isinstance(apply.mount_all(mounts, target), int)
            assert isinstance(apply.run_commands(cmds, "iid", target), int)
        c.check(go, (files, mounts, cmds))
    run()
    c.report()


def test_fuzz_multipart_gzip_userdata(sandbox):
    c = Campaign("multipart/gzip user-data")

    @FUZZ
    @given(userdatas)
    def run(data):
        if not c.step():
            return
        sandbox.reset()
        spec = _seed(sandbox, data)
        c.check(lambda: _run_stage(sandbox, data, spec), data)
    run()
    c.report()


META = ["instance-id: !!bool x", "instance-id: !!timestamp x", "x: !!int _", "[" * 3000, "- a", "{a: 1, a: 2}",
        json.dumps({"uuid": "u", "public_keys": {"k": ["ssh-rsa A"]}}), "[" * 5000 + "]" * 5000,
        "public-keys: " + "[" * 60 + "]" * 60, '{"public_keys": ' + "[" * 900 + "]" * 900 + "}",
        "instance-id: " + "x" * 5000, "instance-id: a\x00b", "\xff\xfe", "local-hostname: [1]"]


def test_fuzz_datasource_layouts(sandbox):
    c = Campaign("nocloud/configdrive meta-data")

    @FUZZ
    @given(st.sampled_from(["nocloud", "configdrive"]), st.one_of(pick(META), text),
           st.one_of(cloud_config_texts.map(str.encode), leaves))
    def run(kind, meta, data):
        if not c.step():
            return
        sandbox.reset()
        seed = sandbox.base / "seed"
        if kind == "nocloud":
            (seed / "meta-data").write_bytes(meta.encode("utf-8", "surrogateescape"))
            (seed / "user-data").write_bytes(data)
        else:
            latest = seed / "openstack" / "latest"
            latest.mkdir(parents=True)
            (latest / "meta_data.json").write_bytes(meta.encode("utf-8", "surrogateescape"))
            (latest / "user_data").write_bytes(data)
        c.check(lambda: _run_stage(sandbox, data, f"{kind}:{seed}"), (kind, meta, data))
    run()
    c.report()
