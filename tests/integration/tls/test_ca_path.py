"""`switchboard ca path` (issue 22): the CA certificate's path, made on first use, the same on
every later call; the key beside it is never printed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from switchboard.cli import main


def test_prints_the_ca_certificate_path_and_never_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    assert main(["ca", "path", "--data-dir", str(data_dir)]) == 0
    first = capsys.readouterr()
    printed = Path(first.out.strip())
    assert printed == (data_dir / "tls" / "ca.pem").resolve()
    ca = x509.load_pem_x509_certificate(printed.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = data_dir / "tls" / "ca-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in first.out + first.err

    assert main(["ca", "path", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out == first.out
    assert x509.load_pem_x509_certificate(printed.read_bytes()) == ca
