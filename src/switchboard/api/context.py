"""What every route needs, gathered in one object that the app is built around (no globals)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from starlette.requests import Request

from switchboard.api.auth import Authenticator, Principal
from switchboard.api.forwarding import CallOwners, Forwarder
from switchboard.calls.engine import Engine
from switchboard.calls.service import CallService
from switchboard.config import Settings
from switchboard.errors import UnavailableError
from switchboard.limits.call_bounds import DiskGuard
from switchboard.network.simulated import SimulatedNetwork
from switchboard.observability.metrics import Metrics
from switchboard.recordings.storage import MediaStorage
from switchboard.recordings.store import RecordingStore
from switchboard.store.base import Store

logger = logging.getLogger("switchboard.api")


@dataclass
class ApiContext:
    settings: Settings
    store: Store
    auth: Authenticator
    calls: CallService
    engine: Engine | None = None
    simulator: SimulatedNetwork | None = None
    metrics: Metrics | None = None
    # Recordings' rows and media (issue 13); None: this server keeps none (the API says 503).
    recordings: RecordingStore | None = None
    media: MediaStorage | None = None
    extra: dict[str, object] = field(default_factory=dict)
    # Refuses new calls while the disk is nearly full (issue 23); None: never.
    disk: DiskGuard | None = None
    # Which node runs a call, when several share one PostgreSQL (issue 18); None: one node.
    # Requests about a live call another node runs are answered by it (api/forwarding.py)
    # over `forwarder`'s session, closed with the app.
    nodes: CallOwners | None = None
    forwarder: Forwarder = field(default_factory=Forwarder)
    # Provisioning reloads started by `provisioning_is_current` (held: tasks are weak refs).
    _reloads: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    async def refresh_provisioning(self) -> None:
        if self.store.provisioning_changed():
            self.auth.use_snapshot(await self.store.load_provisioning())

    def provisioning_is_current(self) -> bool:
        """Synchronous `refresh_provisioning`: True when the snapshot in use is current; else
        starts loading the new one (the store says "changed" once, so whoever asks must load
        it) and answers False, so the caller sends its request on to the app."""
        if self._reloads:
            # A load is under way: until it is in, the cached verdicts may be stale (the SQLite
            # store says "changed" only once per loop turn, so asking it again would say no).
            return False
        if not self.store.provisioning_changed():
            return True
        reload = asyncio.get_running_loop().create_task(self._reload_provisioning())
        self._reloads.add(reload)
        reload.add_done_callback(self._reloads.discard)
        return False

    async def _reload_provisioning(self) -> None:
        try:
            self.auth.use_snapshot(await self.store.load_provisioning())
        except Exception:  # the next request that finds it changed loads it again
            logger.exception("could not reload accounts and credentials from the store")

    def check_accepting_calls(self) -> None:
        """503 while draining (SIGTERM), while the disk is nearly full, or while this node is
        full or falling behind (limits/overload.py): no new call may start. Before the body is
        read: under overload this is the fast path."""
        if self.extra.get("draining"):
            raise UnavailableError("Switchboard is shutting down and not accepting new calls")
        refusal = self.disk.refusal() if self.disk is not None else None
        if refusal is not None:
            raise UnavailableError(refusal)
        if self.engine is not None:
            self.engine.check_node()
        if not self.holds_node_lease():
            raise UnavailableError(
                "This Switchboard node has lost touch with the database it shares with other "
                "nodes and takes no new calls until it is back: retry, another node will answer"
            )

    def holds_node_lease(self) -> bool:
        """One node: always. Several (issue 18): while this node's lease is sure to be held."""
        holds = getattr(self.nodes, "holds_lease", None)
        return True if holds is None else bool(holds())

    async def authorize(self, request: Request, account_id: str) -> Principal:
        await self.refresh_provisioning()
        source = request.client.host if request.client else None  # failed attempts, per address
        return await self.auth.authorize(request.headers.get("authorization"), account_id, source)

    def base_url(self, request: Request) -> str:
        """Where absolute URLs handed out start: `[server] public_url` when set, else the
        scheme and host as the client used them (or as a trusted proxy reports them)."""
        headers = request.headers
        if self.settings.trust_proxy:
            return self.base_url_of(
                request.url.scheme,
                headers.get("host"),
                headers.get("x-forwarded-proto"),
                headers.get("x-forwarded-host"),
            )
        return self.base_url_of(request.url.scheme, headers.get("host"), None, None)

    def base_url_of(
        self,
        scheme: str,
        host: str | None,
        forwarded_proto: str | None,
        forwarded_host: str | None,
    ) -> str:
        """`base_url` from the header values (the forwarded ones count only with trust_proxy)."""
        if self.settings.public_url is not None:
            # Configured for a proxy that says nothing about the URL the client used.
            return self.settings.public_url
        host = host or f"{self.settings.host}:{self.settings.port}"
        if self.settings.trust_proxy:
            if forwarded_proto:
                scheme = forwarded_proto.split(",")[0].strip()
            if forwarded_host:
                host = forwarded_host.split(",")[0].strip()
        return f"{scheme}://{host}"


def context_of(request: Request) -> ApiContext:
    """The ApiContext the app was built around (see api/app.py build_app)."""
    context: ApiContext = request.app.state.context
    return context
