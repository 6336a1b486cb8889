"""OAuth2 client credentials: POST /api/v1/oauth2/token, as Bandwidth's identity service does."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api.body import read_body
from switchboard.api.context import context_of
from switchboard.api.responses import JsonResponse
from switchboard.errors import AuthenticationError, SwitchboardError, ValidationError


async def issue_token(request: Request) -> Response:
    context = context_of(request)
    try:
        raw = await read_body(request, limit=8 * 1024)
        form = parse_qs(raw.decode("utf-8", "replace"))
        grant_type = (form.get("grant_type") or [""])[0]
        if grant_type != "client_credentials":
            raise _UnsupportedGrantType(
                f"Unsupported grant_type {grant_type!r}: only client_credentials is supported"
            )
        await context.refresh_provisioning()
        token = await context.auth.issue_token(
            request.headers.get("authorization"),
            request.client.host if request.client else None,
        )
    except SwitchboardError as error:
        return _oauth_error(error)
    return JsonResponse(
        {
            "access_token": token.access_token,
            "token_type": "Bearer",
            "expires_in": token.expires_in,
        },
        headers={"Cache-Control": "no-store"},
    )


class _UnsupportedGrantType(ValidationError):
    pass


def _oauth_error(error: SwitchboardError) -> Response:
    """Bandwidth's error shape, plus RFC 6749's `error` fields so OAuth libraries understand it."""
    if isinstance(error, AuthenticationError):
        code = "invalid_client"
    elif isinstance(error, _UnsupportedGrantType):
        code = "unsupported_grant_type"
    else:
        code = "invalid_request"  # e.g. a body over the size limit
    body = {
        "type": error.type,
        "description": error.description,
        "id": None,
        "error": code,
        "error_description": error.description,
    }
    return JsonResponse(body, status_code=error.status, headers=error.headers())
