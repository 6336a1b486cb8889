"""The installation's CA (issue 22): name-constrained to Bandwidth's hostnames, private key
kept private, leaves that real TLS clients accept for those names and refuse for any other."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from switchboard.tls import BANDWIDTH_HOSTNAMES
from switchboard.tls.ca import ensure_ca, ensure_leaf, make_leaf, tls_files


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    """A full TLS handshake between two OpenSSL endpoints over memory buffers: the client
    verifies the server's chain against its own trust and checks `hostname`."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_server, from_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_side = server.wrap_bio(to_server, from_server, server_side=True)
    client_side = client.wrap_bio(to_client, from_client, server_hostname=hostname)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client_side), ("server", server_side)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        to_server.write(from_client.read())
        to_client.write(from_server.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def _server_for(
    cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, tmp: Path
) -> ssl.SSLContext:
    (tmp / "leaf.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "leaf-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "leaf.pem", tmp / "leaf-key.pem")
    return context


def _client_trusting_only(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))  # cafile given: no system roots


def _leaf_signed_by_ca(
    data_dir: Path, names: list[x509.GeneralName]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    files = ensure_ca(data_dir)
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    # make_leaf takes DNS names only: sign its template again with the names under test.
    leaf = make_leaf(
        ca_cert,
        ca_key,
        key.public_key(),
        ("placeholder.invalid",),
        datetime.datetime.now(datetime.UTC),
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    for extension in leaf.extensions:
        if isinstance(extension.value, x509.SubjectAlternativeName):
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        else:
            builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.sign(ca_key, hashes.SHA256()), key


def test_the_served_names_are_trusted_through_the_ca(tmp_path: Path) -> None:
    files = ensure_leaf(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.leaf_cert, files.leaf_key)
    for hostname in BANDWIDTH_HOSTNAMES:
        _handshake(server, _client_trusting_only(files.ca_cert), hostname)


@pytest.mark.parametrize(
    ("hostname", "names"),
    [
        ("www.example.com", [x509.DNSName("www.example.com")]),
        ("bandwidth.com", [x509.DNSName("bandwidth.com")]),
        ("dashboard.bandwidth.com", [x509.DNSName("dashboard.bandwidth.com")]),
        ("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
    ],
)
def test_a_leaf_for_any_other_name_is_refused(
    tmp_path: Path, hostname: str, names: list[x509.GeneralName]
) -> None:
    leaf, key = _leaf_signed_by_ca(tmp_path, names)
    server = _server_for(leaf, key, tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError, match="subtree violation"):
        _handshake(server, _client_trusting_only(tls_files(tmp_path).ca_cert), hostname)


def test_the_constraint_is_critical_and_the_keys_private(tmp_path: Path) -> None:
    files = ensure_leaf(tmp_path)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [
        x509.DNSName("voice.bandwidth.com"),
        x509.DNSName("api.bandwidth.com"),
    ]
    for key_file in (files.ca_key, files.leaf_key):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in files.ca_cert.read_bytes()


def test_made_once_and_the_leaf_renewed_near_expiry(tmp_path: Path) -> None:
    files = ensure_leaf(tmp_path)
    ca_before, leaf_before = files.ca_cert.read_bytes(), files.leaf_cert.read_bytes()
    assert ensure_leaf(tmp_path).leaf_cert.read_bytes() == leaf_before
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=380)
    ensure_leaf(tmp_path, now=later)
    assert files.ca_cert.read_bytes() == ca_before
    assert files.leaf_cert.read_bytes() != leaf_before


def test_a_damaged_leaf_is_made_again_under_the_same_ca(tmp_path: Path) -> None:
    files = ensure_leaf(tmp_path)
    ca_before = files.ca_cert.read_bytes()
    files.leaf_cert.write_text("not a certificate")
    ensure_leaf(tmp_path)
    leaf = x509.load_pem_x509_certificate(files.leaf_cert.read_bytes())
    assert files.ca_cert.read_bytes() == ca_before
    assert leaf.issuer == x509.load_pem_x509_certificate(ca_before).subject
