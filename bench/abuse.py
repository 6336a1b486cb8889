"""Issue 23's attacks, replayed against a real `switchboard serve` on 127.0.0.1 (bench/abuse.py).

    .venv/bin/python bench/abuse.py [--victim-calls 200] [--slow-calls 400] [--loops 10]
                                    [--half-open 5000] [--header-mb 100] [--flood-workers 20]
                                    [--attack-seconds 20] [--keep]

Two accounts on one server. The victim creates `--victim-calls` calls (answer: <Hangup/>) with
4 at a time, first alone (the baseline), then again while the attacker, all at once:

  (a) runs `--loops` calls whose answerUrl answers <Redirect> to itself,
  (b) runs `--slow-calls` calls whose disconnectUrl sleeps 30 s before answering,
  (c) floods Basic auth with wrong passwords for its own user and unknown users, from
      `--flood-workers` connections,
  (d) opens `--half-open` connections that send half a request head and nothing more,
  (e) streams a `--header-mb` MB header on one connection.

Meanwhile a new connection asks GET /healthz every 50 ms and the server's RSS is read from
/proc every 100 ms. Printed: each figure issue 23 measured on the unhardened server beside
the one measured now, and the targets (the victim's create-call p99 within 2x its unloaded
p99, none of its webhooks refused, the loops ended, the disk bounded). Bounded in count and in
time (the whole run: 240 s at most). The webhook app is this script in another process
(`--app PORT`). See docs/benchmarks.md, "Abuse (issue 23)".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from common import (
    APPLICATION_ID,
    CALLEE,
    CALLS_PATH,
    FROM_NUMBER,
    UNLIMITED_LIMITS,
    USERNAME,
    BenchError,
    Processes,
    Server,
    basic_auth,
    free_port,
    percentile,
    print_checks,
    proc_status_mb,
    progress,
    run_bench,
    start_server,
    switchboard_argv,
    write_config,
)

PASSWORD = "victim-password-123"
ATTACKER_ID = "9900002"
ATTACKER = "attacker"
ATTACKER_PASSWORD = "attacker-password-123"
ATTACKER_NUMBER = "+15555552222"
ATTACKER_CALLS = f"/api/v2/accounts/{ATTACKER_ID}/calls"
ATTACKER_APP = "0b1c1d0e-0000-4000-8000-000000000002"
SLOW_SECONDS = 30.0
TIME_LIMIT_S = 240
LOOP_MAX_DOCUMENTS = 50  # [calls] loop_max_documents, the default
WARM_UP = 8  # victim calls before the baseline, not counted
HANGUP = b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


# -- the webhook app (its own process) --------------------------------------------------------
def serve_app(port: int) -> None:
    counts: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    slow = {"now": 0, "max": 0}

    async def handle(request: web.Request) -> web.Response:
        path = request.path
        counts[path] += 1
        if path == "/loop":
            target = f"http://127.0.0.1:{port}/loop"
            body = f'<Response><Redirect redirectUrl="{target}"/></Response>'
            return web.Response(body=body.encode(), content_type="application/xml")
        if path.endswith("/answer"):
            return web.Response(body=HANGUP, content_type="application/xml")
        if path == "/victim/disconnect":
            event = await request.json()
            causes[str(event.get("cause"))] += 1
        if path == "/slow/disconnect":
            slow["now"] += 1
            slow["max"] = max(slow["max"], slow["now"])
            try:
                await asyncio.sleep(SLOW_SECONDS)
            finally:
                slow["now"] -= 1
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {"counts": counts, "causes": causes, "slow_now": slow["now"], "slow_max": slow["max"]}
        )

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_route("*", "/{tail:.*}", handle)
    # A delivery Switchboard gave up on (callbackTimeout) cancels its handler, so `slow`
    # counts the deliveries really in flight, not sleepers left behind.
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
        handler_cancellation=True,
    )


# -- the run ------------------------------------------------------------------------------------
@dataclass
class Options:
    victim_calls: int
    slow_calls: int
    loops: int
    half_open: int
    header_mb: int
    flood_workers: int
    attack_seconds: float
    keep: bool


@dataclass
class Result:
    baseline_ms: list[float]
    loaded_ms: list[float]
    victim_errors: int
    causes: dict[str, int]
    baseline_healthz_ms: list[float]
    loaded_healthz_ms: list[float]
    rss_before: float
    rss_peak: float
    rss_after: float
    loop_causes: dict[str, int]
    loop_fetches: int
    loop_seconds: float
    slow_max: int
    flood: dict[str, int]
    header_status: str
    header_sent_mb: float
    half_open_opened: int
    half_open_closed: Counter[str] = field(default_factory=Counter)
    disk_before_mb: float = 0.0
    disk_after_mb: float = 0.0
    wal_peak_mb: float = 0.0


def config_text(work: Path) -> Path:
    return write_config(
        work,
        PASSWORD,
        limits=UNLIMITED_LIMITS,
        accounts=f"""
