"""The runner's webhooks: the first callback and the end event the call's origin owes
(answer / initiate / transferAnswer ... disconnect / transferDisconnect), the callbacks its
BXML verbs send, and their delivery through the outbox in the background.

Separate from calls/runner.py because it is how a call talks to its application, one concept
(every event is recorded before it is sent; the runner hears the outcome as CallbackDone), and
it touches the rest of the runner only through the attributes and methods WebhooksRole
declares below. CallRunner inherits it."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from switchboard.bxml import actions as act
from switchboard.calls.model import Call
from switchboard.calls.runner_messages import CallbackDone, EngineServices, RunnerEvent
from switchboard.clock import Clock
from switchboard.network import base as net
from switchboard.redact import redact_text
from switchboard.webhooks import payloads
from switchboard.webhooks.outbox import OutboxEntry
from switchboard.webhooks.request import DeliveryResult, WebhookRequest

BODY_EXCERPT = 500


class WebhooksRole:
    """What a call owes its application, and the deliveries of it."""

    # The runner's, set by CallRunner.__init__: what this role reads and changes.
    call: Call
    services: EngineServices
    leg: net.Leg | None
    parent_call_id: str | None
    sip_response_code: int | None
    _bxml_token: int

    if TYPE_CHECKING:
        # The runner's own methods this role calls (CallRunner defines them).
        @property
        def clock(self) -> Clock: ...

        def post(self, event: RunnerEvent) -> None: ...

        def note(self, kind: str, **data: Any) -> None: ...

        async def _save(self, event: OutboxEntry | None = None) -> int | None: ...

        async def _flush_timeline(self) -> None: ...

    # -- webhooks ---------------------------------------------------------------------------
    async def _first_callback(self, event_type: str, payload: dict[str, Any]) -> None:
        """The call's first BXML callback: `answer` (outbound) or `initiate` (inbound), to the
        URL, credentials and timeout of the call's origin."""
        request = self.call.request
        self._add_sip_fields(payload)
        primary = WebhookRequest(
            request.answer_url,
            request.answer_method,  # type: ignore[arg-type]
            payload,
            *request.credentials_for("answerUrl"),
            float(request.callback_timeout),
        )
        fallback = None
        if request.answer_fallback_url:
            fallback = WebhookRequest(
                request.answer_fallback_url,
                request.answer_fallback_method,  # type: ignore[arg-type]
                payload,
                *request.credentials_for("answerFallbackUrl"),
                float(request.callback_timeout),
            )
        entry = OutboxEntry(self.call.call_id, event_type, primary, fallback, asynchronous=False)
        entry_id = await self._save(entry)
        self._dispatch(replace(entry, id=entry_id), expects_bxml=True)

    def _dispatch(self, entry: OutboxEntry, *, expects_bxml: bool) -> None:
        """Deliver a recorded event in the background; its outcome comes back as CallbackDone."""
        if expects_bxml:
            self._bxml_token += 1
        token = self._bxml_token

        async def delivery() -> None:
            result = await self.services.dispatcher.deliver(entry)
            self.post(
                CallbackDone(entry.event_type, entry.primary.payload, result, expects_bxml, token)
            )

        self.services.activity.spawn(delivery())

    def _record_delivery(self, event_type: str, result: DeliveryResult, payload: Any) -> None:
        for attempt in result.attempts:
            self.note(
                "webhook",
                eventType=event_type,
                url=attempt.url,
                method=attempt.method,
                request=payload,
                status=attempt.status,
                latencyMs=round(attempt.latency_ms, 1),
                # BXML may carry verb credentials: the timeline keeps none of them.
                responseBody=_response_excerpt(attempt.body),
                error=redact_text(attempt.error) if attempt.error else None,
            )

    async def _send_callback(self, action: act.SendCallback) -> None:
        timeout = float(self.call.request.callback_timeout)
        payload = payloads.event_payload(
            self.call, action.event_type, self.clock.wall(), action.fields
        )
        primary = WebhookRequest(
            action.url,
            action.method,  # type: ignore[arg-type]
            payload,
            action.username,
            action.password,
            timeout,
        )
        fallback = (
            WebhookRequest(
                action.fallback_url,
                action.fallback_method,  # type: ignore[arg-type]
                payload,
                action.fallback_username,
                action.fallback_password,
                timeout,
            )
            if action.fallback_url
            else None
        )
        entry = OutboxEntry(
            self.call.call_id,
            action.event_type,
            primary,
            fallback,
            asynchronous=not action.expects_bxml,
        )
        entry_id = await self.services.store.record_event(entry)  # durable before it is sent
        self._dispatch(replace(entry, id=entry_id), expects_bxml=action.expects_bxml)

    # -- the end's event: what the call's origin owes ---------------------------------------
    async def _deliver_disconnect(self, disconnect: OutboxEntry) -> None:
        result = await self.services.dispatcher.deliver(disconnect)
        self._record_delivery("disconnect", result, disconnect.primary.payload)
        await self._flush_timeline()

    def _disconnect_event(self) -> OutboxEntry | None:
        request = self.call.request
        if not request.disconnect_url:
            return None
        if self.parent_call_id is not None:
            payload = payloads.transfer_disconnect_payload(self.call, self.clock.wall())
        else:
            payload = payloads.disconnect_payload(self.call, self.clock.wall())
        self._add_sip_fields(payload)
        if self.sip_response_code is not None:
            payload["sipResponseCode"] = self.sip_response_code
        webhook = WebhookRequest(
            request.disconnect_url,
            request.disconnect_method,  # type: ignore[arg-type]
            payload,
            *request.credentials_for("disconnectUrl"),
            float(request.callback_timeout),
        )
        event_type = "disconnect" if self.parent_call_id is None else "transferDisconnect"
        return OutboxEntry(self.call.call_id, event_type, webhook, None, asynchronous=True)

    def _add_sip_fields(self, payload: dict[str, Any]) -> None:
        """answer.mdx / disconnect.mdx: sipCallId once the leg has a SIP dialog."""
        sip_call_id = self.leg.sip_call_id if self.leg is not None else None
        if sip_call_id:
            payload["sipCallId"] = sip_call_id


@functools.lru_cache(maxsize=256)
def _response_excerpt(body: bytes) -> str:
    """What the timeline keeps of a response body (cached: apps send the same BXML again).
    Redacted whole, then cut (issue 23): a password="..." or a user:password@ cut at the
    boundary no longer matches the redaction and showed its first characters. Bodies are at
    most the sender's cap (MAX_BXML_KB, calls/runner.py)."""
    return redact_text(body.decode("utf-8", "replace"))[:BODY_EXCERPT]
