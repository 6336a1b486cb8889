"""Inbound calls: a call to one of an account's numbers reaches the application that number rings.

The network offers a call (network/base.py `InboundOffer`); this module decides whether to take
it (the number, its application, the account's limits), stores it, and hands it to the engine,
whose runner sends the `initiate` event and runs the BXML it returns (calls/runner.py).

An inbound call's *origin* (DESIGN.md, "Calls with many legs") is its application's voice
settings as they were when the call arrived: they are copied onto the call's own row, in the
`request` every call carries, so everything needed to end the call lives on its row (a later
change to the application does not move the webhooks of calls already up):

    initiate   -> CallInitiatedCallbackUrl (+ fallback), the call's `answer_url` slot
    disconnect -> CallStatusCallbackUrl, the call's `disconnect_url` slot
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from switchboard.calls.create_request import CreateCallRequest
from switchboard.calls.ids import new_call_id
from switchboard.calls.model import INITIATED, Call
from switchboard.errors import RateLimitError
from switchboard.network.base import CallRefused, InboundOffer, OpenLeg
from switchboard.provisioning.models import Application, Snapshot
from switchboard.provisioning.vault import Vault, VaultError
from switchboard.store.base import Store
from switchboard.url_credentials import split_credentials

INBOUND = "inbound"


class InboundGate(Protocol):
    """What the inbound service needs of the engine (calls/engine.py implements it)."""

    def admit_inbound(self, account_id: str, call_id: str) -> str | None:
        """Reserve the call's place now, or return why the account's limits refuse it."""
        ...

    def release(self, call: Call) -> None: ...

    def launch_inbound(self, call: Call, open_leg: OpenLeg) -> None: ...


def origin_request(
    offer: InboundOffer, application: Application, vault: Vault
) -> CreateCallRequest:
    """The application's voice settings as the call's own webhook settings (see above)."""
    voice = application.voice.with_passwords(vault.open)
    assert voice.call_initiated_callback_url is not None
    # The config file and the CLI refuse user:password@ in these URLs (voice_settings.py); an
    # application stored before they did may still carry one: split it off here, as createCall
    # does, so that only the bare URL is stored, shown and sent to, each with its own credentials.
    carried: dict[str, list[str]] = {}
    answer_url = _split(voice.call_initiated_callback_url, "answerUrl", carried)
    fallback_url = _split(voice.call_initiated_fallback_url, "answerFallbackUrl", carried)
    disconnect_url = _split(voice.call_status_callback_url, "disconnectUrl", carried)
    assert answer_url is not None
    return CreateCallRequest(
        to=offer.to,
        from_=offer.from_,
        application_id=application.id,
        answer_url=answer_url,
        answer_method=voice.call_initiated_method,
        uui=offer.uui,
        username=voice.callback_username,
        password=voice.callback_password,
        answer_fallback_url=fallback_url,
        answer_fallback_method=voice.call_initiated_fallback_method,
        fallback_username=voice.fallback_username,
        fallback_password=voice.fallback_password,
        disconnect_url=disconnect_url,
        disconnect_method=voice.call_status_method,
        callback_timeout=voice.callback_timeout,
        url_credentials=carried or None,
    )


def _split(url: str | None, name: str, carried: dict[str, list[str]]) -> str | None:
    if url is None:
        return None
    bare, user, password = split_credentials(url)
    if user is not None or password is not None:
        carried[name] = [user or "", password or ""]
    return bare


def inbound_call(
    call_id: str,
    account_id: str,
    request: CreateCallRequest,
    call_url: str,
    now: datetime,
    offer: InboundOffer,
) -> Call:
    """A new inbound call: it starts ringing as it arrives (state initiated, startTime now)."""
    extra: dict[str, object] = {}
    if offer.diversion:
        extra["diversion"] = dict(offer.diversion)
    if offer.sip_call_id:
        extra["sip_call_id"] = offer.sip_call_id
    return Call(
        call_id=call_id,
        account_id=account_id,
        request=request,
        call_url=call_url,
        enqueued_time=now,  # never queued: kept equal to startTime, and not shown
        state=INITIATED,
        direction=INBOUND,
        start_time=now,
        last_update=now,
        extra=extra,
    )


class InboundCalls:
    """Takes the calls the network offers (Network.start's `incoming` handler)."""

    def __init__(
        self,
        store: Store,
        gate: InboundGate,
        snapshot: Callable[[], Awaitable[Snapshot]],
        vault: Vault,
        now: Callable[[], datetime],
        base_url: Callable[[], str],
        unavailable: Callable[[], str | None] | None = None,
    ) -> None:
        self.store = store
        self.gate = gate
        self.snapshot = snapshot
        self.vault = vault
        self.now = now
        self.base_url = base_url
        # Why no new call may start now, or None: the disk floor (limits/call_bounds.py
        # DiskGuard), as createCall asks it (api/context.py check_accepting_calls).
        self.unavailable = unavailable
        # (account or "none", reason) -> calls refused; shown on /metrics.
        self.refused: Counter[tuple[str, str]] = Counter()

    async def __call__(self, offer: InboundOffer, open_leg: OpenLeg) -> str:
        number, application = (await self.snapshot()).number_application(offer.to)
        if number is None:
            raise self._refuse(
                "none",
                CallRefused(f"{offer.to} is not a number of any account", 404, "not-found"),
            )
        account_id = number.account_id
        if application is None:
            raise self._refuse(
                account_id,
                CallRefused(
                    f"{offer.to} rings no application (assign it one: `switchboard numbers "
                    "assign NUMBER APPLICATION_ID`, or list it in the application's numbers)",
                    404,
                    "not-found",
                ),
            )
        if application.voice.call_initiated_callback_url is None:
            raise self._refuse(
                account_id,
                CallRefused(
                    f"application {application.id} has no call_initiated_callback_url, so "
                    f"nothing can answer calls to {offer.to}",
                    404,
                    "not-found",
                ),
            )
        refusal = self.unavailable() if self.unavailable is not None else None
        if refusal is not None:
            # A nearly full disk fails every write of the calls already running: an inbound
            # call is refused as createCall is (SIP 503, the dial API's 503), saying why.
            raise self._refuse(account_id, CallRefused(refusal, 503, "unavailable"))
        try:
            request = origin_request(offer, application, self.vault)
        except VaultError as error:
            raise self._refuse(account_id, CallRefused(str(error), 500, "error")) from None
        call_id = new_call_id()
        limited = self.gate.admit_inbound(account_id, call_id)
        if limited is not None:
            # rateLimits.mdx: inbound calls count against the same limits; refused, not queued.
            raise self._refuse(
                account_id,
                CallRefused(f"account {account_id}: {limited}", 503, "account-limit"),
            )
        call = inbound_call(
            call_id,
            account_id,
            request,
            f"{self.base_url()}/api/v2/accounts/{account_id}/calls/{call_id}",
            self.now(),
            offer,
        )
        try:
            await self.store.insert_call(call)  # durable before the initiate event is owed
        except RateLimitError as shared:
            # Several nodes: the account's limits held in the database (calls on other nodes
            # count) refused it, as this node's own limits would have.
            self.gate.release(call)
            raise self._refuse(
                account_id,
                CallRefused(f"account {account_id}: {shared.description}", 503, "account-limit"),
            ) from None
        except BaseException:
            self.gate.release(call)
            raise
        self.gate.launch_inbound(call, open_leg)
        return call_id

    def _refuse(self, account_id: str, refused: CallRefused) -> CallRefused:
        self.refused[(account_id, refused.kind)] += 1
        return refused