[[accounts]]
id = "{ATTACKER_ID}"
name = "Attacker"
numbers = ["{ATTACKER_NUMBER}"]
  [[accounts.users]]
  username = "{ATTACKER}"
  password = "{ATTACKER_PASSWORD}"
  [[accounts.applications]]
  id = "{ATTACKER_APP}"
  name = "Attacker"
  [accounts.limits]
{UNLIMITED_LIMITS}
""",
    )


def file_mb(path: Path) -> float:
    try:
        return path.stat().st_size / (1024 * 1024)
    except FileNotFoundError:
        return 0.0


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / (1024 * 1024)


async def create(
    session: aiohttp.ClientSession, base: str, path: str, auth: str, body: dict[str, Any]
) -> tuple[int, float, str]:
    started = time.perf_counter()
    async with session.post(
        base + path, json=body, headers={"Authorization": auth}, allow_redirects=False
    ) as response:
        text = await response.text()
        return response.status, (time.perf_counter() - started) * 1000, text


async def victim_round(
    session: aiohttp.ClientSession, base: str, app: str, calls: int
) -> tuple[list[float], int]:
    auth = basic_auth(USERNAME, PASSWORD)
    body = {
        "from": FROM_NUMBER,
        "to": CALLEE,
        "applicationId": APPLICATION_ID,
        "answerUrl": f"{app}/victim/answer",
        "disconnectUrl": f"{app}/victim/disconnect",
    }
    latencies: list[float] = []
    errors = 0
    queue = iter(range(calls))

    async def worker() -> None:
        nonlocal errors
        for _ in queue:
            status, elapsed, _text = await create(session, base, CALLS_PATH, auth, body)
            if status == 201:
                latencies.append(elapsed)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(4)))
    return latencies, errors


async def probe_healthz(base: str, samples: list[float], stop: asyncio.Event) -> None:
    """A new client every 50 ms: one connection, GET /healthz, closed."""
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with session.get(base + "/healthz") as response:
                    await response.read()
                    if response.status == 200:
                        samples.append((time.perf_counter() - started) * 1000)
            except (aiohttp.ClientError, TimeoutError):
                samples.append(float("inf"))
            await asyncio.sleep(0.05)


async def watch_rss(pid: int, peak: list[float], wal: Path, wal_peak: list[float]) -> None:
    while True:
        peak[0] = max(peak[0], proc_status_mb(pid, "VmRSS"))
        wal_peak[0] = max(wal_peak[0], file_mb(wal))
        await asyncio.sleep(0.1)


async def half_open(port: int, count: int, hold: float, closed: Counter[str]) -> int:
    """Open `count` connections that send half a head, keep them `hold` s, and count what the
    server said to each before closing it (408, 503, or nothing within the hold)."""
    writers: list[asyncio.StreamWriter] = []
    readers: list[asyncio.StreamReader] = []
    for _ in range(count):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            closed["refused at connect"] += 1
            continue
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        readers.append(reader)
        writers.append(writer)

    async def outcome(reader: asyncio.StreamReader) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), hold)
        except TimeoutError:
            closed["still open at the end"] += 1
            return
        except OSError:
            closed["reset"] += 1
            return
        parts = line.split()
        closed[parts[1].decode() if len(parts) > 1 else "closed without an answer"] += 1

    await asyncio.gather(*(outcome(reader) for reader in readers))
    for writer in writers:
        writer.close()
    return len(writers)


async def big_header(port: int, megabytes: int) -> tuple[str, float]:
    """Stream a `megabytes` MB header; (the server's answer, MB sent before it stopped us)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
    chunk = b"a" * (1024 * 1024)
    sent = 0
    answer = asyncio.ensure_future(reader.readline())
    try:
        for _ in range(megabytes):
            if answer.done():
                break
            writer.write(chunk)
            await writer.drain()
            sent += 1
        writer.write(b"\r\n\r\n")
        await writer.drain()
    except OSError:
        pass
    try:
        line = await asyncio.wait_for(answer, 10)
    except (TimeoutError, OSError):
        line = b""
    writer.close()
    parts = line.split()
    return (parts[1].decode() if len(parts) > 1 else "no answer"), float(sent)


async def flood(base: str, workers: int, seconds: float) -> Counter[str]:
    """Wrong passwords for the attacker's user and unknown users, each one new (a repeated
    wrong pair is answered from the failure cache, which costs the server nothing)."""
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def worker(index: int) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                user = ATTACKER if n % 2 else f"guess-{index}-{n}"
                auth = basic_auth(user, secrets.token_hex(8))
                try:
                    async with session.post(
                        base + ATTACKER_CALLS, json={}, headers={"Authorization": auth}
                    ) as response:
                        await response.read()
                        statuses[str(response.status)] += 1
                except aiohttp.ClientError:
                    statuses["error"] += 1

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return statuses


async def wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False


async def attack(options: Options, server: Server, app_url: str, data: Path) -> Result:
    base = server.url("")
    pid = server.process.pid
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def stats() -> dict[str, Any]:
            async with session.get(app_url + "/stats") as response:
                result: dict[str, Any] = await response.json()
                return result

        async def victims_done(total: int) -> bool:
            return sum((await stats())["causes"].values()) >= total

        # Baseline: the victim alone.
        rss_before = proc_status_mb(pid, "VmRSS")
        disk_before = dir_mb(data)
        stop = asyncio.Event()
        baseline_healthz: list[float] = []
        prober = asyncio.ensure_future(probe_healthz(base, baseline_healthz, stop))
        progress(f"baseline: {options.victim_calls} victim calls")
        # Warm-up, not counted: the first request runs the slow hash (scrypt) of the
        # victim's password; later ones find it in the cache of verified credentials.
        await victim_round(session, base, app_url, WARM_UP)
        started = time.monotonic()
        baseline, errors = await victim_round(session, base, app_url, options.victim_calls)
        await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - started)))  # enough probes
        stop.set()
        await prober
        await wait_for(lambda: victims_done(WARM_UP + options.victim_calls), 30)

        # The attack.
        peak, wal_peak = [rss_before], [0.0]
        watcher = asyncio.ensure_future(watch_rss(pid, peak, data / "switchboard.db-wal", wal_peak))
        attacker = basic_auth(ATTACKER, ATTACKER_PASSWORD)
        attacker_call = {"from": ATTACKER_NUMBER, "to": CALLEE, "applicationId": ATTACKER_APP}
        loop_ids = []
        progress(f"attack: {options.loops} loops, {options.slow_calls} slow disconnects")
        for _ in range(options.loops):
            status, _, text = await create(
                session,
                base,
                ATTACKER_CALLS,
                attacker,
                {**attacker_call, "answerUrl": app_url + "/loop"},
            )
            if status != 201:
                raise BenchError(f"the attacker's loop call was refused: {status} {text[:300]}")
            loop_ids.append(json.loads(text)["callId"])
        slow_body = {
            **attacker_call,
            "answerUrl": app_url + "/slow/answer",
            "disconnectUrl": app_url + "/slow/disconnect",
        }
        await asyncio.gather(
            *(
                create(session, base, ATTACKER_CALLS, attacker, slow_body)
                for _ in range(options.slow_calls)
            )
        )
        stop = asyncio.Event()
        loaded_healthz: list[float] = []
        prober = asyncio.ensure_future(probe_healthz(base, loaded_healthz, stop))
        closed: Counter[str] = Counter()
        progress(
            f"attack: {options.half_open} half-open connections, a {options.header_mb} MB "
            f"header, {options.flood_workers} password guessers, for {options.attack_seconds:g} s"
        )
        opened_task = asyncio.ensure_future(
            half_open(server.port, options.half_open, options.attack_seconds, closed)
        )
        header_task = asyncio.ensure_future(big_header(server.port, options.header_mb))
        flood_task = asyncio.ensure_future(
            flood(base, options.flood_workers, options.attack_seconds)
        )
        await asyncio.sleep(1)  # the floods are under way
        progress(f"victim: {options.victim_calls} calls under attack")
        loaded, loaded_errors = await victim_round(session, base, app_url, options.victim_calls)
        opened = await opened_task
        header_status, header_sent = await header_task
        flood_statuses = await flood_task
        stop.set()
        await prober

        async def loops_ended() -> bool:
            auth = {"Authorization": attacker}
            for call_id in loop_ids:
                async with session.get(f"{base}{ATTACKER_CALLS}/{call_id}", headers=auth) as r:
                    if (await r.json()).get("state") != "disconnected":
                        return False
            return True

        await wait_for(loops_ended, 60)
        loop_seconds = 0.0  # the longest loop call, start to end
        loop_causes: Counter[str] = Counter()
        for call_id in loop_ids:
            async with session.get(
                f"{base}{ATTACKER_CALLS}/{call_id}", headers={"Authorization": attacker}
            ) as r:
                call = await r.json()
            loop_causes[str(call.get("disconnectCause"))] += 1
            if call.get("startTime") and call.get("endTime"):
                span = datetime.fromisoformat(call["endTime"]) - datetime.fromisoformat(
                    call["startTime"]
                )
                loop_seconds = max(loop_seconds, span.total_seconds())
        await wait_for(lambda: victims_done(WARM_UP + 2 * options.victim_calls), 30)
        app_stats = await stats()
        watcher.cancel()
        return Result(
            baseline_ms=baseline,
            loaded_ms=loaded,
            victim_errors=errors + loaded_errors,
            causes=app_stats["causes"],
            baseline_healthz_ms=baseline_healthz,
            loaded_healthz_ms=loaded_healthz,
            rss_before=rss_before,
            rss_peak=peak[0],
            rss_after=proc_status_mb(pid, "VmRSS"),
            loop_causes=dict(loop_causes),
            loop_fetches=app_stats["counts"].get("/loop", 0),
            loop_seconds=loop_seconds,
            slow_max=app_stats["slow_max"],
            flood=dict(flood_statuses),
            header_status=header_status,
            header_sent_mb=header_sent,
            half_open_opened=opened,
            half_open_closed=closed,
            disk_before_mb=disk_before,
            disk_after_mb=dir_mb(data),
            wal_peak_mb=wal_peak[0],
        )


