"""User `rancher` and group `docker` in the console's /etc, edited as text; passwords through chpasswd."""

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from rancheros.network.files import write_shared
from rancheros.userdocker.dockerd import DOCKER_GID

log = logging.getLogger(__name__)
USER, UID = "rancher", 1100
LOCKED = "*"  # no password: key login only (sshd treats "!" as a locked account, "*" not)
HASH_PREFIXES = ("$1$", "$5$", "$6$", "$y$", "$2b$")


@dataclass(frozen=True)
class Account:
    """The login user of the console."""

    name: str = USER
    uid: int = UID
    home: str = f"/home/{USER}"
    shell: str = "/bin/bash"


def upsert(text: str, key: str, line: str) -> str:
    """Replace the line whose first field is `key` (or append it) in a colon file."""
    lines = [l for l in text.splitlines() if l.strip()]
    for i, existing in enumerate(lines):
        if existing.split(":", 1)[0] == key:
            lines[i] = line
            break
    else:
        lines.append(line)
    return "\n".join(lines) + "\n"


def ensure_line(text: str, key: str, line: str) -> str:
    """Append `line` unless an entry named `key` exists (existing entries are left as they are)."""
    if any(l.split(":", 1)[0] == key for l in text.splitlines()):
        return text
    return upsert(text, key, line)


def with_member(text: str, group: str, gid: int, user: str) -> str:
    """Group `group` with exactly `gid` (the user Docker's socket group) and `user` among its members."""
    for existing in text.splitlines():
        fields = existing.split(":")
        if fields[0] == group and len(fields) == 4:
            members = [m for m in fields[3].split(",") if m]
            if user not in members:
                members.append(user)
            return upsert(text, group, ":".join(fields[:2] + [str(gid), ",".join(members)]))
    return upsert(text, group, f"{group}:x:{gid}:{user}")


def shadow_line(existing: str, user: str, password_hash: str | None) -> str:
    """The user's shadow line, keeping the aging fields, with `password_hash` or the locked marker."""
    for line in existing.splitlines():
        fields = line.split(":")
        if fields[0] == user and len(fields) == 9:
            fields[1] = password_hash or LOCKED
            return ":".join(fields)
    return f"{user}:{password_hash or LOCKED}:19000:0:99999:7:::"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def ensure_account(root: Path, account: Account = Account()) -> None:
    """passwd, group (own group, `docker`), shadow (locked), sudoers and a home owned by the user."""
    etc = Path(root) / "etc"
    shell = account.shell if (Path(root) / account.shell.lstrip("/")).exists() else "/bin/sh"
    passwd = upsert(_read(etc / "passwd"), account.name,
                    f"{account.name}:x:{account.uid}:{account.uid}:{account.name}:{account.home}:{shell}")
    group = with_member(ensure_line(_read(etc / "group"), account.name, f"{account.name}:x:{account.uid}:"),
                        "docker", DOCKER_GID, account.name)
    shadow = ensure_line(_read(etc / "shadow"), account.name, shadow_line("", account.name, None))
    write_shared(etc / "passwd", passwd, 0o644)
    write_shared(etc / "group", group, 0o644)
    write_shared(etc / "shadow", shadow, 0o640)
    write_shared(etc / "sudoers.d" / account.name, f"{account.name} ALL=(ALL) NOPASSWD: ALL\n", 0o440)
    home = Path(root) / account.home.lstrip("/")
    if not home.exists():
        home.mkdir(parents=True, mode=0o750)
        os.chown(home, account.uid, account.uid)


def password_hash(password: str) -> str:
    """A SHA-512 crypt hash for shadow; a value that already is a crypt hash is kept as given."""
    if password.startswith(HASH_PREFIXES):
        return password
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt: libcrypt, as chpasswd uses
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def set_password(root: Path, user: str, password: str | None) -> None:
    """With a password (plain or a crypt hash): set it in shadow; without: lock password login."""
    path = Path(root) / "etc" / "shadow"
    text = _read(path)
    write_shared(path, upsert(text, user, shadow_line(text, user, password_hash(password) if password else None)), 0o640)
    if password:
        log.info("password login enabled for %s", user)
