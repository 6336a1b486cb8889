"""Switchboard's own paths (never Bandwidth's): call timelines and the simulated callee.

GET  /switchboard/v1/accounts/{accountId}/calls/{callId}/timeline?pageSize=&afterSequence=
POST /switchboard/v1/accounts/{accountId}/calls/{callId}/callee   {"action": ..., "digits"}
GET  /switchboard/v1/phones/{number}
PUT  /switchboard/v1/phones/{number}                               {"outcome": ..., ...}
POST /switchboard/v1/phones/{number}/calls                         {"to": "+1..."}
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchboard.api.body import read_json_object
from switchboard.api.context import ApiContext, context_of
from switchboard.api.forwarding import answer_from_owner
from switchboard.api.responses import JsonResponse
from switchboard.calls.create_request import uui_header
from switchboard.calls.model import Call
from switchboard.calls.validation import E164, e164
from switchboard.errors import (
    ConflictError,
    NotFoundError,
    RateLimitError,
    UnavailableError,
    ValidationError,
)
from switchboard.network.base import CallRefused
from switchboard.network.phones import PhoneBehaviour, PhoneConfigError, parse_behaviour
from switchboard.network.simulated import PhoneLimitError

PREFIX = "/switchboard/v1"
CALLEE_ACTIONS = ("answer", "reject", "busy", "hangup", "press")
# A timeline page: a call keeps at most [calls] timeline_max_entries entries (2,000 by default).
TIMELINE_PAGE_SIZE = 1000
MAX_PHONE_NUMBER_CHARS = 64


async def _owned_call(request: Request) -> tuple[ApiContext, Call]:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    call_id = request.path_params["call_id"]
    await context.authorize(request, account_id)
    call = await context.store.get_call(call_id)
    if call is None or call.account_id != account_id:
        raise NotFoundError(f"Call {call_id} not found")
    return context, call


async def call_timeline(request: Request) -> Response:
    """One page of the timeline: `pageSize` entries (default and most TIMELINE_PAGE_SIZE)
    after sequence `afterSequence`; a Link rel="next" header names the next page."""
    context, call = await _owned_call(request)
    if (owners := await answer_from_owner(request, context, call, ended_too=True)) is not None:
        return owners  # entries not yet stored are in that node's memory
    after = _int_param(request, "afterSequence", 0, 0, 2**62)
    size = _int_param(request, "pageSize", TIMELINE_PAGE_SIZE, 1, TIMELINE_PAGE_SIZE)
    runner = context.engine.get(call.call_id) if context.engine else None
    # One more than the page, to know whether there is a next one.
    found = {
        entry.sequence: entry
        for entry in await context.store.timeline(call.call_id, after, size + 1)
    }
    if runner is not None:  # entries not yet written to the store (a summary replaces its row)
        found.update((e.sequence, e) for e in runner.timeline.pending if e.sequence > after)
    ordered = [found[sequence] for sequence in sorted(found)]
    page, more = ordered[:size], len(ordered) > size
    response = JsonResponse(
        {"callId": call.call_id, "state": call.state, "timeline": [e.to_json() for e in page]}
    )
    if more:
        query = urlencode({"pageSize": size, "afterSequence": page[-1].sequence})
        response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
    return response


def _int_param(request: Request, name: str, default: int, lowest: int, highest: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = lowest - 1
    if not lowest <= value <= highest:
        raise ValidationError(
            f"Invalid {name}: must be an integer from {lowest} to {highest}, got '{text}'"
        )
    return value


async def act_as_callee(request: Request) -> Response:
    context, call = await _owned_call(request)
    if (owners := await answer_from_owner(request, context, call)) is not None:
        return owners  # the simulated callee's leg lives on that node
    body = await read_json_object(request)
    action = body.get("action")
    if action not in CALLEE_ACTIONS:
        raise ValidationError(
            f"Invalid action: must be one of {', '.join(CALLEE_ACTIONS)}, got {action!r}"
        )
    leg = context.simulator.legs.get(call.call_id) if context.simulator else None
    if leg is None:
        raise ConflictError(f"Call {call.call_id} has no live simulated callee")
    if leg.inbound and action in ("answer", "reject", "busy"):
        raise ConflictError(
            f"Call {call.call_id} is inbound: its phone is the caller, which can only press "
            "keys or hang up (the application answers or rejects the call)"
        )
    if action == "answer":
        if leg.answered:
            raise ConflictError(f"Call {call.call_id} is already answered")
        leg.answer()
    elif action in ("reject", "busy"):
        if leg.answered:
            raise ConflictError(f"Call {call.call_id} is already answered; use hangup")
        leg.respond_with("reject" if action == "reject" else "busy")
    elif action == "hangup":
        leg.remote_hangup()
    else:
        digits = body.get("digits")
        if not isinstance(digits, str) or not digits or not set(digits) <= set("0123456789*#ABCD"):
            raise ValidationError("Invalid digits: a string of 0-9 * # A-D is required")
        if not leg.answered:
            raise ConflictError(f"Call {call.call_id} is not answered yet")
        leg.press(digits)
    return Response(status_code=204)


async def _authenticated(request: Request) -> tuple[ApiContext, str]:
    """The context and the account of the credentials: phones set over the API are that
    account's (issue 23), so one account's PUT never changes another's calls."""
    context = context_of(request)
    await context.refresh_provisioning()
    principal = await context.auth.authenticate(
        request.headers.get("authorization"), request.client.host if request.client else None
    )
    return context, principal.account_id


