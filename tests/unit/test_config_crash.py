"""Crash test of the local store (issue 20 item 9): hundreds of `ros config set` writers SIGKILLed at
random moments while a reader parses the file without pause.

Cheap on purpose: the CLI is imported once here and every writer is an os.fork() of this process that
runs the real `ros` entry point (rancheros.cli.main, what the `ros` applet calls) in-process, then
os._exit()s with its status, so no child ever runs pytest's teardown. The reader is a forked process
too; the values any writer may write are known before the first fork, so it checks each read against
them.
"""

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from rancheros import cli
from rancheros import config as cfg
from rancheros.config.paths import ConfigPaths
from rancheros.config.store import TMP_MARK, LocalStore
from rancheros.config.yamlio import parse_mapping

WRITERS = 300
WAVE = 40          # writers alive at once
SHARED = 4         # keys every writer contends for
ENV = "rancher.environment"


@pytest.fixture
def config_paths(tmp_path: Path, monkeypatch) -> ConfigPaths:
    monkeypatch.setenv("ROS_IMAGE_CONFIG", str(tmp_path / "image.yml"))
    monkeypatch.setenv("ROS_CMDLINE", str(tmp_path / "cmdline"))
    monkeypatch.setenv("ROS_CONFIG_DIR", str(tmp_path / "conf"))
    return ConfigPaths(config_dir=tmp_path / "conf", image_config=tmp_path / "image.yml",
                       cmdline=tmp_path / "cmdline")


def _plan(rng: random.Random) -> list[list[tuple[str, str]]]:
    """Writer i's two `ros config set KEY VALUE`: a shared key and its own key, in a random order."""
    plans = []
    for i in range(WRITERS):
        sets = [(f"{ENV}.SHARED{i % SHARED}", f"s{i}"), (f"{ENV}.U{i}", f"u{i}")]
        rng.shuffle(sets)
        plans.append(sets)
    return plans


def _fork(body) -> int:
    """Run body() in a child that leaves by os._exit with its status, whatever happens."""
    pid = os.fork()
    if pid:
        return pid
    status = 70
    try:
        status = body()
    except BaseException:  # a traceback is a defect: it goes to the child's output file, status 70
        import traceback
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(status if isinstance(status, int) else 71)


def _redirect(path: Path) -> None:
    out = open(path, "w")
    os.dup2(out.fileno(), 1)
    os.dup2(out.fileno(), 2)
    sys.stdout = sys.stderr = out


def _writer(conf: Path, sets: list[tuple[str, str]], out: Path):
    def body() -> int:
        _redirect(out)
        for key, value in sets:
            status = cli.main(["--config-dir", str(conf), "config", "set", key, value])
            if status:
                return status
        return 0
    return body


def _reader(path: Path, allowed: dict[str, set[str]], stop: Path, result: Path):
    """Read and parse `path` until `stop` exists; any read that fails, or holds a value no writer wrote, is bad."""
    def body() -> int:
        _redirect(result.with_suffix(".out"))
        reads, bad, seen_shared = 0, [], set()
        deadline = time.monotonic() + 300
        while not stop.exists() and time.monotonic() < deadline:
            reads += 1
            try:
                with open(path, "rb") as f:
                    raw = f.read()
                doc = parse_mapping(raw, str(path))
                problem = None
                if set(doc) != {"rancher"} or set(doc["rancher"]) != {"environment"}:
                    problem = f"other keys: {sorted(doc)}"
                else:
                    for k, v in doc["rancher"]["environment"].items():
                        if v not in allowed.get(f"{ENV}.{k}", ()):
                            problem = f"{k}={v!r} was written by no writer"
                            break
                        if k.startswith("SHARED"):
                            seen_shared.add(v)
            except Exception as e:  # not found, unreadable, not YAML: all defects
                problem = f"{type(e).__name__}: {e}"
            if problem and len(bad) < 20:
                bad.append(problem)
            elif problem:
                bad[-1] = f"... and more, last: {problem}"
        result.write_text(json.dumps({"reads": reads, "bad": bad, "shared_values_seen": len(seen_shared)}))
        return 0
    return body


def _lock_holder(inode: int) -> int | None:
    """The pid holding the writers' flock, from /proc/locks (waiters are the `->` lines)."""
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        words = line.split()
        if len(words) > 5 and words[1] == "FLOCK" and words[4].isdigit() and words[5].endswith(f":{inode}"):
            return int(words[4])
    return None


def _count_stale_temps(monkeypatch, log: Path) -> None:
    """Writers (forks of this process) note the temp files of killed writers that they remove."""
    real = LocalStore._remove_stale_temps

    def counting(self):
        names = [p.name for p in self.paths.config_dir.glob(f".{self.path.name}{TMP_MARK}*")]
        if names:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(fd, "".join(f"{n}\n" for n in names).encode())
            os.close(fd)
        real(self)
    monkeypatch.setattr(LocalStore, "_remove_stale_temps", counting)


