"""A Switchboard for an application's own tests: a real server on 127.0.0.1 whose clock only
moves when the test says (issue 14). The pytest plugin (switchboard/testing/plugin.py) hands
one to a test as the `switchboard` fixture; nothing here needs pytest, so a test runner of
another kind can use `start()` directly.

What is real: the HTTP API (the official SDK talks to it over a socket), the call engine, the
webhooks it sends to the application (real HTTP requests, answered in real time), the SQLite
store. What is virtual: the phone network (docs/simulated-network.md) and the clock, so a
60-second IVR flow runs in milliseconds and never sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ACCOUNT_ID = "9901001"
USERNAME = "test-user"
PASSWORD = "test-user-password"
APPLICATION_ID = "4e2a1f9c-7d3b-4c55-9a1e-0c8d2b6f1a01"
NUMBERS = ("+15555550100", "+15555550101")

CONFIG = f"""
[server]
data_dir = "data"

[[accounts]]
id = "{ACCOUNT_ID}"
name = "Test account"
numbers = {json.dumps(list(NUMBERS))}
  [[accounts.users]]
  username = "{USERNAME}"
  password = "{PASSWORD}"
  [[accounts.applications]]
  id = "{APPLICATION_ID}"
  name = "Application under test"
  numbers = {json.dumps(list(NUMBERS))}

# Time is virtual here; the event loop's lag is real. On a busy CI machine (or with a debugger
# paused) the loop falls behind, and the node's admission control would answer the app's next
# createCall with 503: not what an app's test is about. Node capacity still applies.
[overload]
max_loop_lag_seconds = 0
max_backlog = 0
"""

# How far wait_for lets virtual time run before it gives up (an hour of call time costs
# nothing when no timer is due, and a flow that needs more is not waiting, it is stuck).
DEFAULT_WAIT_SECONDS = 3600.0


class SwitchboardError(Exception):
    """Switchboard's API refused a request the harness made for the test: the message is the
    API's own description."""


class WaitTimeout(AssertionError):
    """wait_for: the call never got there. An AssertionError, so pytest shows it as a failed
    expectation (with the call's timeline, see the plugin) rather than as a crash."""


