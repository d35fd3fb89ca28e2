"""The catalog images' build, pure parts: recipes, the skip rule and its line, mmdebstrap's and skopeo's argv."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rosbuild lives beside rancheros

from rancheros import __version__  # noqa: E402
from rosbuild.errors import BuildError  # noqa: E402
from rosbuild import bootstrap, catalog, images, oci, publish  # noqa: E402

UBUNTU_SKIP = ("no ubuntu-archive set (--ubuntu-archive URL or ROS_UBUNTU_ARCHIVE) and "
               "no ubuntu-keyring (/usr/share/keyrings/ubuntu-archive-keyring.gpg)")
CONSOLE_PACKAGES = {"bash", "apt", "sudo", "openssh-server", "openssh-sftp-server", "util-linux", "login", "passwd",
                    "iproute2", "procps", "less", "ca-certificates"}


def by_name() -> dict[str, images.Recipe]:
    return {r.name: r for r in catalog.load_recipes()}


def test_catalog_recipes_stay_out_of_the_system_images():
    system = [r.name for r in images.load_all()]
    assert "os-base" in system and not any(n in system for n in ("os-debianconsole", "os-qemu-guest-agent"))
    recipes = catalog.load_recipes()
    order = [r.name for r in recipes]
    assert order.index("os-base") < min(order.index("os-qemu-guest-agent"), order.index("os-openvmtools"))
    assert {r.name for r in recipes} - set(system) == {"os-debianconsole", "os-ubuntuconsole",
                                                        "os-qemu-guest-agent", "os-openvmtools"}


def test_every_image_the_catalog_names_has_a_recipe():
    tags = {r.tag for r in catalog.load_recipes()}
    names = catalog.catalog_names()
    assert {"debian-console", "ubuntu-console", "qemu-guest-agent", "open-vm-tools"} <= set(names.values())
    assert set(names) <= tags, f"catalog images without a recipe: {set(names) - tags}"


def test_console_recipes_bootstrap_the_whole_root():
    recipes = by_name()
    debian, ubuntu = recipes["os-debianconsole"], recipes["os-ubuntuconsole"]
    assert debian.tag == f"rancheros/os-debianconsole:v{__version__}"
    assert debian.base is None and not debian.packages
    assert debian.bootstrap == bootstrap.Bootstrap(
        suite="bookworm", packages=debian.bootstrap.packages, variant="apt",
        keyring="/usr/share/keyrings/debian-archive-keyring.gpg", keyring_package="debian-archive-keyring")
    assert CONSOLE_PACKAGES <= set(debian.bootstrap.packages)
    assert debian.cmd == ["/usr/lib/rancheros/ros", "console", "run"] == ubuntu.cmd
    assert ubuntu.bootstrap.suite == "jammy" and ubuntu.bootstrap.mirror is None
    assert ubuntu.bootstrap.mirror_setting == "ubuntu-archive"
    assert CONSOLE_PACKAGES <= set(ubuntu.bootstrap.packages)


def test_addons_are_deb_recipes_on_os_base():
    recipes = by_name()
    assert recipes["os-qemu-guest-agent"].base == "os-base" == recipes["os-openvmtools"].base
    assert recipes["os-qemu-guest-agent"].cmd[0] == "qemu-ga"
    assert recipes["os-openvmtools"].cmd == ["vmtoolsd"]


def test_bootstrap_recipe_errors_name_the_problem(tmp_path):
    bad = tmp_path / "x.yml"
    bad.write_text("base: os-base\nbootstrap: {suite: bookworm}\n")
    with pytest.raises(BuildError, match="no `base` or `packages`"):
        images.Recipe.load(bad)
    bad.write_text("bootstrap: {suite: bookworm, mirorr: x}\n")
    with pytest.raises(BuildError, match=r"unknown keys \['mirorr'\]"):
        images.Recipe.load(bad)
    bad.write_text("bootstrap: [bookworm]\n")
    with pytest.raises(BuildError, match="at least a `suite`"):
        images.Recipe.load(bad)


def test_ubuntu_console_is_skipped_without_archive_or_keyring():
    ubuntu = by_name()["os-ubuntuconsole"]
    reason = catalog.skip_reason(ubuntu, {}, exists=lambda p: False)
    assert reason == UBUNTU_SKIP
    assert catalog.skip_line("ubuntu-console", reason) == f"catalog: ubuntu-console skipped: {UBUNTU_SKIP}"
    assert catalog.skip_reason(ubuntu, {"ubuntu-archive": "file:///srv/ubuntu"}, exists=lambda p: False) == \
        "no ubuntu-keyring (/usr/share/keyrings/ubuntu-archive-keyring.gpg)"
    assert catalog.skip_reason(ubuntu, {"ubuntu-archive": "file:///srv/ubuntu"}, exists=lambda p: True) is None


def test_debian_console_needs_only_debians_keyring():
    debian = by_name()["os-debianconsole"]
    assert catalog.skip_reason(debian, {}, exists=lambda p: True) is None
    assert catalog.skip_reason(debian, {}, exists=lambda p: False) == \
        "no debian-archive-keyring (/usr/share/keyrings/debian-archive-keyring.gpg)"


def test_addon_without_a_candidate_is_skipped():
    agent = by_name()["os-qemu-guest-agent"]
    assert catalog.skip_reason(agent, {}, available=lambda names: set()) == \
        "no installation candidate for qemu-guest-agent in the host's apt sources"
    assert catalog.skip_reason(agent, {}, available=lambda names: set(names)) is None


def test_settings_from_command_line_then_environment():
    env = {"ROS_UBUNTU_ARCHIVE": "file:///env"}
    assert catalog.settings_from({}, env) == {"ubuntu-archive": "file:///env"}
    assert catalog.settings_from({"ubuntu-archive": "file:///cli"}, env) == {"ubuntu-archive": "file:///cli"}
    assert catalog.settings_from({"ubuntu-archive": None}, {"ROS_UBUNTU_ARCHIVE": "  "}) == {}


def test_mmdebstrap_argv_debian_uses_its_default_sources(tmp_path):
    debian = by_name()["os-debianconsole"]
    argv = bootstrap.argv(catalog.resolved(debian, {}).bootstrap, tmp_path)
    assert argv[:5] == ["mmdebstrap", "--variant=apt", "--mode=root", "--format=directory", "--components=main"]
    assert argv[-2:] == ["bookworm", str(tmp_path)]   # no mirror: Debian's own sources.list
    include = next(a for a in argv if a.startswith("--include="))
    assert CONSOLE_PACKAGES <= set(include.split("=", 1)[1].split(","))
    assert "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg" in argv
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv


def test_mmdebstrap_argv_ubuntu_takes_the_archive_setting(tmp_path):
    ubuntu = catalog.resolved(by_name()["os-ubuntuconsole"], {"ubuntu-archive": "file:///srv/ubuntu"})
    argv = bootstrap.argv(ubuntu.bootstrap, tmp_path)
    assert "--components=main,universe" in argv
    assert argv[argv.index("jammy"):] == ["jammy", str(tmp_path), "file:///srv/ubuntu",
                                          "deb file:///srv/ubuntu jammy-updates main universe",
                                          "deb file:///srv/ubuntu jammy-security main universe"]
    with pytest.raises(BuildError, match="--ubuntu-archive URL"):
        bootstrap.build(by_name()["os-ubuntuconsole"].bootstrap, tmp_path / "root")


def test_installed_packages_reads_dpkg_status(tmp_path):
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(
        "Package: sudo\nStatus: install ok installed\nVersion: 1.9.13p3-1+deb12u1\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
        "Package: bash\nStatus: install ok installed\nDescription: x\n more: y\nVersion: 5.2.15-2+b7\n")
    assert bootstrap.installed_packages(tmp_path) == {"bash": "5.2.15-2+b7", "sudo": "1.9.13p3-1+deb12u1"}


def test_clean_removes_host_identity_and_keeps_apts_dirs(tmp_path):
    for rel in ("etc/ssh/ssh_host_ed25519_key", "etc/ssh/sshd_config", "etc/machine-id", "etc/resolv.conf",
                "var/lib/apt/lists/deb.list", "var/lib/apt/lists/partial/.keep", "dev/null", "var/log/dpkg.log"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    bootstrap.clean(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["etc/ssh/sshd_config", "var/lib/apt/lists/partial/.keep"]


def test_apt_partial_dirs_belong_to_the_trees_apt_user(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n_apt:x:42:65534::/nonexistent:/bin/false\n")
    bootstrap.apt_partial_dirs(tmp_path)
    for rel in bootstrap.APT_PARTIAL:
        st = (tmp_path / rel).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (42, 0, 0o700)


def test_layer_tar_keep_owners_keeps_owners_setuid_and_hard_links(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/shadow").write_text("root:*:1::::::\n")
    os.chown(root / "etc/shadow", 0, 42)
    (root / "sudo").write_bytes(b"\x7fELF")
    os.chmod(root / "sudo", 0o4755)
    os.link(root / "sudo", root / "sudo2")

    def members(**kw) -> dict[str, tarfile.TarInfo]:
        buf = io.BytesIO()
        oci.layer_tar(root, buf, 1700000000, **kw)
        buf.seek(0)
        with tarfile.open(fileobj=buf) as tar:
            return {m.name: m for m in tar.getmembers()}

    plain = members()   # the system images' way: everything root's, links as copies
    assert (plain["etc/shadow"].uid, plain["etc/shadow"].gid) == (0, 0)
    assert plain["sudo2"].isfile() and plain["sudo"].mode == 0o4755
    kept = members(keep_owners=True)
    assert (kept["etc/shadow"].uid, kept["etc/shadow"].gid) == (0, 42)
    assert kept["sudo"].mode == 0o4755 and kept["sudo2"].islnk() and kept["sudo2"].linkname == "sudo"
    assert members(keep_owners=True, owners={"/etc/shadow": (0, 0)})["etc/shadow"].gid == 0


def test_skopeo_argv_and_registry_checks():
    archive = Path("/dist/catalog-images.tar")
    tag = "rancheros/os-debianconsole:v0.1.0"
    assert publish.skopeo_argv(archive, tag, "127.0.0.1:5000", True) == [
        "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
        f"docker-archive:{archive}:{tag}", f"docker://127.0.0.1:5000/{tag}"]
    assert "--dest-tls-verify=true" in publish.skopeo_argv(archive, tag, "192.0.2.10:5000", False)
    assert all(publish.is_loopback(r) for r in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000", "127.0.0.2"))
    assert not any(publish.is_loopback(r) for r in ("192.0.2.10:5000", "registry:5000"))
    for bad in ("http://127.0.0.1:5000", "127.0.0.1:5000/rancheros", ""):
        with pytest.raises(BuildError, match="HOST:PORT"):
            publish.check_registry(bad)


def test_archive_tags_lists_every_image(tmp_path):
    (tmp_path / "l").write_bytes(b"")
    layer = oci.Layer.from_file(tmp_path / "l")
    out = oci.write_archive([oci.Image("rancheros/a:v1", [layer]), oci.Image("rancheros/b:v1", [layer])],
                            tmp_path / "x.tar", 1700000000)
    assert publish.archive_tags(out) == ["rancheros/a:v1", "rancheros/b:v1"]
    (tmp_path / "bad.tar").write_bytes(b"nope")
    with pytest.raises(BuildError, match="not an image archive"):
        publish.archive_tags(tmp_path / "bad.tar")


def test_catalog_manifest_entry_has_layers_or_the_reason(tmp_path):
    (tmp_path / "l").write_bytes(b"abc")
    layer = oci.Layer.from_file(tmp_path / "l")
    built = catalog.CatalogBuild(tmp_path / "c.tar", [images.BuiltImage("rancheros/a:v1", tmp_path / "c.tar",
                                                                        {"sudo": "1"}, [layer])],
                                 {"rancheros/u:v1": "no ubuntu-archive set"}, {"rancheros/u:v1": "ubuntu-console"})
    entry = json.loads(json.dumps(built.manifest()))
    assert entry["rancheros/a:v1"]["layers"] == [{"digest": f"sha256:{layer.digest}", "size": 3}]
    assert entry["rancheros/a:v1"]["size"] == 3
    assert entry["rancheros/u:v1"] == {"catalog": "ubuntu-console", "skipped": "no ubuntu-archive set"}
