"""An example voice application that Switchboard serves itself (issue 14), so that a first call
does something visible with nothing else running: the banner's curl, the README and the
console's one-click call point answerUrl here.

GET|POST /switchboard/v1/examples/ivr/answer      -> BXML: a greeting, then a Gather of one digit
GET|POST /switchboard/v1/examples/ivr/gather      -> BXML: says the key pressed (or none), hangs up
GET|POST /switchboard/v1/examples/ivr/disconnect  -> 204

It is an application like any other: Switchboard calls these URLs over HTTP, through the same
webhook sender and the same destination policy (webhooks/guard.py) as anyone's. The server's
own address is loopback (or private), so under the production profile, where private
destinations are refused, the call ends in callback-error unless the address is listed in
`[server] allowed_destinations`; the example is for the development profile.

The documents are plain strings in the form Bandwidth's official SDK writes
(`bandwidth.models.bxml`), with the gather URL relative to the answer URL, as an app behind any
base URL would write it. The routes take no credentials and keep no state: what they answer
depends only on the digits in the request.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchboard.api.body import read_body
from switchboard.errors import ValidationError

PREFIX = "/switchboard/v1/examples/ivr"
ANSWER_PATH = f"{PREFIX}/answer"
GATHER_PATH = f"{PREFIX}/gather"
DISCONNECT_PATH = f"{PREFIX}/disconnect"

GREETING = "Hello from Switchboard. This is the example application. Press a key on your keypad."
# Long enough for a person at the console's keypad; the prompt's own time comes first.
FIRST_DIGIT_TIMEOUT = 10
# A gather event is a small JSON object; anything bigger is not one.
MAX_EVENT_BYTES = 16 * 1024
BXML_TYPE = "application/xml"
_DIGITS = set("0123456789*#ABCD")


def answer_url(base_url: str) -> str:
    """The example's answerUrl on a server reachable at `base_url` (no trailing slash)."""
    return base_url.rstrip("/") + ANSWER_PATH


def disconnect_url(base_url: str) -> str:
    return base_url.rstrip("/") + DISCONNECT_PATH


def _bxml(*verbs: str) -> Response:
    document = '<?xml version="1.0" encoding="UTF-8"?>\n<Response>' + "".join(verbs)
    return Response(document + "</Response>", media_type=BXML_TYPE)


def greeting_bxml() -> str:
    """The answer document: the greeting as the Gather's prompt, so a key pressed during it
    counts; "gather" resolves against the answer URL to .../ivr/gather."""
    return (
        f'<Gather gatherUrl="gather" maxDigits="1" firstDigitTimeout="{FIRST_DIGIT_TIMEOUT}">'
        f"<SpeakSentence>{escape(GREETING)}</SpeakSentence></Gather>"
    )


def said_for(digits: str) -> str:
    """What the call says after the Gather: the key pressed, or that none was."""
    if not digits:
        return "You pressed nothing. Goodbye."
    return f"You pressed {digits}. Goodbye."


async def answer(request: Request) -> Response:
    return _bxml(greeting_bxml())


async def gather(request: Request) -> Response:
    digits = await _digits(request)
    return _bxml(f"<SpeakSentence>{escape(said_for(digits))}</SpeakSentence>", "<Hangup/>")


async def disconnect(request: Request) -> Response:
    return Response(status_code=204)


async def _digits(request: Request) -> str:
    """The `digits` of a gather event (POST JSON body, or the query string when gatherMethod
    is GET). Anything else (no body, not JSON, other characters) counts as no digits: this
    is a webhook target, it never answers an event with an error."""
    value: object = request.query_params.get("digits")
    if request.method == "POST":
        try:
            body = orjson.loads(await read_body(request, MAX_EVENT_BYTES) or b"null")
        except (orjson.JSONDecodeError, ValidationError):  # not JSON, too big, bad length
            body = None
        if isinstance(body, dict):
            value = body.get("digits")
    if not isinstance(value, str) or not set(value) <= _DIGITS:
        return ""
    return value[:50]  # BXML's maxDigits is at most 50


def example_routes() -> list[Route]:
    methods = ["GET", "POST"]
    return [
        Route(ANSWER_PATH, answer, methods=methods),
        Route(GATHER_PATH, gather, methods=methods),
        Route(DISCONNECT_PATH, disconnect, methods=methods),
    ]
