"""Slow password hashing (scrypt, from the standard library) and constant-time checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt with n=2**14, r=8 costs ~30 ms and 16 MiB: too slow to guess, cheap enough once per
# credential because verified credentials are cached (see api/auth.py).
_N, _R, _P = 2**14, 8, 1
_PREFIX = "scrypt"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encoded = base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()
    return f"{_PREFIX}${_N}${_R}${_P}${encoded}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
        if prefix != _PREFIX:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            secret.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def looks_hashed(value: str) -> bool:
    return value.startswith(_PREFIX + "$")