def run(options: Options, processes: Processes, work: Path) -> Result:
    app_port = free_port()
    app = start_server(
        processes,
        "webhook app",
        [sys.executable, __file__, "--app", str(app_port)],
        app_port,
        None,
        work / "app.log",
    )
    config = config_text(work)
    port = free_port()
    argv = switchboard_argv(config, port)  # not pinned: the machine's 2 cores are shared
    server = start_server(processes, "switchboard", argv, port, None, work / "switchboard.log")
    result = asyncio.run(attack(options, server, app.url(""), work / "data"))
    server.check_running("under attack")
    return result


def ms(values: list[float], share: float) -> str:
    value = percentile(values, share)
    return "none" if not values else ("failed" if value == float("inf") else f"{value:.1f} ms")


def report(result: Result) -> bool:
    base_p99 = percentile(result.baseline_ms, 0.99)
    loaded_p99 = percentile(result.loaded_ms, 0.99)
    refused = sum(n for cause, n in result.causes.items() if cause != "hangup")
    # A loop ends application-error (the loop guard), or callback-error when its webhooks
    # found the attacker's own share of connections held by its slow disconnects.
    ended = sum(result.loop_causes.get(c, 0) for c in ("application-error", "callback-error"))
    print("Issue 23's attacks: what the issue measured on the unhardened server, and now")
    print()
    rows = [
        (
            "redirect loop",
            "one call ran 134 s, 146,374 webhooks, WAL 3.4 GB",
            f"{sum(result.loop_causes.values())} calls ended {result.loop_causes}, the longest "
            f"after {result.loop_seconds:.1f} s, {result.loop_fetches} fetches in all; WAL peak "
            f"{result.wal_peak_mb:.1f} MB; data dir {result.disk_before_mb:.1f} -> "
            f"{result.disk_after_mb:.1f} MB",
        ),
        (
            "100 MB header",
            "read in full, RSS +170 MB, /healthz p90 3.1 s",
            f"answered {result.header_status} after {result.header_sent_mb:.0f} MB sent; the "
            f"server's RSS over the whole attack (all five at once): {result.rss_before:.0f} MB "
            f"before, peak {result.rss_peak:.0f} MB, {result.rss_after:.0f} MB after",
        ),
        (
            "half-open connections",
            "20,000 never timed out; new clients BrokenPipe",
            f"{result.half_open_opened} opened: {dict(result.half_open_closed)}",
        ),
        (
            "/healthz, a new client every 50 ms",
            "p90 3.1 s during the header",
            f"alone p50 {ms(result.baseline_healthz_ms, 0.5)} p90 "
            f"{ms(result.baseline_healthz_ms, 0.9)}; under attack p50 "
            f"{ms(result.loaded_healthz_ms, 0.5)} p90 {ms(result.loaded_healthz_ms, 0.9)} max "
            f"{ms(result.loaded_healthz_ms, 1.0)} ({len(result.loaded_healthz_ms)} probes)",
        ),
        (
            "slow disconnectUrl (30 s)",
            "1,100 deliveries in flight after 8 s; every other account's call callback-error",
            f"at most {result.slow_max} in flight at once; the victim's disconnect causes "
            f"{result.causes}",
        ),
        (
            "wrong-password flood",
            "a valid request 50 ms -> 1 s median; cached user 1.8 ms -> 5.2 s",
            f"answers {result.flood}",
        ),
        (
            "victim's createCall",
            "(not measured)",
            f"alone p50 {ms(result.baseline_ms, 0.5)} p99 {base_p99:.1f} ms; under attack p50 "
            f"{ms(result.loaded_ms, 0.5)} p99 {loaded_p99:.1f} ms; {result.victim_errors} "
            "not created",
        ),
    ]
    for name, before, now in rows:
        print(f"{name}\n  before: {before}\n  now:    {now}")
    print()
    return print_checks(
        [
            (
                f"victim create p99 {loaded_p99:.1f} ms",
                f"<= 2 x {base_p99:.1f} ms",
                loaded_p99 <= 2 * base_p99,
            ),
            (f"victim webhooks not ending in hangup: {refused}", "0", refused == 0),
            (f"victim calls not created: {result.victim_errors}", "0", result.victim_errors == 0),
            (f"loop calls ended: {ended}", "all", ended == sum(result.loop_causes.values())),
            (
                # The guard counts fetches within a sliding window: a loop slowed down by its
                # own account's busy share fetches fewer a window and runs longer.
                f"loop fetches {result.loop_fetches}",
                f"<= {2 * LOOP_MAX_DOCUMENTS} a call",
                result.loop_fetches <= 2 * LOOP_MAX_DOCUMENTS * sum(result.loop_causes.values()),
            ),
            (f"WAL peak {result.wal_peak_mb:.1f} MB", "<= 128 MB", result.wal_peak_mb <= 128),
            (f"slow deliveries in flight {result.slow_max}", "<= 200", result.slow_max <= 200),
            (
                f"100 MB header answered {result.header_status}",
                "431",
                result.header_status == "431",
            ),
            (
                f"RSS peak, whole attack, +{result.rss_peak - result.rss_before:.0f} MB",
                "< +170 MB",
                result.rss_peak - result.rss_before < 170,
            ),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--app", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--victim-calls", type=int, default=200)
    parser.add_argument("--slow-calls", type=int, default=400)
    parser.add_argument("--loops", type=int, default=10)
    parser.add_argument("--half-open", type=int, default=5000)
    parser.add_argument("--header-mb", type=int, default=100)
    parser.add_argument("--flood-workers", type=int, default=20)
    parser.add_argument("--attack-seconds", type=float, default=20.0)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.app is not None:
        serve_app(args.app)
        return 0
    options = Options(
        victim_calls=min(args.victim_calls, 2000),
        slow_calls=min(args.slow_calls, 2000),
        loops=min(args.loops, 50),
        half_open=min(args.half_open, 15000),
        header_mb=min(args.header_mb, 200),
        flood_workers=min(args.flood_workers, 100),
        attack_seconds=min(args.attack_seconds, 60.0),
        keep=args.keep,
    )
    return run_bench(
        lambda processes, work: run(options, processes, work),
        report,
        keep=options.keep,
        check=True,
        time_limit=TIME_LIMIT_S,
    )


if __name__ == "__main__":
    sys.exit(main())
