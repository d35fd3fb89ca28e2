"""Issue 20: fuzzing what PID 1 parses before anything can help it (hypothesis, bounded).

PID 1 reads its own argv (init options, plus any kernel word the kernel passes on), `panic=N`, and the
kernel command line as a config layer from which early boot takes rancher.debug, rancher.modules and
rancher.state. None of that may raise: a typo on the boot loader's line must not be a boot failure.

The suite runs a few hundred examples per target; `FUZZ_EXAMPLES=20000 FUZZ_SECONDS=300` runs a long
campaign (each target stops at whichever limit comes first). Counts are printed (`pytest -s`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rancheros.config import ConfigPaths, get, load
from rancheros.init import main as init_main
from rancheros.init import modules, recovery
from rancheros.init.state import StateSettings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
SECONDS = float(os.environ.get("FUZZ_SECONDS", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
                suppress_health_check=list(HealthCheck))

KEYS = ["rancher.debug", "rancher.modules", "rancher.state.dev", "rancher.state.autoformat", "rancher.state.wait",
        "rancher.state.required", "rancher.state.fstype", "rancher.system_docker.args", "rancher.network",
        "rancher.hostname", "rancher", "rancher.", "rancher..x", "rancher.services.x.image", "hostname"]
NASTY = ["", "[", "]", "{", "}", "[a,b]", "{a: 1}", "a:", "- a", "'", '"', "\\", "&a", "*a", "!!python/object:x",
         "0x10", "1e309", "nan", "~", "null", "yes", "no", "[[[[", "{{", ":", "%", "\t", "\u00e9", "\x00", "--",
         "1" * 400, "!!binary AAAA", "? a", "|", ">"]

words = st.one_of(
    st.text(max_size=30),
    st.sampled_from(NASTY),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.one_of(st.sampled_from(NASTY), st.text(max_size=20))),
    st.sampled_from(KEYS),
    st.builds(lambda v: f"panic={v}", st.one_of(st.integers(-2**70, 2**70).map(str), st.text(max_size=8))),
)
cmdlines = st.lists(words, max_size=12).map(" ".join)
argvs = st.lists(st.one_of(st.sampled_from(["--test-manager", "--console", "--stop-timeout", "--kill-grace",
                                            "--stop-timeout=", "--kill-grace=1e400", "--console=", "-", "--"]),
                           words), max_size=10)


class Campaign:
    """Counts inputs, stops drawing new ones after SECONDS."""

    def __init__(self, name: str):
        self.name, self.tried, self.t0 = name, 0, time.monotonic()

    def step(self) -> bool:
        """True (and counted) while the campaign's time lasts; later examples are skipped uncounted."""
        if time.monotonic() - self.t0 >= SECONDS:
            return False
        self.tried += 1
        return True

    def report(self) -> None:
        print(f"\nfuzz {self.name}: {self.tried} inputs in {time.monotonic() - self.t0:.1f}s, none failed")


def test_fuzz_init_argv():
    c = Campaign("init argv")

    @FUZZ
    @given(argvs)
    def run(argv):
        if not c.step():
            return
        args = init_main._parse(argv)
        assert args.stop_timeout is None or 0 <= args.stop_timeout <= 86400
        assert args.kill_grace is None or 0 <= args.kill_grace <= 86400
    run()
    c.report()


def test_fuzz_panic_timeout():
    c = Campaign("panic=")

    @FUZZ
    @given(cmdlines)
    def run(text):
        if not c.step():
            return
        n = recovery.panic_timeout(text)
        assert n is None or -2**31 <= n < 2**31
    run()
    c.report()


def test_fuzz_early_boot_config_from_the_kernel_cmdline(tmp_path_factory):
    """config.load as early boot calls it (defaults + cmdline), then what early boot reads from it."""
    c = Campaign("early-boot config")
    root = tmp_path_factory.mktemp("fuzzcfg")
    cmdline = Path(root) / "cmdline"
    paths = ConfigPaths(config_dir=Path(root) / "conf", image_config=Path(root) / "none.yml", cmdline=cmdline)
    logging.getLogger("rancheros.config").setLevel(logging.CRITICAL)  # a rejected layer is one line, by design

    @FUZZ
    @given(cmdlines)
    def run(text):
        if not c.step():
            return
        cmdline.write_text(text, encoding="utf-8", errors="replace")
        doc = load(paths)
        get(doc, "rancher.debug")
        modules.config_modules(doc)
        StateSettings.from_config(doc)
    try:
        run()
    finally:
        logging.getLogger("rancheros.config").setLevel(logging.NOTSET)
    c.report()
