"""A certificate authority per installation, name-constrained to Bandwidth's hostnames.

Apps whose SDK hard-codes https://voice.bandwidth.com (bandwidth-sdk 15.x) reach Switchboard
only if their runtime trusts a certificate for that name. The CA that signs it is made here, on
first use, under the data directory; its key never leaves the file (mode 0600). The CA carries
a critical X.509 NameConstraints extension permitting only the names below and no IP address,
so a client that trusts it cannot be made to trust any other site, even by someone who steals
the key.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from switchboard.tls import BANDWIDTH_HOSTNAMES

CA_LIFETIME = datetime.timedelta(days=3650)
# Browsers and Apple's TLS stack refuse server certificates valid for more than 398 days.
LEAF_LIFETIME = datetime.timedelta(days=397)
# A leaf this close to expiry (or for other names) is replaced at the next start.
LEAF_RENEW_BEFORE = datetime.timedelta(days=30)
BACKDATE = datetime.timedelta(hours=1)  # tolerate clients whose clock runs a little slow


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The files under `<data_dir>/tls`. Only the two certificates are meant to be shared."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def leaf_cert(self) -> Path:
        return self.directory / "bandwidth-hosts.pem"

    @property
    def leaf_key(self) -> Path:
        return self.directory / "bandwidth-hosts-key.pem"


def tls_files(data_dir: Path) -> TlsFiles:
    return TlsFiles(data_dir / "tls")


@contextmanager
def _locked(files: TlsFiles) -> Iterator[None]:
    """One process at a time makes or renews the files (`serve` and `switchboard ca path` may
    run at once): two CAs made together could leave one's certificate beside the other's key."""
    files.directory.mkdir(parents=True, exist_ok=True)
    with open(files.directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_ca(data_dir: Path, now: datetime.datetime | None = None) -> TlsFiles:
    """The installation's CA, created if missing; returns where its files are."""
    files = tls_files(data_dir)
    with _locked(files):
        _ensure_ca(files, _now(now))
    return files


def _ensure_ca(files: TlsFiles, now: datetime.datetime) -> None:
    if not (files.ca_cert.exists() and files.ca_key.exists()):
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(files.ca_key, _key_pem(key))
        _write_public(files.ca_cert, make_ca(key, now).public_bytes(serialization.Encoding.PEM))


def ensure_leaf(
    data_dir: Path,
    hostnames: tuple[str, ...] = BANDWIDTH_HOSTNAMES,
    now: datetime.datetime | None = None,
) -> TlsFiles:
    """The CA and a current leaf for `hostnames` signed by it, made or renewed as needed."""
    files = tls_files(data_dir)
    moment = _now(now)
    with _locked(files):
        _ensure_ca(files, moment)
        if not _leaf_is_current(files, hostnames, moment):
            _make_leaf_files(files, hostnames, moment)
    return files


def _make_leaf_files(
    files: TlsFiles, hostnames: tuple[str, ...], moment: datetime.datetime
) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key} is not the EC key Switchboard made")
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_leaf(ca_cert, ca_key, key.public_key(), hostnames, moment)
    _write_private(files.leaf_key, _key_pem(key))
    _write_public(files.leaf_cert, leaf.public_bytes(serialization.Encoding.PEM))


def make_ca(key: ec.EllipticCurvePrivateKey, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Switchboard (local)"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"Switchboard local CA for Bandwidth hosts {now:%Y%m%d%H%M%S}"
            ),
        ]
    )
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(host) for host in BANDWIDTH_HOSTNAMES],
        # A DNS-only permit says nothing about IP addresses: exclude them all explicitly.
        excluded_subtrees=[
            x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")),
            x509.IPAddress(ipaddress.ip_network("::/0")),
        ],
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(constraints, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    public: ec.EllipticCurvePublicKey,
    hostnames: tuple[str, ...],
    now: datetime.datetime,
) -> x509.Certificate:
    """A server certificate for `hostnames` signed by the CA (which may refuse to vouch for them:
    tests sign other names on purpose to show clients reject those)."""
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host) for host in hostnames]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _leaf_is_current(files: TlsFiles, hostnames: tuple[str, ...], now: datetime.datetime) -> bool:
    if not (files.leaf_cert.exists() and files.leaf_key.exists()):
        return False
    try:
        leaf = x509.load_pem_x509_certificate(files.leaf_cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False  # damaged or not ours: the leaf is only ever derived, so make it again
    return (
        leaf.issuer == ca.subject  # the CA was replaced: its old leaf no longer chains
        and set(names.get_values_for_type(x509.DNSName)) == set(hostnames)
        and leaf.not_valid_after_utc - now > LEAF_RENEW_BEFORE
    )


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now or datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Written to a new 0600 file, then renamed: the key is never readable by others, even
    for a moment, and a crash leaves the old file or the new one, never half of one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _write_public(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
