"""Bad YAML is one ConfigError naming where: duplicates, bad tag values, alias bombs, depth, size."""

import pytest

from rancheros.config import yamlio
from rancheros.config.cmdline import parse_cmdline
from rancheros.config.yamlio import dump_yaml, parse_yaml
from rancheros.errors import ConfigError

BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh"))


@pytest.mark.parametrize("text, words", [
    ("a: 1\nb: 2\na: 3\n", "key 'a' twice"),
    ("x: !!bool maybe\n", "not a boolean"),
    ("x: !!binary '@@@'\n", "not base64"),
    ("x: !!int zz\n", "malformed YAML value"),
    ("x: !!timestamp 2020-02-30\n", "malformed YAML value"),
    ("x: !!timestamp x\n", "malformed YAML value"),    # AttributeError before (the cloud-init fuzz found it)
    ("x: !!int _\n", "malformed YAML value"),          # IndexError before
    ("x: !!float _\n", "malformed YAML value"),        # IndexError before
    ("x: !!python/object:os.system ls\n", "could not determine a constructor"),
    ("a:\n  b: 1\n c: 2\n", "malformed YAML"),
    (BOMB, "more than"),
    ("[" * 5000 + "]" * 5000, "malformed YAML"),
    ("x: " + "[" * 80 + "]" * 80, "deeper than"),
])
def test_bad_documents_are_one_error_naming_the_source(text, words):
    with pytest.raises(ConfigError, match="^src") as e:
        parse_yaml(text, "src")
    assert words in str(e.value)


def test_a_document_over_the_size_bound_is_refused_before_parsing():
    with pytest.raises(ConfigError, match="MiB"):
        parse_yaml("#" * (yamlio.MAX_BYTES + 1), "big")


def test_dates_stay_the_text_the_operator_wrote():
    assert parse_yaml("d: 2020-02-30\ne: 2021-01-01") == {"d": "2020-02-30", "e": "2021-01-01"}


def test_a_date_like_value_on_the_kernel_cmdline_is_a_string():
    assert parse_cmdline("rancher.foo=2020-02-30 quiet") == {"rancher": {"foo": "2020-02-30"}}


def test_text_that_is_not_utf8_is_an_error_when_written():
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        dump_yaml({"k": "bad \udcff byte"})


def test_one_bounded_reader_for_every_config_input(tmp_path):
    """ros config merge -i FILE and the local store read at most MAX_BYTES + 1 bytes; bytes not UTF-8 are one line."""
    import io

    from rancheros.config.paths import ConfigPaths
    from rancheros.config.store import LocalStore
    from rancheros.config.yamlio import MAX_BYTES, parse_yaml, read_bounded

    class Endless(io.RawIOBase):
        served = 0

        def readable(self):
            return True

        def readinto(self, b):
            self.served += len(b)
            b[:] = b"a" * len(b)
            return len(b)

    endless = io.BufferedReader(Endless())
    with pytest.raises(ConfigError, match="more than the 4 MiB"):
        read_bounded(endless, "endless")
    assert endless.raw.served <= MAX_BYTES + 1 + io.DEFAULT_BUFFER_SIZE
    with pytest.raises(ConfigError) as bad:
        parse_yaml(b"a: \xff\n", "doc")
    assert str(bad.value) == "doc: not UTF-8 text (byte 3)"
    config_paths = ConfigPaths(config_dir=tmp_path / "conf", image_config=tmp_path / "none.yml",
                               cmdline=tmp_path / "cmdline")
    config_paths.config_dir.mkdir()
    with open(config_paths.local, "wb") as f:
        f.truncate(1 << 30)   # sparse: 1 GiB of NULs
    with pytest.raises(ConfigError, match="more than the 4 MiB"):
        LocalStore(config_paths).read()
