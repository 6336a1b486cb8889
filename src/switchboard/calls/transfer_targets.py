"""The calls a `<Transfer>` rings: one Call per target, each with its own row and origin.

A target (B-leg) is a call of its own (DESIGN.md): its own callId, `parentCallId` = the call
that ran <Transfer>, direction outbound. Its origin is the target's attributes, not the parent's
createCall: its first webhook is transferAnswer (to its transferAnswerUrl), its end is
transferDisconnect (to its transferDisconnectUrl), with its own credentials. They are kept in the
`request` every call carries (answer_url / disconnect_url slots), and what makes it a transfer
target in `extra`, so that everything needed to end it lives on its own row. Pure.
"""

from __future__ import annotations

from datetime import datetime

from switchboard.bxml.attributes import PRIVATE_CALLER_IDS
from switchboard.bxml.verbs import Transfer, TransferTarget
from switchboard.calls.create_request import CreateCallRequest
from switchboard.calls.model import INITIATED, Call

PARENT_CALL_ID = "parent_call_id"


def caller_id_for(parent: Call, verb: Transfer) -> str:
    """transfer.mdx: "Leave blank to pass along the number of the remote party"."""
    if verb.transfer_caller_id:
        return verb.transfer_caller_id
    return parent.request.from_ if parent.direction == "inbound" else parent.request.to


def target_call(
    call_id: str,
    parent: Call,
    verb: Transfer,
    target: TransferTarget,
    tag: str | None,
    call_url: str,
    now: datetime,
) -> Call:
    caller_id = caller_id_for(parent, verb)
    request = CreateCallRequest(
        to=target.destination,
        from_=caller_id,
        application_id=parent.request.application_id,
        answer_url=target.transfer_answer_url or "",  # "": no transferAnswer, join at once
        answer_method=target.transfer_answer_method,
        privacy=verb.privacy or caller_id in PRIVATE_CALLER_IDS or None,
        display_name=verb.transfer_caller_display_name,
        uui=target.uui,
        username=target.username,
        password=target.password,
        answer_fallback_url=target.transfer_answer_fallback_url,
        answer_fallback_method=target.transfer_answer_fallback_method,
        fallback_username=target.fallback_username,
        fallback_password=target.fallback_password,
        disconnect_url=target.transfer_disconnect_url,
        disconnect_method=target.transfer_disconnect_method,
        call_timeout=verb.call_timeout,
        callback_timeout=parent.request.callback_timeout,
        tag=tag,
    )
    effective_tag = tag if target.tag is None else (target.tag or None)
    return Call(
        call_id=call_id,
        account_id=parent.account_id,
        request=request,
        call_url=call_url,
        enqueued_time=now,
        state=INITIATED,  # placed at once: targets are never queued (rateLimits.mdx)
        direction="outbound",
        tag=effective_tag,
        start_time=now,
        last_update=now,
        extra={
            PARENT_CALL_ID: parent.call_id,
            "diversion_header": diversion_header(
                parent, verb.diversion_treatment, verb.diversion_reason
            ),
            # transferAnswer and transferDisconnect carry the original call's from and to.
            "parent_from": parent.request.from_,
            "parent_to": parent.request.to,
            "transfer_caller_id": caller_id,
            "transfer_to": target.destination,
        },
    )


def diversion_header(parent: Call, treatment: str, reason: str) -> str | None:
    """The Diversion header (RFC 5806) a <Transfer>/<Forward> of `parent` sends (transfer.mdx,
    forward.mdx): `none` sends none; `propagate` copies the one the inbound call came with;
    `stack` puts one for the number that was called (with `reason`) on top of it. Only for an
    inbound call ("must not be used when transferring an outbound call")."""
    if treatment == "none" or parent.direction != "inbound":
        return None
    entries: list[str] = []
    if treatment == "stack":
        entries.append(f"<tel:{parent.request.to}>;reason={reason};counter=1")
    came_with = parent.extra.get("diversion")
    if isinstance(came_with, dict) and came_with.get("origTo"):
        parameters = "".join(
            f";{key}={value}" for key, value in came_with.items() if key != "origTo"
        )
        entries.append(f"<tel:{came_with['origTo']}>{parameters}")
    return ", ".join(entries) or None


def parent_of(call: Call) -> str | None:
    parent = call.extra.get(PARENT_CALL_ID)
    return parent if isinstance(parent, str) else None
