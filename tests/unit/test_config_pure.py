"""Pure config logic: merge rules, dotted keys, kernel command line, aliases, schema."""

import logging

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from rancheros import config as cfg
from rancheros.config import aliases
from rancheros.config.paths import DEFAULTS_FILE
from rancheros.config.schema import coerce_value, type_errors
from rancheros.config.yamlio import format_value, parse_mapping
from rancheros.errors import ConfigError

names = st.text(alphabet="abcdefghij_-", min_size=1, max_size=6)
scalars = st.one_of(st.booleans(), st.integers(), st.text(max_size=8), st.none())
trees = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                     st.dictionaries(names, kids, max_size=3)),
                     max_leaves=12)
docs = st.dictionaries(names, trees, max_size=4)
keys = st.lists(names, min_size=1, max_size=4).map(".".join).filter(lambda k: not k.startswith("-"))
# a loaded shared machine: fewer examples, no timing health checks
lean = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


# --- merge -------------------------------------------------------------------

def test_maps_merge_lists_and_scalars_replace():
    base = {"rancher": {"dns": {"nameservers": ["1.1.1.1"], "search": ["a"]}, "debug": False}}
    over = {"rancher": {"dns": {"nameservers": ["8.8.8.8"]}, "debug": True}, "hostname": "h"}
    assert cfg.deep_merge(base, over) == {
        "rancher": {"dns": {"nameservers": ["8.8.8.8"], "search": ["a"]}, "debug": True},
        "hostname": "h"}
    assert base["rancher"]["dns"]["nameservers"] == ["1.1.1.1"], "inputs are not modified"


def test_a_scalar_replaces_a_map_and_back():
    assert cfg.deep_merge({"a": {"b": 1}}, {"a": 2}) == {"a": 2}
    assert cfg.deep_merge({"a": 2}, {"a": {"b": 1}}) == {"a": {"b": 1}}


@lean
@given(docs, docs, docs)
def test_merge_is_associative_and_idempotent(a, b, c):
    assert cfg.deep_merge(cfg.deep_merge(a, b), c) == cfg.deep_merge(a, cfg.deep_merge(b, c))
    merged = cfg.deep_merge(a, b)
    assert cfg.deep_merge(merged, b) == merged
    assert cfg.merge_all([a, b, c]) == cfg.deep_merge(cfg.deep_merge(a, b), c)


# --- dotted keys -------------------------------------------------------------

@lean
@given(docs, keys, trees)
def test_set_then_get_returns_the_value(doc, key, value):
    before = repr(doc)
    new = cfg.set_key(doc, key, value)
    assert cfg.get(new, key) == value
    assert repr(doc) == before, "set_key returns a new dict"


@lean
@given(docs, keys, st.one_of(st.booleans(), st.integers(), st.text(min_size=1, max_size=5)))
def test_unset_after_set_of_a_new_key_restores_the_doc(doc, key, value):
    assume(key.split(".")[0] not in doc)  # only keys whose whole path is new
    assert cfg.unset_key(cfg.set_key(doc, key, value), key) == doc


def test_get_unknown_paths_is_none():
    doc = {"rancher": {"state": {"dev": "x"}, "modules": []}}
    assert cfg.get(doc, "rancher.state.nope") is None
    assert cfg.get(doc, "rancher.state.dev.deeper") is None
    assert cfg.get(doc, "rancher.modules") == []


def test_keys_with_dots_are_found_as_existing_map_keys():
    doc = {"labels": {"io.rancher.os.scope": "system"}}
    assert cfg.get(doc, "labels.io.rancher.os.scope") == "system"
    assert cfg.set_key(doc, "labels.io.rancher.os.scope", "user") == {"labels": {"io.rancher.os.scope": "user"}}
    assert cfg.unset_key(doc, "labels.io.rancher.os.scope") == {}


def test_unset_prunes_emptied_maps_only():
    doc = {"rancher": {"docker": {"tls": True}, "debug": True}}
    assert cfg.unset_key(doc, "rancher.docker.tls") == {"rancher": {"debug": True}}
    assert cfg.unset_key(doc, "rancher.nothing.here") == doc


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a.", "--bogus", "a\x00b", "bad\udcff", "x" * 513,
                                 ".".join(["a"] * 33)])
def test_malformed_keys_are_errors_naming_them(bad):
    with pytest.raises(ConfigError, match="invalid key"):
        cfg.get({}, bad)


# --- output shapes -----------------------------------------------------------

