"""Who is calling: HTTP Basic (API users) and OAuth2 bearer tokens (client credentials).

Secrets are checked with a slow hash once; the verdict is then cached under a digest of the
Authorization header, so a request authenticates in microseconds. Any provisioning change (here
or by the CLI in another process) clears the cache at once, and a bearer token is only honoured
while its client still exists.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from switchboard.errors import AuthenticationError, AuthorizationError
from switchboard.provisioning.models import Snapshot
from switchboard.provisioning.secrets import verify_secret

_CACHE_LIMIT = 10_000
_TOKEN_PREFIX = "sbt1"


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    name: str  # username or client_id, for logs
    kind: str  # "user" or "oauth-client"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


class Authenticator:
    def __init__(self, token_secret: bytes, token_lifetime_seconds: int = 3600) -> None:
        self._token_secret = token_secret
        self._token_lifetime = token_lifetime_seconds
        self.snapshot = Snapshot()
        # digest of the Authorization header -> principal (None: known to be wrong)
        self._verdicts: dict[bytes, Principal | None] = {}
        self._checking: dict[bytes, asyncio.Future[Principal | None]] = {}

    def use_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._verdicts.clear()
        self._checking.clear()  # a check in flight used the old snapshot: don't share it

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthenticationError(
                "Authentication is required: use HTTP Basic or a Bearer token"
            )
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            # Checking a signed token costs microseconds and must see its expiry: no cache.
            principal = self._verify_token(value.strip())
        else:
            key = hashlib.blake2b(
                authorization.encode("utf-8", "surrogateescape"), digest_size=20
            ).digest()
            if key in self._verdicts:
                principal = self._verdicts[key]
            elif key in self._checking:
                # The same credentials are being verified right now: share that one slow hash
                # instead of running it once per waiting request.
                principal = await asyncio.shield(self._checking[key])
            else:
                check = asyncio.ensure_future(self._verify_basic(scheme, value))
                self._checking[key] = check
                try:
                    principal = await asyncio.shield(check)
                finally:
                    self._checking.pop(key, None)
                if len(self._verdicts) >= _CACHE_LIMIT:
                    self._verdicts.clear()
                self._verdicts[key] = principal
        if principal is None:
            raise AuthenticationError()
        return principal

    async def authorize(self, authorization: str | None, account_id: str) -> Principal:
        principal = await self.authenticate(authorization)
        if principal.account_id != account_id:
            raise AuthorizationError(
                f"Access is denied: these credentials are not valid for account {account_id}"
            )
        return principal

    async def _verify_basic(self, scheme: str, value: str) -> Principal | None:
        if scheme.lower() != "basic":
            return None
        credentials = _decode_basic(value)
        if credentials is None:
            return None
        username, password = credentials
        user = self.snapshot.users.get(username)
        if user is None:
            return None
        # The slow hash runs off the event loop so other requests keep flowing.
        if not await asyncio.to_thread(verify_secret, password, user.password_hash):
            return None
        return Principal(user.account_id, username, "user")

    # -- OAuth2 client credentials ----------------------------------------------------------
    async def issue_token(self, authorization: str | None) -> IssuedToken:
        """Exchange an OAuth client's Basic credentials for a bearer token."""
        credentials = _decode_basic(authorization.partition(" ")[2]) if authorization else None
        if not authorization or not authorization.lower().startswith("basic ") or not credentials:
            raise AuthenticationError(
                "Client authentication failed: send client_id:client_secret as HTTP Basic"
            )
        client_id, client_secret = credentials
        client = self.snapshot.oauth_clients.get(client_id)
        if client is None or not await asyncio.to_thread(
            verify_secret, client_secret, client.secret_hash
        ):
            raise AuthenticationError(
                "Client authentication failed: unknown client or wrong secret"
            )
        expires_at = int(time.time()) + self._token_lifetime
        payload = f"{client_id}|{client.account_id}|{expires_at}|{secrets.token_hex(8)}"
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return IssuedToken(f"{_TOKEN_PREFIX}.{encoded}.{self._sign(encoded)}", self._token_lifetime)

    def _verify_token(self, token: str) -> Principal | None:
        # Tokens are signed, not stored: they survive restarts and work on any node.
        try:
            prefix, encoded, signature = token.split(".")
        except ValueError:
            return None
        if prefix != _TOKEN_PREFIX or not hmac.compare_digest(signature, self._sign(encoded)):
            return None
        try:
            padded = encoded + "=" * (-len(encoded) % 4)
            client_id, account_id, expires_at, _ = (
                base64.urlsafe_b64decode(padded).decode().split("|")
            )
            if int(expires_at) < time.time():
                return None
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        client = self.snapshot.oauth_clients.get(client_id)
        if client is None or client.account_id != account_id:
            return None
        return Principal(account_id, client_id, "oauth-client")

    def _sign(self, encoded: str) -> str:
        digest = hmac.new(self._token_secret, encoded.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _decode_basic(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, separator, password = decoded.partition(":")
    if not separator:
        return None
    return username, password
