"""Assembling a running server: data dir, provisioning, store, app, uvicorn."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from switchboard.activity import Activity
from switchboard.api.app import build_app
from switchboard.api.auth import Authenticator, SigningKey
from switchboard.api.context import ApiContext
from switchboard.api.routes_examples import answer_url, disconnect_url, example_routes
from switchboard.api.routes_switchboard import switchboard_routes
from switchboard.calls.engine import Engine
from switchboard.calls.inbound import InboundCalls
from switchboard.calls.service import CallService
from switchboard.clock import Clock, RealClock
from switchboard.collector import FullCollections, tune_garbage_collector
from switchboard.config import Settings
from switchboard.console.routes import console_routes
from switchboard.http_guard import guarded_protocol
from switchboard.limits.account import LimitSettings, account_limits
from switchboard.limits.call_bounds import DiskGuard
from switchboard.limits.overload_probe import OverloadMetrics
from switchboard.media.clock import MediaClock
from switchboard.network.audio import AudioDurations
from switchboard.network.audio_files import AudioFiles
from switchboard.network.base import Network
from switchboard.network.simulated import SimulatedNetwork
from switchboard.network.sip import SipNetwork
from switchboard.nodes.metrics import NodeMetrics
from switchboard.nodes.registry import NodeRegistry
from switchboard.observability.logs import configure_logging
from switchboard.observability.metrics import Metrics
from switchboard.observability.webhooks import ObservedSender
from switchboard.provisioning.models import Snapshot
from switchboard.provisioning.setup import DemoAccount, apply_accounts, ensure_demo_account
from switchboard.provisioning.vault import KEY_FILE as VAULT_KEY_FILE
from switchboard.provisioning.vault import Vault
from switchboard.recordings.retention import RecordingRetention
from switchboard.recordings.storage import FileMediaStorage
from switchboard.store.factory import blocking_connection, make_store
from switchboard.store.postgres import PostgresStore
from switchboard.store.sqlite import SqliteStore
from switchboard.tls.listener import TlsListener
from switchboard.webhooks.delivery import HttpWebhookSender
from switchboard.webhooks.guard import DestinationPolicy

logger = logging.getLogger("switchboard.server")
GIL_SWITCH_SECONDS = 0.001


def prepare_data_dir(settings: Settings) -> DemoAccount | None:
    """Create the database, apply the config file's accounts, or create the demo account."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    connection = blocking_connection(settings)  # migrated: the upgrade at start
    try:
        if settings.accounts:
            apply_accounts(connection, settings.accounts, Vault.in_directory(settings.data_dir))
            return None
        return ensure_demo_account(connection)
    finally:
        connection.close()


