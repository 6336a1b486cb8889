"""Bandwidth's call control: read, list and modify calls, replace their BXML, queue statistics.

GET  /api/v2/accounts/{accountId}/calls                 listCalls
GET  /api/v2/accounts/{accountId}/calls/{callId}        getCallState
POST /api/v2/accounts/{accountId}/calls/{callId}        updateCall
PUT  /api/v2/accounts/{accountId}/calls/{callId}/bxml   updateCallBxml
GET  /api/v2/accounts/{accountId}/statistics            getStatistics
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api.body import read_body, read_json_object
from switchboard.api.context import ApiContext, context_of
from switchboard.api.forwarding import answer_from_owner
from switchboard.api.responses import JsonResponse
from switchboard.bxml import BxmlError, parse_bxml
from switchboard.calls.ids import format_time
from switchboard.calls.listing import PageCursor, parse_list_query
from switchboard.calls.model import Call
from switchboard.calls.update_request import parse_update_call
from switchboard.calls.views import call_state, call_state_from_row
from switchboard.errors import NotFoundError, UnsupportedMediaTypeError, ValidationError

MAX_BXML_BYTES = 64 * 1024


async def call_of_account(request: Request) -> tuple[ApiContext, Call]:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    call_id = request.path_params["call_id"]
    call = await context.store.get_call(call_id)
    # Another account's call reads exactly like an unknown one: no hint that it exists; a call
    # past the retention period is gone as on Bandwidth (even before the purge deletes it).
    retained_since = context.calls.now() - timedelta(days=context.settings.retention_days)
    if (
        call is None
        or call.account_id != account_id
        or (call.end_time is not None and call.end_time < retained_since)
    ):
        raise NotFoundError(f"Call [{call_id}] not found")
    return context, call


async def get_call(request: Request) -> Response:
    context, call = await call_of_account(request)
    if (owners := await answer_from_owner(request, context, call)) is not None:
        return owners  # a live call another node runs: its state is in that node's memory
    live = context.engine.current(call.call_id) if context.engine else None
    return JsonResponse(call_state(live or call))


async def list_calls(request: Request) -> Response:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    query = parse_list_query(request.query_params)
    retained_since = context.calls.now() - timedelta(days=context.settings.retention_days)
    rows = await context.store.list_calls(
        account_id, query.filter, query.page_size + 1, query.after, format_time(retained_since)
    )
    headers: dict[str, str] = {}
    if len(rows) > query.page_size:
        del rows[query.page_size :]
        last = rows[-1]
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "pageToken"]
        params.append(("pageToken", PageCursor(last["enqueued_time"], last["call_id"]).token()))
        url = f"{context.base_url(request)}{request.url.path}?{urlencode(params)}"
        headers["Link"] = f'<{url}>; rel="next"'
    # A live call reads as it is now, as in GET .../calls/{callId}: its last save may lag.
    # Every other call reads straight from its stored row (no Call, no time re-formatting).
    engine = context.engine
    current = engine.current if engine else None
    body = []
    for row in rows:
        live = current(row["call_id"]) if current else None
        body.append(call_state(live) if live else call_state_from_row(row))
    return JsonResponse(body, headers=headers)


async def update_call(request: Request) -> Response:
    context, call = await call_of_account(request)
    if (owners := await answer_from_owner(request, context, call)) is not None:
        return owners
    update = parse_update_call(await read_json_object(request), call.request.answer_url)
    assert context.engine is not None
    await context.engine.update_call(call, update)
    return Response(status_code=200)


async def update_call_bxml(request: Request) -> Response:
    context, call = await call_of_account(request)
    if (owners := await answer_from_owner(request, context, call)) is not None:
        return owners
    content_type = request.headers.get("content-type", "application/xml")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ("application/xml", "text/xml") and not media_type.endswith("+xml"):
        raise UnsupportedMediaTypeError(
            f"Content type '{content_type}' not supported: send application/xml"
        )
    body = await read_body(request, limit=MAX_BXML_BYTES)
    try:
        document = parse_bxml(body, root="Bxml", base_url=_document_url(context, call))
    except BxmlError as error:
        raise ValidationError(f"Invalid BXML: {error}") from None
    assert context.engine is not None
    await context.engine.replace_bxml(call, document)
    return Response(status_code=204)


def _document_url(context: ApiContext, call: Call) -> str:
    """The URL that served the call's current document: relative URLs in a PUT .../bxml body
    resolve against it, as they would in that document (webhooks/about.mdx; Bandwidth does not
    say what a PUT document's base is). That is the answerUrl, or the gather, redirect or
    fallback URL whose answer the call runs now; a PUT document inherits its base, so a second
    PUT resolves the same way. The answerUrl while no document has arrived yet."""
    runner = context.engine.get(call.call_id) if context.engine else None
    interpreter = runner.interpreter if runner is not None else None
    if interpreter is not None and interpreter.document.base_url:
        return interpreter.document.base_url
    return call.request.answer_url


async def get_statistics(request: Request) -> Response:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    assert context.engine is not None
    current, maximum = context.engine.queue_statistics(account_id)
    queued_anywhere = getattr(context.store, "queued_call_count", None)
    if context.nodes is not None and queued_anywhere is not None:
        current = await queued_anywhere(account_id)  # several nodes: the account's whole queue
    return JsonResponse({"currentCallQueueSize": current, "maxCallQueueSize": maximum})
