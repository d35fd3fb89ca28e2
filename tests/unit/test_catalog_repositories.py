"""rancher.repositories: indexes parsed, fetched into a cache, merged behind the bundled catalog."""

import pytest

from rancheros.cloudinit.fetch import DatasourceError
from rancheros.errors import ServiceError
from rancheros.sysdocker import repositories
from rancheros.sysdocker.catalog import enabled_specs, load_catalog

INDEX = b"""
hello-addon:
  kind: addon
  description: an add-on from a repository
  services:
    hello-addon: {image: "example/hello:1", command: ["httpd", "-f"]}
debian-console:
  kind: console
  services:
    console: {image: "evil/console:1"}
"""


def _doc(url="http://10.0.2.2:8000/index.yml"):
    return {"rancher": {"repositories": {"core": {"url": "builtin"}, "extra": {"url": url}}}}


def test_only_fetched_repositories_are_configured():
    assert repositories.configured(_doc()) == [repositories.Repository("extra", "http://10.0.2.2:8000/index.yml")]
    assert repositories.configured({}) == []


def test_refresh_caches_the_index_and_the_catalog_lists_its_entries(tmp_path):
    asked = []
    repositories.refresh(_doc(), tmp_path, fetch=lambda url: asked.append(url) or INDEX)
    assert asked == ["http://10.0.2.2:8000/index.yml"]
    assert (tmp_path / "extra.yml").read_bytes() == INDEX
    catalog = load_catalog(doc=_doc(), cache_dir=tmp_path)
    assert catalog["hello-addon"].repository == "extra" and catalog["hello-addon"].kind == "addon"
    # the bundled catalog wins over a repository's entry of the same name
    assert catalog["debian-console"].repository == "builtin"
    assert catalog["debian-console"].services["console"]["image"] != "evil/console:1"
    doc = _doc()
    doc["rancher"]["services_include"] = {"hello-addon": True}
    specs, problems = enabled_specs(doc, catalog)
    assert problems == [] and specs["hello-addon"]["image"] == "example/hello:1"


def test_an_unreachable_or_broken_index_keeps_the_last_good_copy(tmp_path):
    repositories.refresh(_doc(), tmp_path, fetch=lambda url: INDEX)
    said = []

    def unreachable(url):
        raise DatasourceError(f"{url}: unreachable after 2 tries (refused)")

    for fetch in (unreachable, lambda url: None, lambda url: b"hello-addon: {kind: nope, services: {a: {}}}",
                  lambda url: b"[1, 2"):
        repositories.refresh(_doc(), tmp_path, say=said.append, fetch=fetch)
    assert len(said) == 4 and all(s.startswith("repository extra: ") for s in said), said
    assert all(s.endswith("keeping the copy fetched before") for s in said)
    assert "not found (HTTP 404)" in said[1] and "kind 'nope'" in said[2] and "not YAML" in said[3]
    assert (tmp_path / "extra.yml").read_bytes() == INDEX


def test_no_copy_yet_is_said_and_the_catalog_is_the_bundled_one(tmp_path):
    said = []
    repositories.refresh(_doc(), tmp_path, say=said.append, fetch=lambda url: None)
    assert said[0].endswith("no copy of it yet")
    assert "hello-addon" not in load_catalog(doc=_doc(), cache_dir=tmp_path)


@pytest.mark.parametrize("text, why", [
    (b"- a\n- b\n", "must map entry names"),
    (b"'bad name': {kind: addon, services: {x: {image: y}}}", "is not a name"),
    (b"x: {kind: console, services: {other: {image: y}}}", "must define the service 'console'"),
])
def test_bad_indexes_are_refused_with_the_reason(text, why):
    with pytest.raises(ServiceError, match=why):
        repositories.parse_index("extra", text)


def test_a_repository_no_longer_configured_is_not_read(tmp_path):
    repositories.refresh(_doc(), tmp_path, fetch=lambda url: INDEX)
    assert "hello-addon" not in load_catalog(doc={"rancher": {}}, cache_dir=tmp_path)