@dataclass
class Call:
    """A call as Switchboard saw it when `switchboard.call(call_id)` was asked: its state, its
    timeline (the entries of GET /switchboard/v1/.../timeline) and the webhooks it sent."""

    call_id: str
    state: str
    direction: str
    disconnect_cause: str | None
    timeline: list[dict[str, Any]]
    _harness: Switchboard = field(repr=False)

    def webhooks(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The bodies of the webhooks sent for this call (of `event_type`: "answer", "gather",
        "disconnect", ...), oldest first. A webhook retried or sent to its fallback URL is
        listed once: every attempt carries the same body."""
        bodies: list[dict[str, Any]] = []
        previous: object = None
        for entry in self.timeline:
            if entry.get("kind") != "webhook":
                continue
            body = entry.get("request")
            if body == previous:
                continue
            previous = body
            if not isinstance(body, dict):
                continue
            if event_type is None or body.get("eventType") == event_type:
                bodies.append(body)
        return bodies

    @property
    def events(self) -> list[str]:
        """The event types of the webhooks sent, in order: ["initiate", "gather", ...]."""
        return [str(body.get("eventType")) for body in self.webhooks()]

    @property
    def states(self) -> list[str]:
        """The states the call went through, in order."""
        return [str(e["state"]) for e in self.timeline if e.get("kind") == "state"]

    def entries(self, kind: str) -> list[dict[str, Any]]:
        """The timeline entries of one kind ("state", "webhook", "verb", ...)."""
        return [entry for entry in self.timeline if entry.get("kind") == kind]

    # The phone at the other end, played by the test (docs/simulated-network.md, "Acting as
    # the callee of a live call"); the call's own record above is not refreshed by these.
    def answer(self) -> None:
        self._harness.callee(self.call_id, "answer")

    def reject(self) -> None:
        self._harness.callee(self.call_id, "reject")

    def busy(self) -> None:
        self._harness.callee(self.call_id, "busy")

    def press(self, digits: str) -> None:
        self._harness.callee(self.call_id, "press", digits=digits)

    def hangup(self) -> None:
        self._harness.callee(self.call_id, "hangup")

    def describe(self) -> str:
        """The timeline, one line per entry, as a failing test prints it."""
        lines = [f"call {self.call_id} ({self.direction}): {self.state}"]
        if self.disconnect_cause:
            lines[0] += f", cause {self.disconnect_cause}"
        lines += [_entry_line(entry) for entry in self.timeline]
        return "\n".join(lines)


def _entry_line(entry: dict[str, Any]) -> str:
    details = {k: v for k, v in entry.items() if k not in ("sequence", "at", "kind")}
    if entry.get("kind") == "webhook":
        # The request body is on the webhook's line already as its event type; the whole body
        # is long, so only what a reader looks for first.
        request = details.pop("request", None)
        details.pop("eventType", None)
        event = request.get("eventType") if isinstance(request, dict) else None
        summary = [f"{event}", f"{details.pop('method', '')} {details.pop('url', '')}"]
        summary.append(f"-> {details.pop('status', None)}")
        if isinstance(request, dict):
            interesting = {
                k: request[k]
                for k in ("digits", "terminatingDigit", "cause", "errorMessage", "tag")
                if request.get(k) not in (None, "")
            }
            if interesting:
                summary.append(json.dumps(interesting))
        body = details.pop("responseBody", None)
        if body:
            summary.append(f"answered {body!r}")
        error = details.pop("error", None)
        if error:
            summary.append(f"error: {error}")
        return f"  {entry.get('at')}  webhook  " + "  ".join(summary)
    text = " ".join(f"{k}={v!r}" for k, v in details.items() if v is not None)
    return f"  {entry.get('at')}  {entry.get('kind')}  {text}"


class Switchboard:
    """A running test server: its account's credentials, the simulated phones, the virtual
    clock, and what happened to each call. Methods block the calling thread while the server
    (in its own thread) does the work, so the application under test must answer its webhooks
    from another thread or process."""

    account_id = ACCOUNT_ID
    username = USERNAME
    password = PASSWORD
    application_id = APPLICATION_ID
    numbers = NUMBERS

    def __init__(self, directory: Path) -> None:
        import uvicorn

        from switchboard.clock import VirtualClock
        from switchboard.config import load_settings
        from switchboard.server import create_app, prepare_data_dir

        self.directory = directory
        config_file = directory / "switchboard.toml"
        config_file.write_text(CONFIG)
        self.settings = load_settings(config_file)
        prepare_data_dir(self.settings)
        self.clock = VirtualClock()
        config = uvicorn.Config(
            create_app(self.settings, clock=self.clock),
            host="127.0.0.1",
            port=0,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        loops: list[asyncio.AbstractEventLoop] = []

        def run() -> None:
            import uvloop

            async def main() -> None:
                loops.append(asyncio.get_running_loop())
                await self._server.serve()

            uvloop.run(main())

        self._thread = threading.Thread(target=run, name="switchboard", daemon=True)
        self._thread.start()
        started = threading.Event()
        for _ in range(2000):  # 20 s: a start is a fraction of a second; a failed one ends
            if self._server.started or not self._thread.is_alive():
                break
            started.wait(0.01)
        if not self._server.started:
            raise RuntimeError("Switchboard did not start (its log above says why)")
        self._loop = loops[0]
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._tls: Any = None
        self._api_client: Any = None
        self._test_started = self.clock.wall()
        self._original_application = self._run(self._application())

    # -- the account ----------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """The Voice API's base (what the SDK's Configuration(host=...) takes)."""
        return f"{self.base_url}/api/v2"

    def calls_api(self) -> Any:
        """The official SDK's CallsApi (bandwidth-sdk), signed in as the test account."""
        try:
            from bandwidth import (  # type: ignore[import-untyped]
                ApiClient,
                CallsApi,
                Configuration,
            )
        except ImportError:  # a test extra: an app's suite may not have it
            raise ImportError(
                "switchboard.calls_api() needs the official Bandwidth SDK: "
                "pip install bandwidth-sdk (or install switchboard[test])"
            ) from None
        if self._api_client is None:  # one client (and connection pool) for the session
            configuration = Configuration(
                username=self.username,
                password=self.password,
                host=self.api_url,
                ignore_operation_servers=True,
            )
            self._api_client = ApiClient(configuration)
        return CallsApi(self._api_client)

    def configure_application(self, **settings: Any) -> None:
        """Change the test application's voice settings for this test, with the keys of an
        `[[accounts.applications]]` table (docs/configuration.md), e.g.
        call_initiated_callback_url="http://127.0.0.1:8000/inbound": where inbound calls to
        `numbers` ring."""
        self._run(self._save_application(settings))

    # -- the simulated network ------------------------------------------------------------
    def phone(self, number: str, **behaviour: Any) -> None:
        """How the virtual phone `number` behaves in this test, with the keys of
        docs/simulated-network.md: outcome="busy", answer_after=0.5, digits="1#",
        hangup_after=20, speech="Hi", ... Unnamed keys take the defaults."""
        self._request("PUT", f"/switchboard/v1/phones/{_quote(number)}", behaviour)

    def dial(
        self,
        from_number: str,
        to: str | None = None,
        *,
        uui: str | None = None,
        diversion: dict[str, str] | None = None,
    ) -> str:
        """A virtual phone calls `to` (default: the account's first number), which rings the
        test application's call_initiated_callback_url (see configure_application). The
        caller behaves as `phone(from_number, ...)` set it. Returns the new call's id."""
        body: dict[str, Any] = {"to": to or self.numbers[0]}
        if uui is not None:
            body["uui"] = uui
        if diversion is not None:
            body["diversion"] = diversion
        answer = self._request("POST", f"/switchboard/v1/phones/{_quote(from_number)}/calls", body)
        return str(answer["callId"])

    def callee(self, call_id: str, action: str, digits: str | None = None) -> None:
        """Act as the phone at the other end of a live call: "answer", "reject", "busy",
        "press" (with `digits`) or "hangup"."""
        body: dict[str, Any] = {"action": action}
        if digits is not None:
            body["digits"] = digits
        path = f"/switchboard/v1/accounts/{self.account_id}/calls/{call_id}/callee"
        self._request("POST", path, body)

    # -- time ---------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Let `seconds` of call time pass: every timer due fires in order, and every webhook
        exchange it starts (the application answers in real time) finishes before time
        moves on."""
        self._run(self._advance(seconds), timeout=600)

    def wait_for(
        self,
        call_id: str,
        state: str | None = None,
        event: str | None = None,
        within: float = DEFAULT_WAIT_SECONDS,
    ) -> Call:
        """Move virtual time only as far as needed for the call to reach `state`
        ("answered", "disconnected", ...) or to have sent a webhook of type `event`
        ("gather", "disconnect", ...); fails (AssertionError) if that has not happened
        `within` seconds of call time. Returns the call as it is then."""
        if (state is None) == (event is None):
            raise TypeError("wait_for takes one of state= or event=")

        def reached(call: Call) -> bool:
            if state is not None:
                return call.state == state
            return bool(call.webhooks(event))

        call = self._run(self._wait(call_id, reached, within), timeout=600)
        if not reached(call):
            wanted = f"state {state!r}" if state is not None else f"a {event!r} webhook"
            raise WaitTimeout(
                f"call {call_id} did not reach {wanted} within {within:g} s of call time; "
                f"it is {call.state!r}\n{call.describe()}"
            )
        return call

    def call(self, call_id: str) -> Call:
        """The call now: state, timeline and webhooks."""
        call = self._run(self._call(call_id))
        if call is None:
            raise SwitchboardError(f"no call {call_id}")
        return call

    def calls(self) -> list[Call]:
        """Every call that started since the current test began, oldest first."""
        ids = self._run(self._recent_call_ids())
        found = [self._run(self._call(call_id)) for call_id in ids]
        return [call for call in found if call is not None]

    # -- Bandwidth's hostnames (issue 22) ---------------------------------------------------
    @contextmanager
    def bandwidth_hosts(self) -> Iterator[None]:
        """Within the block, this process's connections to Bandwidth's hostnames
        (voice.bandwidth.com, api.bandwidth.com, ...) reach this server over TLS, trusted:
        for an application whose SDK has Bandwidth's URLs built in. See
        switchboard.testing.bandwidth_hosts for what it covers."""
        from switchboard.testing.hosts import bandwidth_hosts
        from switchboard.tls.ca import tls_files

        port = self._tls_port()
        with bandwidth_hosts("127.0.0.1", port, tls_files(self.settings.data_dir).ca_cert):
            yield

    def _tls_port(self) -> int:
        if self._tls is None:  # started on first use: most suites never need it
            from switchboard.config import TlsSettings
            from switchboard.tls.listener import TlsListener

            settings = replace(self.settings, tls=TlsSettings(enabled=True, port=0))
            listener = TlsListener(self._server.config, settings)
            self._run(listener.start(), timeout=60)
            self._tls = listener
        return int(self._tls.port)

    # -- between tests --------------------------------------------------------------------------
    def begin_test(self) -> None:
        self._test_started = self.clock.wall()

    def reset(self) -> None:
        """End every call still up, and put the phones and the application back as the
        configuration has them: the next test starts from a quiet server."""
        self._run(self._reset(), timeout=600)

    def stop(self) -> None:
        if self._api_client is not None:  # the SDK's client has no close(): its pool does
            self._api_client.rest_client.pool_manager.clear()
        if self._tls is not None:
            self._run(self._tls.stop(), timeout=30)
        self._server.should_exit = True
        self._thread.join(timeout=30)

    # -- on the server's loop ---------------------------------------------------------------
    @property
    def _context(self) -> Any:
        app: Any = self._server.config.app
        return app.state.context

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _step(self, target: float, done: Callable[[], Awaitable[bool]] | None) -> bool:
        """Fire the timers due up to `target` one at a time, settling after each; stop early
        (True) once `done` says so."""
        engine = self._context.engine
        await engine.settle()
        while not (done is not None and await done()):
            due = self.clock.next_due()
            if due is None or due > target:
                self.clock.advance(max(0.0, target - self.clock.monotonic()))
                await engine.settle()
                return done is not None and await done()
            self.clock.advance(max(0.0, due - self.clock.monotonic()))
            await engine.settle()
        return True

    async def _advance(self, seconds: float) -> None:
        await self._step(self.clock.monotonic() + seconds, None)

    async def _wait(self, call_id: str, reached: Callable[[Call], bool], within: float) -> Call:
        async def done() -> bool:
            call = await self._call(call_id)
            if call is None:
                raise SwitchboardError(f"no call {call_id}")
            return reached(call)

        await self._step(self.clock.monotonic() + within, done)
        call = await self._call(call_id)
        assert call is not None
        return call

    async def _call(self, call_id: str) -> Call | None:
        context = self._context
        stored = await context.store.get_call(call_id)
        if stored is None or stored.account_id != self.account_id:
            return None
        live = context.engine.current(call_id)
        current = live if live is not None else stored
        entries = [entry.to_json() for entry in await context.store.timeline(call_id)]
        runner = context.engine.get(call_id)
        if runner is not None:  # entries not yet written to the store
            entries += [entry.to_json() for entry in runner.timeline.pending]
        return Call(
            call_id,
            current.state,
            current.direction,
            current.disconnect_cause,
            entries,
            self,
        )

    async def _recent_call_ids(self) -> list[str]:
        from switchboard.calls.ids import format_time
        from switchboard.calls.listing import CallFilter

        since = format_time(self._test_started - timedelta(seconds=1))
        rows = await self._context.store.list_calls(
            self.account_id, CallFilter(min_start_time=since), 1000, None, ""
        )
        return [str(row["call_id"]) for row in rows]

    async def _application(self) -> Any:
        snapshot = await self._context.store.load_provisioning()
        return snapshot.applications[self.application_id]

    async def _save_application(self, changes: dict[str, Any]) -> None:
        from switchboard.provisioning.commands import CommandError, save_application
        from switchboard.provisioning.vault import Vault

        vault = Vault.in_directory(self.settings.data_dir)
        failure: list[str] = []

        def change(connection: Any) -> None:
            try:
                save_application(
                    connection, vault, self.application_id, self.account_id, None, changes
                )
            except CommandError as error:
                failure.append(str(error))

        await self._context.store.provision(change)
        if failure:
            raise SwitchboardError(failure[0].replace("--", "").replace("-", "_"))
        await self._context.refresh_provisioning()

    async def _reset(self) -> None:
        from switchboard.calls.model import DISCONNECTED
        from switchboard.calls.update_request import UpdateCallRequest
        from switchboard.store import provisioning_db

        context = self._context
        engine = context.engine
        await engine.settle()
        for runner in list(engine.runners.values()):
            if runner.call.state != DISCONNECTED:
                await engine.update_call(runner.call, UpdateCallRequest("completed"))

        async def quiet() -> bool:
            return not engine.runners

        # Ending a call sends its disconnect webhook (maybe to an application already gone,
        # retried on the virtual clock): time runs until every call is over.
        await self._step(self.clock.monotonic() + DEFAULT_WAIT_SECONDS, quiet)
        if context.simulator is not None:
            context.simulator.phones = dict(context.simulator.settings.phones)
            context.simulator.account_phones.clear()  # phones set over the API, per account
        current = await self._application()
        if current != self._original_application:
            original = self._original_application
            await context.store.provision(lambda c: provisioning_db.put_application(c, original))
            await context.refresh_provisioning()

    # -- HTTP, as any client of the API --------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        credentials = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Basic {credentials}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            try:
                description = json.loads(error.read()).get("description")
            except ValueError:
                description = None
            raise SwitchboardError(
                f"{method} {path}: {error.code} {description or error.reason}"
            ) from None
        return json.loads(text) if text else {}


def _quote(number: str) -> str:
    return urllib.parse.quote(number, safe="")


def start(directory: Path | None = None) -> Switchboard:
    """A test server in `directory` (default: a new temporary one)."""
    return Switchboard(directory or Path(tempfile.mkdtemp(prefix="switchboard-")))


__all__ = ["Call", "Switchboard", "SwitchboardError", "WaitTimeout", "start"]