def _phone_number(request: Request) -> str:
    number = str(request.path_params["number"])
    if not 0 < len(number) <= MAX_PHONE_NUMBER_CHARS or not number.isprintable():
        raise ValidationError(
            f"Invalid phone number in the path: 1 to {MAX_PHONE_NUMBER_CHARS} printable "
            "characters (E.164 like +15555550123)"
        )
    return number


def _behaviour_json(number: str, behaviour: PhoneBehaviour) -> dict[str, Any]:
    data = asdict(behaviour)
    data["timed_digits"] = [asdict(t) for t in behaviour.timed_digits]
    return {"number": number, **data}


async def get_phone(request: Request) -> Response:
    """The phone as it answers the calls of the credentials' account."""
    context, account_id = await _authenticated(request)
    number = _phone_number(request)
    if context.simulator is None:
        raise NotFoundError("The simulated network is not in use")
    behaviour = context.simulator.behaviour_for(number, account_id)
    return JsonResponse(_behaviour_json(number, behaviour))


async def put_phone(request: Request) -> Response:
    """Configure the phone for the calls of the credentials' account only."""
    context, account_id = await _authenticated(request)
    number = _phone_number(request)
    if context.simulator is None:
        raise NotFoundError("The simulated network is not in use")
    body = await read_json_object(request)
    try:
        behaviour = parse_behaviour(body, context.simulator.settings.default, "phone")
        context.simulator.set_phone(number, behaviour, account_id)
    except PhoneConfigError as error:
        raise ValidationError(str(error)) from None
    except PhoneLimitError as error:
        raise ConflictError(str(error)) from None
    return JsonResponse(_behaviour_json(number, behaviour))


async def dial_from_phone(request: Request) -> Response:
    """A virtual phone calls one of an account's numbers (an inbound call)."""
    context, account_id = await _authenticated(request)
    number = request.path_params["number"]
    if context.simulator is None:
        raise NotFoundError("The simulated network is not in use: real phones dial in over SIP")
    if not E164.match(number):
        raise ValidationError(
            f"Invalid phone number in the path: must be E.164 like +15555550123, got '{number}'"
        )
    body = await read_json_object(request)
    to = e164(body, "to")
    if to is None:
        raise ValidationError("Missing field: to (the number to call, e.g. +15555551212)")
    try:
        call_id = await context.simulator.dial(
            number, to, uui=uui_header(body), diversion=_diversion(body), account_id=account_id
        )
    except CallRefused as refused:
        if refused.kind == "not-found":
            raise NotFoundError(f"Call from {number} refused: {refused.reason}") from None
        if refused.kind == "account-limit":
            raise RateLimitError(f"Call from {number} refused: {refused.reason}", 1) from None
        raise UnavailableError(f"Call from {number} refused: {refused.reason}") from None
    return JsonResponse({"callId": call_id}, status_code=201)


def _diversion(body: dict[str, Any]) -> dict[str, str] | None:
    """What a Diversion header would carry (initiate.mdx): string parameters, origTo first."""
    value = body.get("diversion")
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not all(isinstance(v, str) for v in value.values())
        or not isinstance(value.get("origTo"), str)
    ):
        raise ValidationError(
            "Invalid diversion: must be an object of string parameters with at least origTo, "
            'e.g. {"origTo": "+15558884444", "reason": "unavailable"}'
        )
    return {"origTo": value["origTo"], **{k: v for k, v in value.items() if k != "origTo"}}


def switchboard_routes() -> list[Route]:
    call = PREFIX + "/accounts/{account_id}/calls/{call_id}"
    return [
        Route(call + "/timeline", call_timeline, methods=["GET"]),
        Route(call + "/callee", act_as_callee, methods=["POST"]),
        Route(PREFIX + "/phones/{number}", get_phone, methods=["GET"]),
        Route(PREFIX + "/phones/{number}", put_phone, methods=["PUT"]),
        Route(PREFIX + "/phones/{number}/calls", dial_from_phone, methods=["POST"]),
    ]
