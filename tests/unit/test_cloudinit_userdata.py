"""User-data parsing: every format, and bad input that keeps the good parts."""

import gzip
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from rancheros.cloudinit import userdata
from rancheros.cloudinit.metadata import from_nocloud, from_openstack


def mime(*parts: tuple[str, str]) -> bytes:
    msg = MIMEMultipart()
    for subtype, text in parts:
        msg.attach(MIMEText(text, subtype))
    return msg.as_bytes()


def test_cloud_config():
    ud = userdata.parse(b"#cloud-config\nhostname: h1\nrancher:\n  debug: true\n")
    assert ud.cloud_configs == [{"hostname": "h1", "rancher": {"debug": True}}]
    assert not ud.scripts and not ud.errors


def test_script():
    ud = userdata.parse(b"#!/bin/sh\necho hi\n")
    assert ud.scripts[0].content.startswith(b"#!/bin/sh")


def test_gzip_of_cloud_config():
    ud = userdata.parse(gzip.compress(b"#cloud-config\nhostname: gz\n"))
    assert ud.cloud_configs == [{"hostname": "gz"}]


def test_mime_multipart_mixes_both_and_gzip_outside():
    doc = mime(("cloud-config", "#cloud-config\nhostname: m\n"), ("x-shellscript", "#!/bin/sh\ntrue\n"))
    ud = userdata.parse(gzip.compress(doc))
    assert ud.cloud_configs == [{"hostname": "m"}]
    assert len(ud.scripts) == 1 and ud.scripts[0].content.startswith(b"#!/bin/sh")
    assert not ud.errors


def test_malformed_yaml_names_line_and_column_and_keeps_other_parts():
    doc = mime(("cloud-config", "#cloud-config\nhostname: [oops\n"), ("x-shellscript", "#!/bin/sh\ntrue\n"))
    ud = userdata.parse(doc)
    assert ud.cloud_configs == []
    assert len(ud.scripts) == 1
    assert len(ud.errors) == 1 and "part 1" in ud.errors[0] and ":3:" in ud.errors[0]


def test_unknown_format_and_corrupt_gzip_are_errors():
    assert "unknown user-data format" in userdata.parse(b"hello\n").errors[0]
    assert "gzip" in userdata.parse(b"\x1f\x8bnot really").errors[0]


def test_cloud_config_must_be_a_map():
    assert "mapping" in userdata.parse(b"#cloud-config\n- a\n").errors[0]


def test_empty_is_nothing():
    ud = userdata.parse(b"")
    assert (ud.cloud_configs, ud.scripts, ud.errors) == ([], [], [])


def test_openstack_metadata():
    meta = from_openstack(b'{"uuid": "i-1", "hostname": "vm1", "public_keys": {"k": "ssh-ed25519 AAAA x"}}')
    assert (meta.instance_id, meta.hostname, meta.public_keys) == ("i-1", "vm1", ["ssh-ed25519 AAAA x"])


def test_nocloud_metadata():
    meta = from_nocloud(b"instance-id: iid-1\nlocal-hostname: n1\npublic-keys:\n  - ssh-rsa AAAA y\n")
    assert (meta.instance_id, meta.hostname, meta.public_keys) == ("iid-1", "n1", ["ssh-rsa AAAA y"])
