"""Issue 20 item 8, cloud-init half: each user-data defect the probe found, as one regression test.

Each input gives one clear error (logged, counted) and the rest is still applied; nothing acts
outside the root it is given, and nothing inflates or nests past the bounds of cloud-init's limits.
"""

import gzip
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from cloudinit_fixtures import cloudinit_env  # noqa: F401 (a fixture)

from rancheros.cloudinit import apply, stage, userdata


def run(cloudinit_env, tmp_path, text: bytes | str):
    paths, target = cloudinit_env
    f = tmp_path / "user-data"
    f.write_bytes(text.encode() if isinstance(text, str) else text)
    doc = {"rancher": {"cloud_init": {"datasources": [f"file:{f}"]}}}
    return stage.run_stage(paths, doc, network=False, target=target)


@pytest.mark.parametrize("items, why", [
    ("write_files: just-a-string", "write_files must be a list"),
    ("write_files: [42]", "entry must be a map"),
    ("write_files: [{path: [1, 2], content: x}]", "path must be a string"),
    ('write_files: [{path: "/etc/a\\0b", content: x}]', "contains a NUL byte"),
    ("write_files: [{path: /, content: x}]", "is the root directory itself"),
    ("write_files: [{path: /etc, content: x}]", "is a directory"),
    ("write_files: [{path: /f, content: {a: 1}}]", "content must be a string"),
    ("write_files: [{path: /f, content: x, permissions: [1]}]", "permissions must be an octal mode"),
    ("write_files: [{path: /f, content: x, owner: {a: 1}}]", "owner must be a string"),
])
def test_a_bad_write_files_entry_is_one_error_and_the_stage_goes_on(cloudinit_env, tmp_path, caplog, items, why):
    (cloudinit_env[1].root / "etc").mkdir()
    result = run(cloudinit_env, tmp_path, f"#cloud-config\n{items}\nhostname: still-set\nruncmd: [touch /ran]\n")
    assert result.errors == 1 and why in caplog.text, caplog.text
    assert "Traceback" not in caplog.text
    assert result.config["hostname"] == "still-set"
    assert not (cloudinit_env[1].root / "f").exists()


def test_one_bad_entry_does_not_stop_the_entries_after_it(cloudinit_env, tmp_path, caplog):
    result = run(cloudinit_env, tmp_path, "#cloud-config\nwrite_files:\n  - path: /a\n    content: {bad: 1}\n"
                                "  - 7\n  - path: /b\n    content: ok\n")
    assert result.errors == 2
    assert (cloudinit_env[1].root / "b").read_text() == "ok" and not (cloudinit_env[1].root / "a").exists()
    assert "write_files[0] '/a'" in caplog.text and "write_files[1]" in caplog.text


def test_an_entry_logged_as_skipped_is_not_applied_with_defaults(cloudinit_env, tmp_path, caplog):
    """A wrongly typed field used to be unset (and logged "ignored") and the file written anyway."""
    result = run(cloudinit_env, tmp_path, "#cloud-config\nwrite_files:\n  - path: /secret\n    content: key\n"
                                "    permissions: {mode: 600}\n")
    assert result.errors == 1 and "(skipped)" in caplog.text
    assert not (cloudinit_env[1].root / "secret").exists()


def test_unknown_tag_values_are_one_error(cloudinit_env, tmp_path, caplog):
    for doc in ("#cloud-config\nhostname: !!bool x\n", "#cloud-config\nhostname: !!int _\n",
                "#cloud-config\nhostname: !!timestamp x\n"):
        parsed = userdata.parse(doc.encode())
        assert parsed.cloud_configs == [] and len(parsed.errors) == 1, (doc, parsed.errors)
    result = run(cloudinit_env, tmp_path, "#cloud-config\nhostname: !!bool x\n")
    assert result.errors == 1 and "Traceback" not in caplog.text


def test_a_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(b"#cloud-config\n" + b"\0" * (64 << 20), 9)  # 64 MiB in about 64 KiB
    assert len(bomb) < 200_000
    parsed = userdata.parse(bomb)
    assert parsed.cloud_configs == [] and parsed.errors and "inflates to more than 16 MiB" in parsed.errors[0]
    with pytest.raises(apply.ItemError, match="more than 16 MiB"):
        apply.decode_content(bomb, "gzip")


def nested(levels: int) -> bytes:
    inner = b"Content-Type: text/cloud-config\n\n#cloud-config\nhostname: deep\n"
    for i in range(levels):
        inner = (f'Content-Type: multipart/mixed; boundary="b{i}"\nMIME-Version: 1.0\n\n--b{i}\n'.encode()
                 + inner + f"\n--b{i}--\n".encode())
    return inner


@pytest.mark.parametrize("levels, why", [(40, "nested deeper than 16"), (3000, "more than 200 MIME parts")])
def test_multipart_nested_deep_is_refused_in_one_error(levels, why):
    """3000 levels used to raise RecursionError out of the email parser."""
    parsed = userdata.parse(nested(levels))
    assert parsed.cloud_configs == [] and len(parsed.errors) == 1 and why in parsed.errors[0]
    assert len(userdata.parse(nested(15)).cloud_configs) == 1


def test_too_many_parts_are_refused():
    msg = MIMEMultipart()
    for i in range(300):
        msg.attach(MIMEText(f"#cloud-config\nhostname: h{i}\n", "cloud-config"))
    parsed = userdata.parse(msg.as_bytes())
    assert parsed.cloud_configs == [] and len(parsed.errors) == 1 and "more than 200 MIME parts" in parsed.errors[0]


def test_mounts_stay_inside_the_given_root(cloudinit_env, tmp_path, caplog, monkeypatch):
    ran = []
    monkeypatch.setattr(apply, "_run", lambda argv, name, cwd: ran.append(argv) or True)
    outside = tmp_path / "outside-mnt"
    result = run(cloudinit_env, tmp_path, "#cloud-config\nmounts:\n"
                                f"  - [/dev/vdb, /mnt/../../../../{outside.relative_to('/')}]\n"
                                "  - [--bind, /mnt/x]\n  - [/dev/vdc, /mnt/data, ext4, noatime]\n")
    assert result.errors == 2 and "outside the root filesystem" in caplog.text and "not an option" in caplog.text
    assert not outside.exists()
    assert ran == [["mount", "-t", "ext4", "-o", "noatime", "/dev/vdc", str(cloudinit_env[1].root.resolve() / "mnt/data")]]


def test_a_symlink_in_the_root_cannot_lead_a_write_outside(cloudinit_env, tmp_path, caplog):
    victim = tmp_path / "victim"
    victim.mkdir()
    (cloudinit_env[1].root / "etc").symlink_to(victim)
    result = run(cloudinit_env, tmp_path, "#cloud-config\nwrite_files: [{path: /etc/passwd, content: pwned}]\n")
    assert result.errors == 1 and "outside the root filesystem" in caplog.text
    assert list(victim.iterdir()) == []


def test_runcmd_of_the_wrong_shape_is_one_error_each(cloudinit_env, tmp_path, caplog):
    result = run(cloudinit_env, tmp_path, '#cloud-config\nruncmd:\n  - {a: 1}\n  - []\n  - "touch /ok\\0x"\n'
                                "  - [touch, /dev/null]\n")
    assert result.errors == 3 and "runcmd[0]" in caplog.text and "runcmd[2]" in caplog.text
    assert "Traceback" not in caplog.text
