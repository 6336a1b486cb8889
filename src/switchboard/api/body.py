"""Reading request bodies safely: size cap, content type, JSON object."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from switchboard.errors import PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError

MAX_BODY_BYTES = 64 * 1024


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (413) anything over `limit` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise ValidationError(f"Invalid Content-Length header: {declared!r}") from None
        if too_big:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body too large: the limit is {limit // 1024} KB")


def require_json_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return  # lenient: a body without a declared type is read as JSON
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content type '{content_type}' not supported: send application/json"
        )


async def read_json_object(request: Request) -> dict[str, Any]:
    require_json_content_type(request)
    raw = await read_body(request)
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