def token_secret(data_dir: Path) -> bytes:
    """The key that signs OAuth bearer tokens, made once per data dir and kept private."""
    path = data_dir / "token-signing.key"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def create_app(settings: Settings, clock: Clock | None = None) -> ASGIApp:
    """The whole server as an ASGI app; the store and the engine start and stop with the app's
    lifespan. `clock` replaces the real one (tests pass a VirtualClock)."""
    store = make_store(settings)
    clock = clock or RealClock(settings.simulator.time_scale)
    activity = Activity()
    # One policy for every URL a client gives us: webhooks and audio alike (SSRF).
    destinations = DestinationPolicy.from_settings(
        settings.allow_private_destinations, settings.allowed_destinations
    )
    simulator: SimulatedNetwork | None = None
    network: Network
    if settings.network_kind == "sip":
        network = SipNetwork(
            settings.sip, activity, AudioFiles(destinations=destinations), clock.monotonic
        )
    else:
        simulator = SimulatedNetwork(
            settings.simulator, clock, activity, AudioDurations(destinations=destinations)
        )
        network = simulator
    sender = HttpWebhookSender(
        destinations=destinations, per_account=settings.webhook_connections_per_account
    )
    # The signing key is re-read when its file changes or goes: deleting it revokes every token.
    authenticator = Authenticator(
        SigningKey(settings.data_dir / "token-signing.key"),
        settings.token_lifetime_seconds,
        settings.auth_throttle,
    )

    # The engine asks for an account's limits several times per call: build them once per
    # account, again only when provisioning replaced the account (Account is frozen).
    limits_cache: dict[str, tuple[object, LimitSettings]] = {}

    def limits_for(account_id: str) -> LimitSettings:
        account = authenticator.snapshot.accounts.get(account_id)
        cached = limits_cache.get(account_id)
        if cached is not None and cached[0] is account:
            return cached[1]
        limits = account_limits(settings.limits, account)
        if len(limits_cache) >= 10_000:
            limits_cache.clear()
        limits_cache[account_id] = (account, limits)
        return limits

    metrics = Metrics()
    # Recordings (issue 13): rows in the store, media as files under the data directory.
    media = FileMediaStorage(settings.data_dir / "recordings")
    recording_retention = RecordingRetention(
        store, media, clock, activity, timedelta(days=settings.recording_retention_days)
    )
    engine = Engine(
        store,
        network,
        ObservedSender(sender, metrics),
        clock,
        activity,
        limits_for=limits_for,
        retention=timedelta(days=settings.retention_days),
        retry_policy=settings.webhook_retries,
        recordings=(store, media),
        bounds=settings.call_bounds,
        overload=settings.overload,
    )
    if simulator is not None:  # a phone set over the API answers its account's calls only
        simulator.account_of = lambda call_id: (
            runner.call.account_id if (runner := engine.runners.get(call_id)) else None
        )
    calls = CallService(
        store, clock.wall, enforce_https_credentials=settings.profile == "production"
    )
    calls.gate = engine
    calls.listeners.append(engine.on_call_created)

    async def current_snapshot() -> Snapshot:
        await context.refresh_provisioning()  # a number or application may have changed
        return authenticator.snapshot

    context = ApiContext(
        settings=settings,
        store=store,
        auth=authenticator,
        calls=calls,
        engine=engine,
        simulator=simulator,
        metrics=metrics,
        recordings=store,
        media=media,
        disk=DiskGuard(
            settings.call_bounds.min_free_disk_bytes,
            lambda: shutil.disk_usage(settings.data_dir).free,
            clock.monotonic,
        ),
    )
    inbound = InboundCalls(
        store,
        engine,
        current_snapshot,
        Vault.in_directory(settings.data_dir),
        clock.wall,
        lambda: public_base_url(settings),
        unavailable=lambda: (
            (context.disk.refusal() if context.disk is not None else None)
            or engine.node_refusal_text("inbound")
        ),
    )
    engine.incoming = inbound
    # Many nodes on PostgreSQL (issue 18): this node's lease, and what dead nodes leave.
    registry = node_registry(settings, store, engine)
    if registry is not None:
        context.nodes = registry
        engine.services.dispatcher.may_send = registry.holds_lease
        if isinstance(store, PostgresStore):
            store.limits_for = limits_for  # each account's limits, held in the database
            engine.shared_queue = store  # and its queue, drained across nodes
        metrics.registry.register(NodeMetrics(registry))

    def gauges() -> dict[str, dict[str, float]]:
        values = engine.live_gauges()
        values["inbound_refused"] = {
            f"{account} {reason}": float(count)
            for (account, reason), count in inbound.refused.items()
        }
        return values

    metrics.watch(gauges)
    if engine.overload is not None:
        metrics.registry.register(OverloadMetrics(engine.overload, lambda: engine.live_calls))
    full_collections = FullCollections()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await store.open()
        context.auth.use_snapshot(await store.load_provisioning())
        # Before the engine starts recording again: what a crash left half-written is swept
        # (temporary files) or marked `error` (recordings that were `processing`).
        await asyncio.to_thread(media.sweep_partials)
        await recording_retention.mark_unfinished_failed()
        if registry is not None:
            await registry.join()  # a new epoch first: the engine then adopts its own calls
        await engine.start()
        if registry is not None:
            registry.start()
        recording_retention.start()
        try:
            full_collections.start()
            if settings.network_kind == "sip":  # RTP: the loop's media clock, send lateness
                metrics.watch_media(MediaClock.of(asyncio.get_running_loop()))
            context.extra["ready"] = True
            yield
        finally:
            context.extra["ready"] = False
            full_collections.stop()
            recording_retention.stop()
            await engine.stop()
            if registry is not None:
                await registry.stop()  # leaves: what is left here is adopted at once
            await sender.close()
            await context.forwarder.close()
            await store.close()

    return build_app(
        context,
        lifespan=lifespan,
        extra_routes=switchboard_routes() + console_routes() + example_routes(),
    )


def node_registry(
    settings: Settings, store: SqliteStore | PostgresStore, engine: Engine
) -> NodeRegistry | None:
    """A node among many when the store is PostgreSQL; None on SQLite (one node)."""
    if not isinstance(store, PostgresStore):
        return None
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return NodeRegistry(
        store,
        engine,
        settings.node.resolved_id(settings.port),
        settings.node.address or f"http://{host}:{settings.port}",
        settings.node,
        time.monotonic,
        # Both made by now (create_app's SigningKey and Vault): the first node records them.
        key_files={
            "token-signing": settings.data_dir / "token-signing.key",
            "vault": settings.data_dir / VAULT_KEY_FILE,
        },
    )