@pytest.mark.parametrize("value,text", [
    (True, "true"), (False, "false"), (None, ""), ([], "[]"), ({}, "{}"), (3, "3"),
    ("LABEL=X", "LABEL=X"), (["a", "b"], "- a\n- b"), ({"a": 1}, "a: 1"),
])
def test_format_value_matches_rancheros(value, text):
    assert format_value(value) == text


# --- kernel command line -----------------------------------------------------

def test_cmdline_keys_lists_quotes_and_flags():
    text = ('BOOT_IMAGE=/vmlinuz console=ttyS0 quiet rancher.debug rancher.state.dev=LABEL=RANCHER_STATE '
            'rancher.network.dns.nameservers=[8.8.8.8,1.1.1.1] rancher.environment.MSG="hello world" '
            'rancher.state.autoformat=[/dev/sda] rancher.ssh.port=2222 -- rancher.after=dashdash')
    assert cfg.parse_cmdline(text) == {"rancher": {
        "debug": True,
        "state": {"dev": "LABEL=RANCHER_STATE", "autoformat": ["/dev/sda"]},
        "network": {"dns": {"nameservers": ["8.8.8.8", "1.1.1.1"]}},
        "environment": {"MSG": "hello world"},
        "ssh": {"port": 2222},
    }}


# words that YAML reads as strings (a letter first and a dash: never a number, bool or null)
cmdline_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/:_.-", max_size=10).map(lambda w: "v-" + w)


@lean
@given(st.dictionaries(names, st.one_of(cmdline_words, st.lists(cmdline_words, min_size=1, max_size=3)),
                       min_size=1, max_size=4))
def test_cmdline_round_trip(settings_by_key):
    """`rancher.k.NAME=VALUE` and `=[A,B]` words, quoted or not, come back as written."""
    words = []
    for i, (key, value) in enumerate(settings_by_key.items()):
        text = f"[{','.join(value)}]" if isinstance(value, list) else value
        words.append(f'rancher.k.{key}="{text}"' if i % 2 else f"rancher.k.{key}={text}")
    doc = cfg.parse_cmdline(f"quiet {' '.join(words)} console=ttyS0")
    assert doc == {"rancher": {"k": settings_by_key}}


def test_cmdline_raw_words_stay_available():
    words = cfg.parse_cmdline_words('console=ttyS0 quiet ds="nocloud;s=http://x/" -- init-arg')
    assert words == [("console", "ttyS0"), ("quiet", None), ("ds", "nocloud;s=http://x/")]


def test_cmdline_lists_yaml_rejects_split_on_commas():
    doc = cfg.parse_cmdline("rancher.cloud_init.datasources=[url:http://10.0.2.2:8000/ud,configdrive:] rancher.y=a:")
    assert doc == {"rancher": {"cloud_init": {"datasources": ["url:http://10.0.2.2:8000/ud", "configdrive:"]},
                               "y": "a:"}}


def test_cmdline_string_keys_keep_their_text():
    assert cfg.parse_cmdline("rancher.password=0123 rancher.hostname=true") == {
        "rancher": {"password": "0123", "hostname": "true"}}


def test_cmdline_ignores_malformed_rancher_words():
    assert cfg.parse_cmdline("rancher. rancher..x=1 rancherx=1 rancher.a=[unclosed") == {
        "rancher": {"a": "[unclosed"}}


def test_coerce_only_where_the_schema_wants_a_string():
    assert coerce_value("hostname", "0123", 83) == "0123"
    assert coerce_value("rancher.docker.tls", "yes", True) is True
    assert coerce_value("rancher.unknown", "1", 1) == 1


# --- aliases -----------------------------------------------------------------

def test_flat_keys_are_aliases_with_one_deprecation_note_per_key(caplog):
    aliases._warned.clear()
    old = {"dns": ["8.8.8.8"], "state": {"dev": "LABEL=X"}, "system_docker_args": ["-D"],
           "userdocker": {"use_tls": True, "tls_ca_cert": "CA"}, "cloud_init": {"datasources": ["file:/x"]},
           "ssh": {"keys": {"rsa": "K"}}, "enabledAddons": ["ubuntu-console"], "hostname": "h"}
    with caplog.at_level(logging.WARNING, logger="rancheros.config.aliases"):
        new = aliases.normalize(old, "f.yml")
        aliases.normalize(old, "g.yml")
    assert new == {"hostname": "h", "rancher": {
        "network": {"dns": {"nameservers": ["8.8.8.8"]}}, "state": {"dev": "LABEL=X"},
        "system_docker": {"args": ["-D"]}, "docker": {"tls": True, "ca_cert": "CA"},
        "cloud_init": {"datasources": ["file:/x"]}, "ssh": {"keys": {"rsa": "K"}},
        "services_include": {"ubuntu-console": True}}}
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 7 and all("deprecated" in n for n in notes)
    assert any("'dns'" in n and "rancher.network.dns.nameservers" in n and "f.yml" in n for n in notes)


