"""TLS material for the user Docker: a CA, server and client certificates (python `cryptography`)."""

import datetime
import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rancheros.errors import RosError
from rancheros.network.files import write_shared

log = logging.getLogger(__name__)
VALID_DAYS = 3650
CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server-cert.pem", "server-key.pem"
CLIENT_CERT, CLIENT_KEY = "cert.pem", "key.pem"


class TLSError(RosError):
    """TLS material cannot be read, made or written; names the file."""


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())


def server_dir(config_dir: Path) -> Path:
    """Where the CA and the server's certificate live: beside the config, on the state disk."""
    return Path(config_dir) / "tls"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RancherOS"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(subject: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS)))


def new_ca(cn: str = "rancheros-ca") -> KeyPair:
    """A self-signed CA that signs the server and client certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(cn, _name(cn), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return KeyPair(cert, key)


def subject_alt_names(names: list[str]) -> list[x509.GeneralName]:
    """IP literals become IP SANs, everything else DNS names; duplicates dropped, order kept."""
    sans: list[x509.GeneralName] = []
    for n in dict.fromkeys(n.strip() for n in names if n and n.strip()):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n.split("%")[0])))
        except ValueError:
            sans.append(x509.DNSName(n))
    return sans


def issue(ca: KeyPair, cn: str, server: bool, names: list[str] = ()) -> KeyPair:
    """A leaf certificate signed by `ca`: server auth with SANs, or client auth."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    b = (_builder(cn, ca.cert.subject, key.public_key())
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    sans = subject_alt_names(list(names))
    if server and sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return KeyPair(b.sign(ca.key, hashes.SHA256()), key)


def _write(path: Path, data: bytes) -> None:
    try:
        write_shared(path, data, 0o600)
    except OSError as e:
        raise TLSError(f"cannot write {path}: {e.strerror or e}") from None


def load_pair(cert_path: Path, key_path: Path) -> KeyPair | None:
    """Read a PEM certificate and key; None when either file is missing."""
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as e:
        raise TLSError(f"cannot read {cert_path} / {key_path}: {e}") from None
    return KeyPair(cert, key)


def ensure_ca(server_dir: Path) -> KeyPair:
    """The CA in `server_dir` (ca.pem, ca-key.pem), created there on first use."""
    ca = load_pair(server_dir / CA_CERT, server_dir / CA_KEY)
    if ca is None:
        ca = new_ca()
        _write(server_dir / CA_KEY, ca.key_pem())
        _write(server_dir / CA_CERT, ca.cert_pem())
        log.info("created CA in %s", server_dir)
    return ca


def gen_server(server_dir: Path, names: list[str]) -> Path:
    """CA (kept if present) plus a new server certificate for `names` into `server_dir`."""
    ca = ensure_ca(server_dir)
    pair = issue(ca, names[0] if names else "rancher", server=True, names=names)
    _write(server_dir / SERVER_KEY, pair.key_pem())
    _write(server_dir / SERVER_CERT, pair.cert_pem())
    log.info("server certificate for %s in %s", ", ".join(names), server_dir)
    return server_dir


def gen_client(client_dir: Path, server_dir: Path) -> Path:
    """ca.pem, cert.pem, key.pem for a Docker client into `client_dir`, signed by the server's CA."""
    ca = ensure_ca(server_dir)
    pair = issue(ca, "rancheros-client", server=False)
    _write(client_dir / CA_CERT, ca.cert_pem())
    _write(client_dir / CLIENT_KEY, pair.key_pem())
    _write(client_dir / CLIENT_CERT, pair.cert_pem())
    log.info("client certificate in %s", client_dir)
    return client_dir


def server_names(hostname: str | None, extra: list[str], addresses: list[str]) -> list[str]:
    """What the server certificate must be valid for: the host's name, localhost, its addresses, --hostname values."""
    return list(dict.fromkeys([n for n in [hostname, "localhost", *extra, "127.0.0.1", *addresses] if n]))


def host_addresses() -> list[str]:
    """The machine's IP addresses (loopback and link-local IPv6 left out)."""
    import psutil
    found = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family.name not in ("AF_INET", "AF_INET6"):
                continue
            ip = ipaddress.ip_address(a.address.split("%")[0])
            if not (ip.is_loopback or ip.is_link_local):
                found.append(str(ip))
    return found


def materialize(server_dir: Path, pems: dict[str, str]) -> bool:
    """Write PEMs given in config (ca_cert, ca_key, server_cert, server_key) into `server_dir`; True if all four were."""
    files = {"ca_cert": CA_CERT, "ca_key": CA_KEY, "server_cert": SERVER_CERT, "server_key": SERVER_KEY}
    given = {k: v for k, v in pems.items() if k in files and v}
    for k, v in given.items():
        _write(server_dir / files[k], (v if v.endswith("\n") else v + "\n").encode())
    return len(given) == len(files)