def public_base_url(settings: Settings) -> str:
    """The base of URLs handed out without a request to take the host from (an inbound call's
    callUrl): `[server] public_url`, else the listening address (a wildcard one as loopback)."""
    if settings.public_url is not None:
        return settings.public_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def demo_banner(demo: DemoAccount, settings: Settings) -> str:
    # A wildcard listen address is not one to send requests to: show loopback instead.
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base = f"http://{host}:{settings.port}"
    lines = [
        "",
        "Switchboard demo account",
        f"  account id      {demo.account_id}",
        f"  API user        {demo.username}",
        f"  password        {demo.password}",
        f"  application id  {demo.application_id}",
        f"  numbers         {', '.join(demo.numbers)}",
        "",
        # The example app Switchboard serves itself (api/routes_examples.py): the first call
        # greets, gathers a key and says it, with no webhook app of the user's running yet.
        "Create a call to a virtual phone, answered by Switchboard's example app:",
        f"  curl -X POST '{base}/api/v2/accounts/{demo.account_id}/calls' \\",
        f"    -u '{demo.username}:{demo.password}' \\",
        "    -H 'Content-type: application/json' \\",
        f'    --data-raw \'{{"from": "{demo.numbers[0]}", "to": "+15555551313", '
        f'"answerUrl": "{answer_url(public_base_url(settings))}", '
        f'"disconnectUrl": "{disconnect_url(public_base_url(settings))}", '
        f'"applicationId": "{demo.application_id}"}}\'',
        "",
        f"Then watch it in the web console: {base}/ (sign in with the account id, user and",
        "password above).",
        "",
        f"The password is shown only this once; it is stored hashed in {settings.database_name}.",
        "",
    ]
    return "\n".join(lines)


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """How `serve` runs the app with uvicorn."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools, with the head limits, header-read timeout and connection cap it lacks.
        http=guarded_protocol(settings.http),
        log_level=settings.log_level,
        # In JSON, uvicorn logs through the handler configure_logging gave it.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        access_log=False,
        server_header=False,
        # X-Forwarded-* are read in one place, ApiContext.base_url, and only with trust_proxy.
        proxy_headers=False,
        # Idle connections outlive the 60-75 s that load balancers and client pools keep them,
        # so the server is never the side that closes one just as a request is sent on it
        # (uvicorn's 5 s made Bandwidth's SDK fail with "Remote end closed connection").
        timeout_keep_alive=settings.keep_alive_seconds,
    )


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    demo = prepare_data_dir(settings)
    if demo is not None and demo.password is not None:
        print(demo_banner(demo, settings), flush=True)
    elif demo is not None:
        print(
            f"Switchboard demo account {demo.account_id} (user {demo.username!r}, application "
            f"{demo.application_id}, numbers {', '.join(demo.numbers)}); its password was "
            "printed on the first start.",
            flush=True,
        )
    app = create_app(settings)
    config = uvicorn_config(app, settings)
    tune_garbage_collector()
    # The store's writer thread needs the GIL to hand each commit back to the event loop; a
    # busy loop gives it up only every switch interval (CPython: 5 ms), which every request
    # waiting for that commit waited too. 1 ms bounds that wait (docs/benchmarks.md).
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    # [server.tls]: the same app also answers as Bandwidth's hostnames (docs/compatibility.md).
    listeners = [TlsListener(config, settings)] if settings.tls.enabled else []
    context = app.state.context  # type: ignore[attr-defined]
    DrainingServer(config, context, settings.drain_seconds, listeners).run()


class DrainingServer(uvicorn.Server):
    """uvicorn, but the first SIGTERM (or SIGINT) drains before it stops: new calls get 503,
    live calls get `drain_seconds` to finish, the rest end and their disconnect events go out.
    A second signal stops at once."""

    def __init__(
        self,
        config: uvicorn.Config,
        context: ApiContext,
        drain_seconds: float,
        listeners: list[TlsListener] | None = None,
    ) -> None:
        super().__init__(config)
        self.context = context
        self.drain_seconds = drain_seconds
        # More sockets serving the same app, opened once the app has started (its lifespan
        # runs here) and closed before it stops.
        self.listeners = listeners or []
        self._drain_started = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for listener in self.listeners:
            await listener.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.listeners:
            await listener.stop()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_started or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self._drain_started = True
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self.context.extra["draining"] = True
        self.context.extra["ready"] = False
        if isinstance(self.context.nodes, NodeRegistry):
            self.context.nodes.draining = True  # adopts nothing more; shown in `nodes`
        logger.info("draining: no new calls; live calls have %g s to end", self.drain_seconds)
        task = asyncio.get_running_loop().create_task(self._drain())
        self.context.extra["drain_task"] = task

    async def _drain(self) -> None:
        engine = self.context.engine
        if engine is not None:
            await engine.drain(self.drain_seconds)
        self.should_exit = True
