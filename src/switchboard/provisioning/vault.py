"""Secrets Switchboard must send on, not just check: sealed with AES-GCM under a key file.

Passwords users log in with are hashed (secrets.py). An application's callback credentials are
different: Switchboard sends them to the application's server on every inbound call, so it must
be able to read them back. They are stored sealed (`sealed$v1$<nonce+ciphertext, base64>`) under
a 256-bit key in `secrets.key` in the data directory (created with mode 0600 on first use), so a
copy of the database alone reveals none of them.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "secrets.key"
_PREFIX = "sealed$v1$"
_NONCE_BYTES = 12


class VaultError(Exception):
    """A sealed value could not be opened (another data directory's key, or a damaged value)."""


class Vault:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def in_directory(cls, data_dir: Path) -> Vault:
        """The vault of a data directory, creating its key file on first use."""
        path = data_dir / KEY_FILE
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            data_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_bytes(32)
            # O_EXCL: two processes starting at once must not each write a different key.
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                key = path.read_bytes()
            else:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(key)
        if len(key) != 32:
            raise VaultError(f"{path} is not a Switchboard key file (it must hold 32 bytes)")
        return cls(key)

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, secret.encode(), None)
        return _PREFIX + base64.b64encode(sealed).decode()

    def open(self, sealed: str) -> str:
        if not is_sealed(sealed):
            raise VaultError("not a sealed value")
        try:
            raw = base64.b64decode(sealed[len(_PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode()
        except (ValueError, InvalidTag):
            raise VaultError(
                f"a stored secret cannot be opened with this data directory's {KEY_FILE} "
                "(was the key file replaced?); set the application's credentials again"
            ) from None


def is_sealed(value: str) -> bool:
    return value.startswith(_PREFIX)
