"""The pure parts of authentication's hardening (issue 23): any header value is a 401 or an
answer, unknown names cost the same hash as wrong passwords, failures are throttled per
address and per name on a clock the test moves, hashes run a bounded number at a time, only
successes are cached, tokens die with their client's secret, and the signing key is re-read."""

from __future__ import annotations

import asyncio
import base64
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.api import auth as auth_module
from switchboard.api.auth import Authenticator, FailureCounter, SigningKey
from switchboard.errors import AuthenticationError, RateLimitError
from switchboard.hardening import ThrottleSettings
from switchboard.provisioning.models import ApiUser, OAuthClient, Snapshot
from switchboard.provisioning.secrets import hash_secret

ACCOUNT = "9900001"
PASSWORD = "right-password"
HASH = hash_secret(PASSWORD)  # made once: scrypt costs ~30 ms
CLIENT_HASH = hash_secret("client-secret")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def snapshot(client_hash: str = CLIENT_HASH) -> Snapshot:
    result = Snapshot()
    result.users["alice"] = ApiUser("alice", ACCOUNT, HASH)
    result.oauth_clients["app"] = OAuthClient("app", ACCOUNT, client_hash)
    return result


def authenticator(
    throttle: ThrottleSettings | None = None,
    clock: Clock | None = None,
    slept: list[float] | None = None,
) -> Authenticator:
    """`slept`: the delays of throttled attempts are recorded there instead of waited for."""
    delays = [] if slept is None else slept

    async def record(seconds: float) -> None:
        delays.append(seconds)

    auth = Authenticator(b"k" * 32, 3600, throttle, now=clock or Clock(), sleep=record)
    auth.use_snapshot(snapshot())
    return auth


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every slow-hash verification, counted; fast (and still right) for the test."""
    calls: list[tuple[str, str]] = []

    def verify(secret: str, stored: str) -> bool:
        calls.append((secret, stored))
        return (stored == HASH and secret == PASSWORD) or (
            stored == CLIENT_HASH and secret == "client-secret"
        )

    monkeypatch.setattr(auth_module, "verify_secret", verify)
    return calls


# -- any header value: 401 or an answer, never anything else ----------------------------------

GENEROUS = ThrottleSettings(per_address=10**9, per_name=10**9)
header_values = st.one_of(
    st.text(),
    st.text().map(lambda t: "Bearer " + t),
    st.text().map(lambda t: "Bearer sbt2." + t),
    st.text().map(lambda t: "Basic " + t),
    st.binary().map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.binary().map(lambda b: b.decode("latin-1")),  # what Starlette makes of any header bytes
    st.binary().map(lambda b: "Bearer sbt2." + b.decode("latin-1")),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=header_values)
def test_any_authorization_header_is_refused_401_or_accepted(value: str) -> None:
    auth = authenticator(GENEROUS)
    try:
        principal = asyncio.run(auth.authenticate(value, "127.0.0.1"))
    except AuthenticationError:
        return
    assert principal.account_id == ACCOUNT  # only a real credential gets in


def test_a_non_ascii_bearer_token_is_401() -> None:
    auth = authenticator()
    with pytest.raises(AuthenticationError):
        asyncio.run(auth.authenticate("Bearer sbt1.eA.\xe9"))
    with pytest.raises(AuthenticationError):
        asyncio.run(auth.authenticate("Bearer sbt2.eA.\xe9"))


# -- unknown names cost what wrong passwords cost ---------------------------------------------


async def test_an_unknown_user_costs_one_hash_like_a_wrong_password(
    checks: list[tuple[str, str]],
) -> None:
    auth = authenticator()
    with pytest.raises(AuthenticationError):
        await auth.authenticate(basic("alice", "wrong"))
    with pytest.raises(AuthenticationError):
        await auth.authenticate(basic("nobody", "wrong"))
    assert [secret for secret, _ in checks] == ["wrong", "wrong"]
    assert checks[1][1] == auth_module.dummy_hash()  # the unknown name: against the dummy


async def test_an_unknown_oauth_client_costs_one_hash_like_a_wrong_secret(
    checks: list[tuple[str, str]],
) -> None:
    auth = authenticator()
    with pytest.raises(AuthenticationError):
        await auth.issue_token(basic("app", "wrong"))
    with pytest.raises(AuthenticationError):
        await auth.issue_token(basic("no-such-client", "wrong"))
    assert len(checks) == 2
    assert checks[1][1] == auth_module.dummy_hash()


async def test_the_dummy_hash_never_lets_anyone_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even a verify that says yes to everything does not make an unknown name a principal.
    monkeypatch.setattr(auth_module, "verify_secret", lambda secret, stored: True)
    auth = authenticator()
    with pytest.raises(AuthenticationError):
        await auth.authenticate(basic("nobody", "anything"))
    with pytest.raises(AuthenticationError):
        await auth.issue_token(basic("nobody", "anything"))


# -- throttling -------------------------------------------------------------------------------


async def test_failures_per_name_are_limited_then_429_until_the_window_ends(
    checks: list[tuple[str, str]],
) -> None:
    clock = Clock()
    auth = authenticator(ThrottleSettings(per_address=1000, per_name=3, window_seconds=60), clock)
    for attempt in range(3):
        with pytest.raises(AuthenticationError):
            await auth.authenticate(basic("alice", f"guess-{attempt}"), f"10.0.0.{attempt}")
    clock.now += 20
    with pytest.raises(RateLimitError) as refused:
        await auth.authenticate(basic("alice", PASSWORD), "10.0.0.99")  # even the right one
    assert refused.value.status == 429
    assert refused.value.headers() == {"Retry-After": "40"}
    assert len(checks) == 3  # the refused attempt ran no hash
    clock.now += 40
    principal = await auth.authenticate(basic("alice", PASSWORD), "10.0.0.99")
    assert principal.name == "alice"


async def test_a_throttled_attempt_is_answered_late_by_at_most_its_retry_after(
    checks: list[tuple[str, str]],
) -> None:
    clock = Clock()
    slept: list[float] = []
    settings = ThrottleSettings(per_address=1000, per_name=1, window_seconds=60)
    auth = authenticator(settings, clock, slept)
    with pytest.raises(AuthenticationError):
        await auth.authenticate(basic("alice", "guess"), "10.0.0.1")
    assert slept == []  # a failure under the limit is answered at once
    with pytest.raises(RateLimitError):
        await auth.authenticate(basic("alice", "guess-2"), "10.0.0.1")
    assert slept == [1.0]  # [auth] throttled_delay_seconds
    clock.now += 59.5  # Retry-After is now 1: the delay is never longer than it
    slow = ThrottleSettings(per_address=1000, per_name=1, throttled_delay_seconds=5)
    auth.throttle = slow
    with pytest.raises(RateLimitError) as refused:
        await auth.authenticate(basic("alice", "guess-3"), "10.0.0.1")
    assert refused.value.headers() == {"Retry-After": "1"}
    assert slept == [1.0, 1.0]
    auth.throttle = ThrottleSettings(per_address=1000, per_name=1, throttled_delay_seconds=0)
    with pytest.raises(RateLimitError):
        await auth.authenticate(basic("alice", "guess-4"), "10.0.0.1")
    assert slept == [1.0, 1.0]  # 0: answered at once
    assert len(checks) == 1  # no refused attempt ran a hash


async def test_failures_per_address_are_limited_whatever_the_names(
    checks: list[tuple[str, str]],
) -> None:
    clock = Clock()
    auth = authenticator(ThrottleSettings(per_address=4, per_name=1000, window_seconds=60), clock)
    for attempt in range(4):
        with pytest.raises(AuthenticationError):
            await auth.authenticate(basic(f"user{attempt}", "x"), "192.0.2.7")
    with pytest.raises(RateLimitError):
        await auth.authenticate(basic("alice", PASSWORD), "192.0.2.7")
    with pytest.raises(RateLimitError):
        await auth.issue_token(basic("app", "client-secret"), "192.0.2.7")
    # Another address is not held by this one's failures.
    assert (await auth.authenticate(basic("alice", PASSWORD), "192.0.2.8")).name == "alice"


async def test_a_cached_success_is_served_while_its_name_is_throttled(
    checks: list[tuple[str, str]],
) -> None:
    auth = authenticator(ThrottleSettings(per_address=1000, per_name=2))
    assert (await auth.authenticate(basic("alice", PASSWORD), "10.0.0.1")).name == "alice"
    for guess in ("a", "b"):
        with pytest.raises(AuthenticationError):
            await auth.authenticate(basic("alice", guess), "10.9.9.9")
    with pytest.raises(RateLimitError):
        await auth.authenticate(basic("alice", "c"), "10.9.9.9")
    # The client that already proved itself keeps working: a guesser cannot lock it out.
    assert (await auth.authenticate(basic("alice", PASSWORD), "10.0.0.1")).name == "alice"


async def test_a_flood_of_failures_does_not_evict_a_cached_success(
    checks: list[tuple[str, str]],
) -> None:
    auth = authenticator(GENEROUS)
    await auth.authenticate(basic("alice", PASSWORD), "10.0.0.1")
    for index in range(auth_module._CACHE_LIMIT + 10):
        with pytest.raises(AuthenticationError):
            await auth.authenticate(basic(f"nobody{index}", "x"), "10.0.0.2")
    hashed = len(checks)
    assert (await auth.authenticate(basic("alice", PASSWORD), "10.0.0.1")).name == "alice"
    assert len(checks) == hashed  # still cached: no new hash


def test_failure_counter_forgets_whole_windows() -> None:
    clock = Clock()
    counter = FailureCounter(limit=2, window=10, now=clock)
    counter.fail("k")
    assert counter.retry_after("k") is None
    counter.fail("k")
    assert counter.retry_after("k") == 10
    clock.now += 9.5
    assert counter.retry_after("k") == 1
    clock.now += 0.5
    assert counter.retry_after("k") is None
    counter.fail("k")  # a new window: one failure
    assert counter.retry_after("k") is None


async def test_no_more_than_hash_concurrency_hashes_run_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lock = threading.Lock()
    running = 0
    peak = 0
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow_verify(secret: str, stored: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        started.release()
        release.wait(10)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(auth_module, "verify_secret", slow_verify)
    auth = authenticator(ThrottleSettings(per_address=10**6, per_name=10**6, hash_concurrency=2))
    attempts = [
        asyncio.ensure_future(auth.authenticate(basic(f"u{i}", "x"), "10.0.0.1")) for i in range(12)
    ]
    for _ in range(2):  # two hashes start...
        await asyncio.to_thread(started.acquire, True, 10)
    for _ in range(20):  # ...and the loop has had every chance to start more
        await asyncio.sleep(0)
    assert peak == 2
    release.set()
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert peak == 2


# -- tokens die with their client's secret ----------------------------------------------------


async def test_a_token_dies_when_its_client_secret_rotates(checks: list[tuple[str, str]]) -> None:
    auth = authenticator()
    token = (await auth.issue_token(basic("app", "client-secret"))).access_token
    assert (await auth.authenticate(f"Bearer {token}")).name == "app"
    auth.use_snapshot(snapshot(client_hash=hash_secret("rotated")))
    with pytest.raises(AuthenticationError):
        await auth.authenticate(f"Bearer {token}")


async def test_a_token_stays_dead_when_its_client_is_removed_and_added_again(
    checks: list[tuple[str, str]],
) -> None:
    auth = authenticator()
    token = (await auth.issue_token(basic("app", "client-secret"))).access_token
    removed = snapshot()
    del removed.oauth_clients["app"]
    auth.use_snapshot(removed)
    with pytest.raises(AuthenticationError):
        await auth.authenticate(f"Bearer {token}")
    # Added again with the same secret: a new salt, a new hash, a different fingerprint.
    auth.use_snapshot(snapshot(client_hash=hash_secret("client-secret")))
    with pytest.raises(AuthenticationError):
        await auth.authenticate(f"Bearer {token}")


def test_the_signing_key_is_reread_when_its_file_changes_or_goes(tmp_path: Path) -> None:
    path = tmp_path / "token-signing.key"
    key = SigningKey(path)
    first = key.current()
    assert path.read_bytes() == first and len(first) == 32
    assert key.current() == first
    path.unlink()
    second = key.current()  # gone: a new key, written anew
    assert second != first
    assert path.read_bytes() == second
    path.write_bytes(b"x" * 32)  # replaced
    assert key.current() == b"x" * 32


def test_the_signing_key_recheck_can_be_spaced_out(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "token-signing.key"
    key = SigningKey(path, recheck_seconds=1.0, now=clock)
    first = key.current()
    path.unlink()
    assert key.current() == first  # not looked at again yet
    clock.now += 1
    assert key.current() != first


async def test_a_check_that_spans_an_accounts_change_is_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # alice's first request is being checked (the slow hash) when the operator removes her:
    # that request gets the answer it began with, but the verdict is not kept for the next.
    entered, release = threading.Event(), threading.Event()

    def slow_verify(secret: str, stored: str) -> bool:
        entered.set()
        release.wait(10)
        return stored == HASH and secret == PASSWORD

    monkeypatch.setattr(auth_module, "verify_secret", slow_verify)
    auth = authenticator()
    first = asyncio.ensure_future(auth.authenticate(basic("alice", PASSWORD), "10.0.0.1"))
    await asyncio.to_thread(entered.wait, 10)
    without_alice = snapshot()
    del without_alice.users["alice"]
    auth.use_snapshot(without_alice)
    release.set()
    assert (await first).name == "alice"
    assert auth.known_principal(basic("alice", PASSWORD)) is None  # not cached
    with pytest.raises(AuthenticationError):
        await auth.authenticate(basic("alice", PASSWORD), "10.0.0.1")
