"""Who is calling: HTTP Basic (API users) and OAuth2 bearer tokens (client credentials).

Secrets are checked with a slow hash once; a success is then cached under a digest of the
Authorization header, so a request authenticates in microseconds. Any provisioning change (here
or by the CLI in another process) clears the cache at once.

Hardening (issue 23, docs/operations.md "Hardening"):
- Every header value, whatever its bytes, is either accepted or refused with 401: parsing never
  raises anything else.
- An unknown user name (or OAuth client id) costs the same slow hash as a wrong password, against
  a dummy hash, so response times do not tell which names exist.
- Failed attempts are counted per source address and per user name; past the limit, attempts
  are refused with 429 and Retry-After before any hash runs. Only successes are cached, so a
  flood of wrong credentials cannot evict a good client's verdict. At most `hash_concurrency`
  slow hashes run at once.
- A bearer token carries a fingerprint of its client's secret hash: rotating the secret, or
  removing the client (and re-adding it: a new hash has a new salt), kills its tokens. The
  signing key is re-read when its file changes or disappears, so deleting it revokes every
  token at once, without a restart.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import math
import os
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard.errors import AuthenticationError, AuthorizationError, RateLimitError
from switchboard.hardening import ThrottleSettings
from switchboard.provisioning.models import Snapshot
from switchboard.provisioning.secrets import hash_secret, verify_secret

_CACHE_LIMIT = 10_000
_TOKEN_PREFIX = "sbt2"  # sbt1 tokens carried no fingerprint of their client's secret
# Verified against when the name is unknown, so that answer costs what a wrong password does.
# Made once, lazily (it costs one slow hash), with the same parameters as every stored hash.
_DUMMY_HASH: list[str] = []


def dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_secret(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    name: str  # username or client_id, for logs
    kind: str  # "user" or "oauth-client"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


class FailureCounter:
    """Failures per key in fixed windows, on a clock the caller gives (tests move it)."""

    _MAX_KEYS = 100_000

    def __init__(self, limit: int, window: float, now: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._now = now
        self._windows: dict[str, tuple[float, int]] = {}

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None when it may try now."""
        entry = self._windows.get(key)
        if entry is None:
            return None
        started, count = entry
        remaining = started + self.window - self._now()
        if remaining <= 0:
            del self._windows[key]
            return None
        return max(1, math.ceil(remaining)) if count >= self.limit else None

    def fail(self, key: str) -> None:
        now = self._now()
        entry = self._windows.get(key)
        if entry is None or entry[0] + self.window <= now:
            if len(self._windows) >= self._MAX_KEYS:
                self._forget_expired(now)
            self._windows[key] = (now, 1)
        else:
            self._windows[key] = (entry[0], entry[1] + 1)

    def _forget_expired(self, now: float) -> None:
        expired = [k for k, (started, _) in self._windows.items() if started + self.window <= now]
        for key in expired:
            del self._windows[key]
        if len(self._windows) >= self._MAX_KEYS:
            # Still full of live windows (a flood of distinct keys): forget the oldest half
            # rather than grow without bound; the per-address counter still holds the flood.
            for key in list(self._windows)[: self._MAX_KEYS // 2]:
                del self._windows[key]


class SigningKey:
    """The key that signs OAuth bearer tokens, made once per data dir and kept private.

    The file is looked at again (one stat, about a microsecond) whenever a token is signed or
    checked, at most once per `recheck_seconds` (0: every time): replaced or deleted, the key
    changes at once (a deleted one is made anew), and every token signed with the old one stops
    working, without a restart."""

    def __init__(
        self,
        path: Path,
        recheck_seconds: float = 0.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._recheck = recheck_seconds
        self._now = now
        self._checked_at = now()
        self._key, self._identity = self._load()

    def current(self) -> bytes:
        now = self._now()
        if now - self._checked_at >= self._recheck:
            self._checked_at = now
            try:
                stat = os.stat(self.path)
                identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                identity = None
            if identity != self._identity:
                self._key, self._identity = self._load()
        return self._key

    def _load(self) -> tuple[bytes, tuple[int, int, int]]:
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(32))
        key = self.path.read_bytes()
        stat = os.stat(self.path)
        return key, (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class _FixedKey:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def current(self) -> bytes:
        return self._key


class Authenticator:
    def __init__(
        self,
        token_secret: bytes | SigningKey,
        token_lifetime_seconds: int = 3600,
        throttle: ThrottleSettings | None = None,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._key = _FixedKey(token_secret) if isinstance(token_secret, bytes) else token_secret
        self._token_lifetime = token_lifetime_seconds
        self.snapshot = Snapshot()
        throttle = throttle or ThrottleSettings()
        self.throttle = throttle
        self._sleep = sleep  # how a throttled attempt waits before its 429 (tests: recorded)
        self._by_address = FailureCounter(throttle.per_address, throttle.window_seconds, now)
        self._by_name = FailureCounter(throttle.per_name, throttle.window_seconds, now)
        self._hashing = asyncio.Semaphore(throttle.hash_concurrency)
        self._hash_threads: ThreadPoolExecutor | None = None  # made on the first slow hash
        self._dummy = dummy_hash()
        # digest of the Authorization header -> principal; successes only, oldest evicted first
        self._verdicts: OrderedDict[bytes, Principal] = OrderedDict()
        # Known-wrong headers, apart: however many there are, they evict no success. (Asking
        # again with the same wrong credentials learns nothing, so it costs no hash either.)
        self._failures: OrderedDict[bytes, None] = OrderedDict()
        self._checking: dict[bytes, asyncio.Future[Principal | None]] = {}

    def use_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._verdicts.clear()
        self._failures.clear()
        self._checking.clear()  # a check in flight used the old snapshot: don't share it

    async def authenticate(self, authorization: str | None, source: str | None = None) -> Principal:
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
                authorization.encode("utf-8", "surrogatepass"), digest_size=20
            ).digest()
            cached = self._verdicts.get(key)
            if cached is not None:
                return cached
            if key in self._failures:
                raise AuthenticationError()
            if key in self._checking:
                # The same credentials are being verified right now: share that one slow hash
                # instead of running it once per waiting request.
                principal = await asyncio.shield(self._checking[key])
            else:
                snapshot = self.snapshot
                check = asyncio.ensure_future(self._verify_basic(scheme, value, source))
                self._checking[key] = check
                try:
                    principal = await asyncio.shield(check)
                finally:
                    if self._checking.get(key) is check:  # not a newer check of a new snapshot
                        del self._checking[key]
                # Checked against accounts that changed meanwhile (a user removed, a password
                # rotated): this request gets that answer, but it is not kept for the next.
                if self.snapshot is snapshot:
                    _remember(self._verdicts if principal else self._failures, key, principal)
        if principal is None:
            raise AuthenticationError()
        return principal

    def known_principal(self, authorization: str | None) -> Principal | None:
        """Who `authorization` is, when that is known without a slow hash (a success cached
        from an earlier request, or a signed token); None when it is not known yet or wrong.
        Synchronous: for answers given before a request reaches the app (api/early_refusal.py);
        it counts no failure, since a None here sends the request on to `authorize`."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._verify_token(value.strip())
        key = hashlib.blake2b(authorization.encode("utf-8", "surrogatepass"), digest_size=20)
        return self._verdicts.get(key.digest())

    async def authorize(
        self, authorization: str | None, account_id: str, source: str | None = None
    ) -> Principal:
        principal = await self.authenticate(authorization, source)
        if principal.account_id != account_id:
            raise AuthorizationError(
                f"Access is denied: these credentials are not valid for account {account_id}"
            )
        return principal

    async def _verify_basic(self, scheme: str, value: str, source: str | None) -> Principal | None:
        if scheme.lower() != "basic":
            return None
        credentials = _decode_basic(value)
        if credentials is None:
            return None
        username, password = credentials
        user = self.snapshot.users.get(username)
        stored = user.password_hash if user is not None else None
        # An unknown name runs the same slow hash (against the dummy) as a wrong password.
        if not await self._check_secret(password, stored, username, source) or user is None:
            return None
        return Principal(user.account_id, username, "user")

    def _throttled_for(self, name: str, source: str | None) -> int | None:
        """Seconds until `name` (and `source`) may try again; None: they may now."""
        waits = [self._by_name.retry_after(name)]
        if source is not None:
            waits.append(self._by_address.retry_after(source))
        return max((w for w in waits if w is not None), default=None)

    async def _check_secret(
        self, secret: str, stored: str | None, name: str, source: str | None
    ) -> bool:
        """One slow hash, unless this address or name failed too often lately (429). `stored`
        None (no such name) is checked against the dummy hash: the same cost, always False."""
        wait = self._throttled_for(name, source)
        if wait is not None:
            # Answered late (a sleep costs no CPU): a guessing loop on a few connections then
            # makes a few attempts a second instead of thousands of 429s (issue 23).
            delay = min(self.throttle.throttled_delay_seconds, wait)
            if delay > 0:
                await self._sleep(delay)
                wait = self._throttled_for(name, source) or 1  # what is left after the wait
            raise RateLimitError("Too many failed authentication attempts; try again later", wait)
        # The slow hash runs off the event loop so other requests keep flowing; at most
        # hash_concurrency at once, so a flood of guesses cannot take every core.
        async with self._hashing:
            if self._hash_threads is None:
                self._hash_threads = ThreadPoolExecutor(
                    self.throttle.hash_concurrency,
                    thread_name_prefix="password-hash",
                    initializer=_lower_this_threads_priority,
                )
            matches = await asyncio.get_running_loop().run_in_executor(
                self._hash_threads, verify_secret, secret, stored or self._dummy
            )
        if matches and stored is not None:
            return True
        self._by_name.fail(name)
        if source is not None:
            self._by_address.fail(source)
        return False

    # -- OAuth2 client credentials ----------------------------------------------------------
    async def issue_token(
        self, authorization: str | None, source: str | None = None
    ) -> IssuedToken:
        """Exchange an OAuth client's Basic credentials for a bearer token."""
        credentials = _decode_basic(authorization.partition(" ")[2]) if authorization else None
        if not authorization or not authorization.lower().startswith("basic ") or not credentials:
            raise AuthenticationError(
                "Client authentication failed: send client_id:client_secret as HTTP Basic"
            )
        client_id, client_secret = credentials
        client = self.snapshot.oauth_clients.get(client_id)
        stored = client.secret_hash if client is not None else None
        if not await self._check_secret(client_secret, stored, client_id, source) or (
            client is None
        ):
            raise AuthenticationError(
                "Client authentication failed: unknown client or wrong secret"
            )
        expires_at = int(time.time()) + self._token_lifetime
        payload = "|".join(
            (
                client_id,
                client.account_id,
                str(expires_at),
                _fingerprint(client.secret_hash),
                secrets.token_hex(8),
            )
        )
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return IssuedToken(f"{_TOKEN_PREFIX}.{encoded}.{self._sign(encoded)}", self._token_lifetime)

    def _verify_token(self, token: str) -> Principal | None:
        # Tokens are signed, not stored: they survive restarts and work on any node.
        if not token.isascii():  # hmac.compare_digest refuses non-ASCII str (a 500 before)
            return None
        try:
            prefix, encoded, signature = token.split(".")
        except ValueError:
            return None
        if prefix != _TOKEN_PREFIX or not hmac.compare_digest(signature, self._sign(encoded)):
            return None
        try:
            padded = encoded + "=" * (-len(encoded) % 4)
            client_id, account_id, expires_at, fingerprint, _ = (
                base64.urlsafe_b64decode(padded).decode().split("|")
            )
            if int(expires_at) < time.time():
                return None
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        client = self.snapshot.oauth_clients.get(client_id)
        if (
            client is None
            or client.account_id != account_id
            or not hmac.compare_digest(fingerprint, _fingerprint(client.secret_hash))
        ):
            return None  # removed, moved, or its secret rotated since the token was issued
        return Principal(account_id, client_id, "oauth-client")

    def _sign(self, encoded: str) -> str:
        digest = hmac.new(self._key.current(), encoded.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# How much less CPU priority the slow-hash threads get than the event loop (Linux nice values
# are per thread). A flood of guesses then takes only the CPU the requests of the calls and of
# the clients already known leave over: measured with bench/abuse.py, 20 guessing connections
# took another account's createCall p99 from 3-4 ms to 15-32 ms while four scrypt threads ran
# at the loop's priority (docs/benchmarks.md, "Abuse").
HASH_THREAD_NICENESS = 10


def _lower_this_threads_priority() -> None:
    if sys.platform != "linux":
        return  # elsewhere setpriority(PRIO_PROCESS, ...) would lower the whole process
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


def _remember(cache: OrderedDict[bytes, Any], key: bytes, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.popitem(last=False)  # the oldest
    cache[key] = value


def _fingerprint(secret_hash: str) -> str:
    """Names one version of a client's secret (its salted hash) without revealing it."""
    return hashlib.blake2b(secret_hash.encode(), digest_size=9).hexdigest()


def _decode_basic(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, separator, password = decoded.partition(":")
    if not separator:
        return None
    return username, password
