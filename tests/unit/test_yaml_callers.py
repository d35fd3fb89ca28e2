"""YAML outside the config layers goes through the hardened loader too (issue 20 item 8): repository
indexes, catalog files, the upgrade index; and a config layer file is read bounded."""

import logging
import os
from pathlib import Path

import pytest

from rancheros import config as cfg
from rancheros.config import yamlio
from rancheros.config.layers import merge_layers
from rancheros.config.paths import ConfigPaths
from rancheros.errors import InstallError, ServiceError
from rancheros.install import upgrade
from rancheros.sysdocker import repositories
from rancheros.sysdocker.catalog import load_catalog

# 9 levels of 9 aliases: 9**9 values once expanded, a few hundred bytes of YAML
ALIAS_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 9))
DUPLICATE = "hello-addon: {kind: addon, services: {a: {image: x}}}\nhello-addon: {kind: addon, services: {b: {image: y}}}\n"


def _doc():
    return {"rancher": {"repositories": {"extra": {"url": "http://10.0.2.2:8000/index.yml"}}}}


@pytest.mark.parametrize("text, why", [
    (DUPLICATE, r"index:2:1: malformed YAML: found the key 'hello-addon' twice"),
    (ALIAS_BOMB, r"index: more than 200000 values \(YAML aliases expanding\?\); refused"),
    ("a: !!python/object/apply:os.system [true]\n", r"index:1:4: malformed YAML: could not determine a constructor"),
])
def test_a_repository_index_the_loader_refuses_is_one_error_naming_the_repository(text, why):
    with pytest.raises(ServiceError, match=r"^repository extra: its index is not YAML \(" + why) as e:
        repositories.parse_index("extra", text.encode())
    assert "\n" not in str(e.value)


def test_a_repository_index_not_utf8_is_one_error():
    with pytest.raises(ServiceError, match=r"^repository extra: its index is not UTF-8 text \(byte 3\)$"):
        repositories.parse_index("extra", b"a: \xff\n")


def test_refresh_keeps_the_last_good_index_when_the_new_one_is_a_bomb_or_has_a_key_twice(tmp_path):
    good = b"hello-addon: {kind: addon, services: {hello-addon: {image: 'example/hello:1'}}}\n"
    repositories.refresh(_doc(), tmp_path, fetch=lambda url: good)
    said = []
    for bad in (ALIAS_BOMB, DUPLICATE):
        repositories.refresh(_doc(), tmp_path, say=said.append, fetch=lambda url: bad.encode())
    assert len(said) == 2 and all(s.startswith("repository extra: its index is not YAML (index") for s in said), said
    assert all(s.endswith("; keeping the copy fetched before") and s.count("repository extra") == 1 for s in said)
    assert (tmp_path / "extra.yml").read_bytes() == good
    assert "hello-addon" in load_catalog(doc=_doc(), cache_dir=tmp_path)


@pytest.mark.parametrize("text, why", [
    (b"kind: addon\nkind: service\nservices: {a: {image: x}}\n", r":2:1: malformed YAML: found the key 'kind' twice"),
    (ALIAS_BOMB.encode(), r": more than 200000 values"),
    (b"kind: addon\ndescription: \xff\xfe\n", r": not UTF-8 text \(byte 25\)$"),
])
def test_a_catalog_file_the_loader_refuses_is_one_error_naming_the_file(tmp_path, text, why):
    (tmp_path / "bad.yml").write_bytes(text)
    with pytest.raises(ServiceError, match=rf"^catalog file {tmp_path / 'bad.yml'}{why}") as e:
        load_catalog(tmp_path)
    assert "\n" not in str(e.value)


def test_the_bundled_catalog_loads_with_the_hardened_loader():
    assert {"crond", "debian-console"} <= set(load_catalog())


def test_an_upgrade_index_is_parsed_bounded_and_strict(tmp_path):
    index = tmp_path / "index.yml"
    url = index.as_uri()
    index.write_text("versions:\n- {version: v1.2, url: images/v1.2.img}\n")
    assert upgrade.index_versions(url) == {"v1.2": (tmp_path / "images/v1.2.img").as_uri()}

    index.write_text("versions: []\nversions: [{version: v1, url: x}]\n")
    with pytest.raises(InstallError, match=rf"^{url}:2:1: malformed YAML: found the key 'versions' twice; "
                                           "not an upgrade index$"):
        upgrade.index_versions(url)
    index.write_text(ALIAS_BOMB)
    with pytest.raises(InstallError, match=rf"^{url}: more than 200000 values .*; not an upgrade index$"):
        upgrade.index_versions(url)
    index.write_bytes(b"versions: [\xff]\n")
    with pytest.raises(InstallError, match=rf"^{url}: not UTF-8 text \(byte 11\); not an upgrade index$"):
        upgrade.index_versions(url)
    index.write_text("- just\n- a list\n")
    with pytest.raises(InstallError, match=rf"^{url}: not an upgrade index \(versions"):
        upgrade.index_versions(url)
    with open(index, "wb") as f:  # too big is refused, not cut at 1 MiB and parsed
        f.write(b"versions:\n" + b"- {version: v1, url: x}\n" * ((upgrade.MAX_INDEX >> 4) + 1))
    with pytest.raises(InstallError, match=rf"^{url}: more than 1 MiB, too big for an upgrade index$"):
        upgrade.index_versions(url)


def test_an_oversize_layer_file_is_that_layers_error_and_is_not_read_whole(tmp_path, caplog):
    paths = ConfigPaths(config_dir=tmp_path / "conf", image_config=tmp_path / "image.yml", cmdline=tmp_path / "cmdline")
    paths.datasource_dir.mkdir(parents=True)
    (paths.datasource_dir / "10-ok.yml").write_text("hostname: from-ds\n")
    huge = paths.datasource_dir / "20-huge.yml"
    with open(huge, "wb") as f:   # 1 GiB, sparse: reading it whole would take a GiB of memory
        f.write(b"hostname: huge\n")
        f.truncate(1 << 30)
    paths.local.write_text("rancher: {environment: {A: b}}\n")

    real_open, reads = Path.open, []

    class Counting:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def read(self, n=-1):
            data = self.f.read(n)
            reads.append(len(data))
            return data

    def counting_open(self, *a, **kw):
        f = real_open(self, *a, **kw)
        return Counting(f) if self == huge else f

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "open", counting_open)
        layers = {layer.name: layer for layer in cfg.load_layers(paths)}
        with caplog.at_level(logging.ERROR):
            doc = merge_layers(list(layers.values()))
    assert sum(reads) == yamlio.MAX_BYTES + 1, "read no further than the bound"
    bad = layers["cloud-config.d/20-huge.yml"]
    assert bad.data == {} and bad.error == f"{huge}: more than the 4 MiB a config may hold; refused"
    assert [n for n, layer in layers.items() if layer.error] == ["cloud-config.d/20-huge.yml"]
    assert doc["hostname"] == "from-ds" and doc["rancher"]["environment"] == {"A": "b"}
    assert [r.getMessage() for r in caplog.records] == [
        f"config layer cloud-config.d/20-huge.yml skipped: {huge}: more than the 4 MiB a config may hold; refused"]
    assert os.path.getsize(huge) == 1 << 30


def test_a_layer_of_exactly_the_bound_is_read(tmp_path):
    from rancheros.config.layers import read_layer
    path = tmp_path / "layer.yml"
    body = b"hostname: h\n"
    path.write_bytes(body + b"#" * (yamlio.MAX_BYTES - len(body)))
    layer = read_layer("x", path)
    assert layer.error is None and layer.data == {"hostname": "h"}
