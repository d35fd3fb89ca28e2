"""Issue 20 item 8: property tests for the config engine and `ros config` (hypothesis, bounded).

Any layer content, key and value gives a result or one clear error line, never a traceback; a refused
write leaves the local file byte-identical; a bad value in any layer never stops `ros config unset`
of that key. `FUZZ_EXAMPLES=N` runs a longer campaign.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rancheros import config as cfg
from rancheros.cli import main
from rancheros.config import ConfigPaths
from rancheros.errors import ConfigError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))

NASTY = ["2020-02-30", "!!bool x", "!!binary '@@'", "{a: 1, a: 2}", "[", "bad \udcff", "a\x00b", "1e999",
         "!!set {a}", "!!binary aGk=", "{}", "null", "~", "'q", '"', "*a", "&a [1]", "!!omap [{a: 1}]", "0x1F",
         "yes", "{rancher: {network: 5}}", "--bogus", "- a\n- b", "a: b: c", "[" * 100 + "]" * 100]
KEYS = ["hostname", "rancher.network.dns.nameservers", "rancher.ssh.port", "rancher.docker.tls",
        "ssh_authorized_keys", "rancher.environment", "rancher.services.x.image", "write_files", "rancher.console",
        "--bogus", "a..b", ".".join(["a"] * 40), "rancher." + "x." * 300 + "y", "bad\udcff", "rancher.sysctl"]
LAYERS = ["rancher: {network: 5}", "hostname: [1]", "rancher: {foo: 2020-02-30}", "{a: 1, a: 2}", "x: !!bool q",
          "rancher:\n  ssh:\n    port: abc", "ssh_authorized_keys: 5", "rancher: {environment: [A=1]}",
          "rancher: !!binary aGk=", "rancher: {services: {x: 5}}", "rancher: {services: {x: {image: 5}}}",
          "\udcff\udcfe", "rancher: {sysctl: {a: [1]}}", "a: &a [1]\nb: [*a, *a]", "rancher: {console: 5}",
          "a:\n  b: 1\n c: 2", "- list"]
CMDLINE = ["rancher.foo=2020-02-30", "rancher.network=5", "rancher.ssh.port=x", "rancher.console=[a,b]",
           "rancher.debug=!!bool q", "rancher.=x", "rancher..a=1", "rancher.state.dev"]

texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=30))
layer_texts = st.one_of(st.sampled_from(LAYERS), st.text(max_size=60))
commands = st.one_of(
    st.tuples(st.just("get"), keys),
    st.tuples(st.just("set"), keys, texts),
    st.tuples(st.just("unset"), keys),
    st.tuples(st.sampled_from(["export", "validate", "images"])),
    st.tuples(st.just("export"), st.sampled_from(["--private", "--full", "--explain"])),
    st.tuples(st.just("merge")),
)


def _write(path: Path, text: str | None) -> None:
    if text is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8", "surrogateescape"))


def _ros(paths: ConfigPaths, args: list[str], stdin: str | None = None) -> tuple[int, str]:
    """`ros config ARGS` as the console script runs it; a traceback fails the test by raising."""
    env = {"ROS_CONFIG_DIR": str(paths.config_dir), "ROS_IMAGE_CONFIG": str(paths.image_config),
           "ROS_CMDLINE": str(paths.cmdline)}
    data = stdin.encode("utf-8", "surrogateescape") if stdin is not None else None  # real stdin is bytes
    with CliRunner().isolation(input=data, env=env) as (_, err, _):
        code = main(["config", *args])
    return code, err.getvalue().decode("utf-8", "replace")


def _snapshot(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


@FUZZ
@given(local=st.none() | layer_texts, datasource=st.none() | layer_texts,
       cmdline=st.lists(st.sampled_from(CMDLINE) | st.text(max_size=20), max_size=3),
       command=commands, stdin=texts)
def test_any_layers_and_any_ros_config_command_give_a_result_or_one_error(local, datasource, cmdline,
                                                                          command, stdin):
    with tempfile.TemporaryDirectory() as tmp:
        paths = ConfigPaths(config_dir=Path(tmp) / "conf", image_config=Path(tmp) / "image.yml",
                            cmdline=Path(tmp) / "cmdline")
        paths.config_dir.mkdir()
        _write(paths.local, local)
        _write(paths.datasource_dir / "ds.yml", datasource)
        _write(paths.cmdline, " ".join(["quiet", *cmdline]))
        before = _snapshot(paths.local)
        code, err = _ros(paths, list(command), stdin if command[0] == "merge" else None)
        assert code in (0, 1, 2), (command, code, err)
        assert "Traceback" not in err, err
        if code != 0:
            assert _snapshot(paths.local) == before, f"refused {command} changed the file"
            assert err.strip(), f"{command} failed silently"
        cfg.load(paths)  # the boot's own load never raises, whatever the layers hold


@FUZZ
@given(bad=st.sampled_from(LAYERS[:-2]), key=st.sampled_from(["rancher.network", "hostname", "rancher.ssh.port",
                                                               "ssh_authorized_keys", "rancher.console", "rancher"]))
def test_ros_config_unset_can_always_repair_a_bad_value_it_names(bad, key):
    """The probe's worst case: one bad value made every `ros` command fail, unset of that key included."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = ConfigPaths(config_dir=Path(tmp) / "conf", image_config=Path(tmp) / "image.yml",
                            cmdline=Path(tmp) / "cmdline")
        paths.config_dir.mkdir()
        _write(paths.local, bad)
        try:
            cfg.parse_mapping(bad)
        except ConfigError:
            return  # a document that does not parse is named with file:line:column instead (other tests)
        code, err = _ros(paths, ["unset", key])
        assert code == 0, err
        code, err = _ros(paths, ["get", "hostname"])
        assert code == 0 and "Traceback" not in err