def test_hundreds_of_sigkilled_writers_never_corrupt_or_lose_a_completed_set(config_paths, tmp_path, monkeypatch):
    """Every read parses and holds only written values; every exit-0 writer's key survives; no temp is left."""
    seed = int(os.environ.get("ROS_CRASH_SEED", "20"))
    rng = random.Random(seed)
    plans = _plan(rng)
    allowed: dict[str, set[str]] = {f"{ENV}.START": {"start"}}
    for sets in plans:
        for key, value in sets:
            allowed.setdefault(key, set()).add(value)
    conf, outs = config_paths.config_dir, tmp_path / "out"
    outs.mkdir()
    stale_log = tmp_path / "stale-temps"
    _count_stale_temps(monkeypatch, stale_log)
    # the first set, here: every module a writer needs is imported before the first fork
    assert cli.main(["--config-dir", str(conf), "config", "set", f"{ENV}.START", "start"]) == 0
    lock_inode = os.stat(conf / ".cloud-config.yml.lock").st_ino
    with LocalStore(config_paths).locked():
        locks_visible = _lock_holder(lock_inode) == os.getpid()  # else no kills "holding the lock"

    started = time.monotonic()
    stop, result = tmp_path / "stop", tmp_path / "reader.json"
    reader = _fork(_reader(config_paths.local, allowed, stop, result))
    status: dict[int, int] = {}           # writer -> wait status
    victims: set[int] = set()
    kinds = {"start": 0, "timed": 0, "holding the lock": 0}
    killed_holding = 0
    estimate = 0.5                        # seconds a wave takes; then what the last one took
    try:
        for first in range(0, WRITERS, WAVE):
            wave = list(range(first, min(first + WAVE, WRITERS)))
            chosen = set(rng.sample(wave, len(wave) // 3))
            victims |= chosen
            how = {i: rng.choice(["start", "timed", "timed", "holding the lock"]) for i in chosen}
            t0 = time.monotonic()
            pids: dict[int, int] = {}     # pid -> writer, until reaped
            timed: list[tuple[float, int]] = []
            holding: set[int] = set()
            for i in wave:
                pid = _fork(_writer(conf, plans[i], outs / f"{i}.out"))
                pids[pid] = i
                if i in chosen:
                    kinds[how[i]] += 1
                    if how[i] == "start":
                        os.kill(pid, signal.SIGKILL)
                    elif how[i] == "timed":
                        timed.append((t0 + rng.uniform(0, estimate), pid))
                    else:
                        holding.add(pid)
            while pids:
                now = time.monotonic()
                for due, pid in [t for t in timed if t[0] <= now]:
                    timed.remove((due, pid))
                    if pid in pids:       # never signal a reaped pid: it may be someone else's now
                        os.kill(pid, signal.SIGKILL)
                if holding and locks_visible:
                    holder = _lock_holder(lock_inode)
                    if holder in holding and holder in pids:
                        time.sleep(rng.uniform(0, 0.015))  # somewhere in its read, check, write, rename, fsync
                        os.kill(holder, signal.SIGKILL)
                        holding.discard(holder)
                        killed_holding += 1
                for pid in list(pids):
                    done, st = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status[pids.pop(pid)] = st
                time.sleep(0.0005)
            estimate = max(0.05, time.monotonic() - t0)
    finally:
        stop.touch()
        _, reader_status = os.waitpid(reader, 0)
    elapsed = time.monotonic() - started

    assert os.waitstatus_to_exitcode(reader_status) == 0, (tmp_path / "reader.out").read_text()
    seen = json.loads(result.read_text())
    completed = [i for i, st in status.items() if os.waitstatus_to_exitcode(st) == 0]
    killed = [i for i, st in status.items() if os.waitstatus_to_exitcode(st) == -signal.SIGKILL]
    temps = sorted(p.name for p in conf.glob(f".cloud-config.yml{TMP_MARK}*"))
    stale = set(stale_log.read_text().split()) if stale_log.exists() else set()
    print(f"\ncrash test (seed {seed}): {WRITERS} writers in waves of {WAVE}, {len(victims)} chosen to be killed "
          f"({', '.join(f'{n} {k}' for k, n in kinds.items())}), {len(killed)} killed by SIGKILL "
          f"({killed_holding} within 15 ms of being seen holding the lock), {len(completed)} completed; {len(stale | set(temps))} "
          f"temp files of writers killed mid-write ({len(temps)} still there at the end); reader: {seen['reads']} reads, {len(seen['bad'])} bad, "
          f"{seen['shared_values_seen']} distinct shared values seen; {elapsed:.1f} s")

    outputs = {i: (outs / f"{i}.out").read_text() if (outs / f"{i}.out").exists() else "" for i in range(WRITERS)}
    assert not [o for o in outputs.values() if "Traceback" in o], "a writer printed a traceback"
    assert sorted(status) == list(range(WRITERS))
    for i, st in status.items():
        code = os.waitstatus_to_exitcode(st)
        if i in victims:
            assert code in (0, -signal.SIGKILL), f"writer {i} exited {code}: {outputs[i]}"
        else:
            assert code == 0, f"writer {i}, never signalled, exited {code}: {outputs[i]}"
            assert outputs[i] == "", f"writer {i} printed: {outputs[i]}"
    assert seen["bad"] == [], f"reads that failed or held an unwritten value: {seen['bad']}"
    assert seen["reads"] > 300, "the reader ran through the whole test"
    assert len(killed) >= len(victims) // 2 and len(completed) >= WRITERS - len(victims)
    if locks_visible:
        assert killed_holding, "some writers were killed while holding the lock (mid-update)"

    doc = parse_mapping(config_paths.local.read_bytes(), str(config_paths.local))
    env = doc["rancher"]["environment"]
    for key, value in env.items():
        assert value in allowed[f"{ENV}.{key}"], f"{key}={value!r} was written by no writer"
    for i in completed:
        assert cfg.get(doc, f"{ENV}.U{i}") == f"u{i}", f"writer {i} exited 0 but its set was lost"
    for n in range(SHARED):
        assert f"SHARED{n}" in env, "a shared key some completed writer set is there"

    LocalStore(config_paths).update(lambda d: d)  # cleans the temp files of killed writers
    assert sorted(p.name for p in conf.iterdir()) == [".cloud-config.yml.lock", "cloud-config.yml"]
    assert config_paths.local.stat().st_mode & 0o777 == 0o600
    assert parse_mapping(config_paths.local.read_bytes()) == doc
