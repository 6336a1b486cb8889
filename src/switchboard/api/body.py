"""Reading request bodies safely: size cap, content type, JSON object.

The checks are plain functions of header values and bytes, so that the Starlette routes and the
raw-ASGI create-call path (api/create_call_path.py) apply the same rules with the same messages.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from switchboard.errors import PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError

MAX_BODY_BYTES = 64 * 1024


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (413) anything over `limit` without reading it all."""
    check_declared_length(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def check_declared_length(declared: str | None, limit: int = MAX_BODY_BYTES) -> None:
    """A Content-Length over `limit` is refused (413) before any of the body is read."""
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise ValidationError(f"Invalid Content-Length header: {declared!r}") from None
        if too_big:
            raise too_large(limit)


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body too large: the limit is {limit // 1024} KB")


def require_json_content_type(request: Request) -> None:
    check_json_content_type(request.headers.get("content-type"))


def check_json_content_type(content_type: str | None) -> None:
    if content_type is None:
        return  # lenient: a body without a declared type is read as JSON
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content type '{content_type}' not supported: send application/json"
        )


async def read_json_object(request: Request) -> dict[str, Any]:
    require_json_content_type(request)
    return json_object(await read_body(request))


def json_object(raw: bytes) -> dict[str, Any]:
    """The body decoded as a JSON object, or the 400 that says what is wrong with it."""
    if not raw.strip():
        raise ValidationError("Request body is empty: send a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ValidationError(f"Malformed JSON in request body: {error}") from None
    if not isinstance(value, dict):
        raise ValidationError(f"Request body must be a JSON object, got {_json_kind(value)}")
    return value


def _json_kind(value: object) -> str:
    """Name a decoded JSON value the way JSON does (not Python's str/int/NoneType)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"