def test_explicit_rancher_key_in_the_same_layer_wins_over_its_alias():
    new = aliases.normalize({"state": {"dev": "old", "wait": False}, "rancher": {"state": {"dev": "new"}}})
    assert new == {"rancher": {"state": {"dev": "new", "wait": False}}}


# --- schema ------------------------------------------------------------------

def defaults() -> dict:
    return parse_mapping(DEFAULTS_FILE.read_text(), str(DEFAULTS_FILE))


def test_the_builtin_defaults_are_valid_and_complete():
    doc = defaults()
    assert cfg.validate(doc) == []
    services = doc["rancher"]["services"]
    for name in ("udev", "syslog", "acpid", "ntp", "network", "cloud-init", "console", "docker",
                 "system-volumes", "command-volumes", "user-volumes"):
        assert services[name]["labels"]["io.rancher.os.scope"] == "system"


def test_wrong_types_are_errors_and_unknown_rancher_keys_warnings():
    doc = {"rancher": {"docker": {"tls": "notabool"}, "ssh": {"port": "22"}, "flux": 1,
                       "services": {"s": {"image": "x", "privileged": "yes", "environment": {"A": 1},
                                          "labels": ["a=b"], "healthcheck": {"test": "x"}, "bogus": 1}}},
           "write_files": [{"path": 3}], "some_cloud_init_key": {"any": "thing"}}
    problems = {(p.path, p.severity, p.message) for p in cfg.validate(doc)}
    assert problems == {
        ("rancher.docker.tls", "error", "expected boolean, got 'notabool'"),
        ("rancher.ssh.port", "error", "expected integer, got '22'"),
        ("rancher.services.s.privileged", "error", "expected boolean, got 'yes'"),
        ("write_files[0].path", "error", "expected string, got 3"),
        ("rancher.flux", "warning", "unknown key"),
        ("rancher.services.s.bogus", "warning", "unknown key"),
    }


def test_compose_subset_accepts_both_list_and_map_forms():
    svc = {"image": "i", "command": "sh -c x", "entrypoint": ["/bin/sh"], "environment": ["A=1"],
           "labels": {"a": "b"}, "volumes": ["/a:/b"], "volumes_from": ["v"], "net": "host",
           "network_mode": "host", "pid": "host", "ipc": "host", "uts": "host", "privileged": True,
           "cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"], "devices": ["/dev/kvm"], "restart": "always",
           "tty": True, "stdin_open": True, "read_only": False, "tmpfs": ["/tmp"],
           "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 65535},
           "depends_on": ["udev"], "working_dir": "/", "user": "root", "hostname": "h",
           "healthcheck": {"test": ["CMD", "true"]}}
    assert cfg.validate({"rancher": {"services": {"s": svc}}}) == []


@lean
@given(docs)
def test_type_errors_agree_with_validate(doc):
    doc = {"rancher": doc}
    expected = {(p.path, p.message) for p in cfg.validate(doc) if p.severity == "error"}
    assert {(p.path, p.message) for p in type_errors(doc)} == expected


def test_images_of_enabled_services_and_catalog_entries(tmp_path, caplog):
    (tmp_path / "extra.yml").write_text("kind: service\nservices:\n  extra: {image: me/extra:1}\n")
    (tmp_path / "fancy.yml").write_text("kind: console\nservices:\n  console: {image: me/fancy:2}\n")
    doc = {"rancher": {"console": "fancy",
                       "services": {"a": {"image": "x:1"}, "b": {"image": "x:1"}, "c": {"command": "y"},
                                    "console": {"image": "default-console:1"}},
                       "services_include": {"extra": True, "off": False, "missing": True}}}
    with caplog.at_level(logging.WARNING):
        from rancheros.sysdocker.catalog import images
        assert images(doc, tmp_path) == ["x:1", "me/fancy:2", "me/extra:1"]
    assert any("missing" in r.getMessage() for r in caplog.records), "an unknown entry is reported"
