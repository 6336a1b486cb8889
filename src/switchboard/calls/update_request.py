"""The updateCall request body (POST .../calls/{callId}), validated. Pure.

`state: active` (the default) redirects the call to `redirectUrl`, or with only a `tag` just
changes the tag; `state: completed` hangs up, cancels or dequeues the call. The SDK always sends
`redirectMethod` and `redirectFallbackMethod`, also with `completed`: they are accepted there
and ignored, while `redirectUrl` and `tag`, which the spec says are "not allowed" with
`completed`, are refused.

A relative `redirectUrl` or `redirectFallbackUrl` (modifyInProgressCallGuide.mdx's example sends
"/goodbyeMessage") resolves against `base_url`, the call's answerUrl, as a relative URL in the
call's BXML resolves against the URL that served it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from switchboard.calls import validation as check
from switchboard.calls.create_request import MAX_CREDENTIAL_LENGTH, MAX_TAG_LENGTH
from switchboard.errors import ValidationError
from switchboard.url_credentials import split_credentials


@dataclass(frozen=True, slots=True)
class UpdateCallRequest:
    state: str  # "active" or "completed"
    redirect_url: str | None = None
    redirect_method: str = "POST"
    redirect_fallback_url: str | None = None
    redirect_fallback_method: str = "POST"
    username: str | None = None
    password: str | None = None
    fallback_username: str | None = None
    fallback_password: str | None = None
    tag: str | None = None  # None: unchanged; "": cleared


def parse_update_call(body: Mapping[str, Any], base_url: str | None = None) -> UpdateCallRequest:
    state = check.string(body, "state") or "active"
    if state not in ("active", "completed"):
        raise check.invalid("state", f"must be active or completed, got '{state}'")
    if base_url is not None:
        body = _resolved(body, base_url, ("redirectUrl", "redirectFallbackUrl"))
    # user:password@ is split off each URL here (DESIGN.md rule 7): each URL has a pair of
    # its own, which the URL's credentials fill unless it was given (it wins, as before).
    redirect_url, username, password = _with_credentials(
        check.url(body, "redirectUrl"),
        check.string(body, "username", max_length=MAX_CREDENTIAL_LENGTH),
        check.string(body, "password", max_length=MAX_CREDENTIAL_LENGTH),
    )
    fallback_url, fallback_username, fallback_password = _with_credentials(
        check.url(body, "redirectFallbackUrl"),
        check.string(body, "fallbackUsername", max_length=MAX_CREDENTIAL_LENGTH),
        check.string(body, "fallbackPassword", max_length=MAX_CREDENTIAL_LENGTH),
    )
    tag = check.string(body, "tag", max_length=MAX_TAG_LENGTH)
    request = UpdateCallRequest(
        state=state,
        redirect_url=redirect_url,
        redirect_method=check.method(body, "redirectMethod") or "POST",
        redirect_fallback_url=fallback_url,
        redirect_fallback_method=check.method(body, "redirectFallbackMethod") or "POST",
        username=username,
        password=password,
        fallback_username=fallback_username,
        fallback_password=fallback_password,
        tag=tag,
    )
    if state == "completed":
        for field, value in (
            ("redirectUrl", redirect_url),
            ("redirectFallbackUrl", request.redirect_fallback_url),
            ("tag", tag),
        ):
            if value is not None:
                raise ValidationError(f"Invalid {field}: not allowed when state is completed")
    elif redirect_url is None and tag is None:
        raise ValidationError(
            "Invalid redirectUrl: required when state is active (or send only a tag to change it)"
        )
    return request


def _with_credentials(
    url: str | None, username: str | None, password: str | None
) -> tuple[str | None, str | None, str | None]:
    if url is None:
        return None, username, password
    bare, user, secret = split_credentials(url)
    if username is None and user is not None:
        return bare, user, secret
    return bare, username, password


def _resolved(body: Mapping[str, Any], base_url: str, fields: tuple[str, ...]) -> Mapping[str, Any]:
    """`body` with its relative URL `fields` made absolute against `base_url`."""
    changed = dict(body)
    for field in fields:
        value = body.get(field)
        if isinstance(value, str) and value and not urlsplit(value).scheme:
            changed[field] = urljoin(base_url, value)
    return changed
