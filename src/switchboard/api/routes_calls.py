"""Bandwidth's call paths: /api/v2/accounts/{accountId}/calls..."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api.body import read_json_object
from switchboard.api.context import context_of
from switchboard.api.responses import JsonResponse


async def create_call(request: Request) -> Response:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    context.check_accepting_calls()
    body = await read_json_object(request)
    call = await context.calls.create(
        account_id, body, context.auth.snapshot, context.base_url(request)
    )
    return JsonResponse(
        call.create_response(), status_code=201, headers={"Location": call.call_url}
    )
