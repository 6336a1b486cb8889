"""An answerUrl that answers with something hostile or broken: XML bombs, external entities,
deep nesting, huge and compressed bodies, wrong encodings, binary. Each call ends at once with
the cause and errorMessage a developer can act on (which URL, what was wrong), sends exactly one
disconnect event, costs no call time and little real time, reads no more than 64 KB, fetches
nothing the document names, and leaves the server serving the call placed beside it."""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Response, SpeakSentence

from tests.e2e.flow import at, create_call, entries, one_disconnect, since, timeline
from tests.e2e.phones import ANSWERS
from tests.support.receiver import Raw, Receiver, Reply, Stream
from tests.support.server import VirtualTimeServer

GOOD = Response([SpeakSentence("Hello there")]).to_bxml()  # 2 words: 0.8 s
TEN_MB = 10 * 1024 * 1024
# What a whole hostile call may cost, placing to disconnect (about 0.02 s of CPU when it is
# refused as it should be, 0.1 s for the billion laughs): seconds of CPU time of this process,
# where the server, the apps and the client all run, which a loaded machine does not inflate
# the way it stretches wall time. Wall time is bounded too, below the 15 s callbackTimeout,
# which is what a server that waited on the hostile answer instead of hanging up would take.
CPU_TIME_LIMIT = 1.0
WALL_TIME_LIMIT = 10.0

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
BILLION_LAUGHS = (
    HEAD
    + b"<!DOCTYPE lolz [\n"
    + b' <!ENTITY lol0 "lol">\n'
    + b"".join(f' <!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">\n'.encode() for n in range(1, 10))
    + b"]>\n<Response><SpeakSentence>&lol9;</SpeakSentence></Response>"
)


def external_entity(target: str) -> bytes:
    return (
        HEAD
        + f'<!DOCTYPE Response [<!ENTITY xxe SYSTEM "{target}">]>\n'.encode()
        + b"<Response><SpeakSentence>&xxe;</SpeakSentence></Response>"
    )


def gzip_bomb(decompressed: int) -> bytes:
    """A gzip stream of `decompressed` zero bytes in about a thousandth of that. After a full
    flush a compressor forgets its history, so each further megabyte compresses to the same
    block and the bomb is built by repetition, without compressing a gigabyte."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    megabyte = bytes(1 << 20)
    first = compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (decompressed // len(megabyte) - 1)  # no trailer: never reached


@dataclass(frozen=True)
class Case:
    """What the answerUrl sends (given the app's base URL), and how the call must end."""

    reply: Callable[[str], Reply]
    cause: str
    says: str  # what errorMessage must contain (after the URL); "" for a clean hangup


def xml(data: bytes, content_type: str = "application/xml") -> Callable[[str], Reply]:
    return lambda _base: Raw(data, content_type)


CASES = {
    # -- entity tricks: refused at the DOCTYPE, before anything is expanded or fetched --------
    "billion laughs": Case(
        xml(BILLION_LAUGHS), "invalid-bxml", "line 2, column 1: DOCTYPE declarations are not"
    ),
    "external entity (file)": Case(
        xml(external_entity("file:///etc/passwd")),
        "invalid-bxml",
        "DOCTYPE declarations are not allowed in BXML",
    ),
    "external entity (http)": Case(
        lambda base: Raw(external_entity(f"{base}/evil.dtd"), "application/xml"),
        "invalid-bxml",
        "DOCTYPE declarations are not allowed in BXML",
    ),
    "external DTD": Case(
        lambda base: Raw(
            HEAD + f'<!DOCTYPE Response SYSTEM "{base}/evil.dtd">\n<Response/>'.encode(),
            "application/xml",
        ),
        "invalid-bxml",
        "DOCTYPE declarations are not allowed in BXML",
    ),
    "parameter entity": Case(
        lambda base: Raw(
            HEAD
            + f'<!DOCTYPE Response [<!ENTITY % p SYSTEM "{base}/evil.dtd"> %p;]>\n'.encode()
            + b"<Response/>",
            "application/xml",
        ),
        "invalid-bxml",
        "DOCTYPE declarations are not allowed in BXML",
    ),
    "undeclared entity": Case(
        xml(b"<Response><SpeakSentence>&xxe;</SpeakSentence></Response>"),
        "invalid-bxml",
        "line 1, column 26: undefined entity",
    ),
    # -- nesting: 10,000 levels fit in 64 KB only unclosed (30 KB); 9,000 closed is 63 KB -----
    "10,000 deep": Case(
        xml(b"<Response>" + b"<a>" * 10_000),
        "invalid-bxml",
        "elements are nested more than 32 deep",
    ),
    "9,000 deep, closed": Case(
        xml(b"<Response>" + b"<a>" * 9_000 + b"</a>" * 9_000 + b"</Response>"),
        "invalid-bxml",
        "elements are nested more than 32 deep",
    ),
    # -- size: delivery stops reading at 64 KB; the answer is over-long BXML, not a failure ------
    "10 MB streamed": Case(
        lambda _base: Stream(TEN_MB, head=b"<Response>"),
        "invalid-bxml",
        "the document is over 64 KB; Switchboard stopped reading it there",
    ),
    "10 MB with Content-Length": Case(
        lambda _base: Stream(TEN_MB, head=b"<Response>", declare_length=True),
        "invalid-bxml",
        "the document is over 64 KB; Switchboard stopped reading it there",
    ),
    "1 GB gzip bomb": Case(
        lambda _base: Raw(
            gzip_bomb(1 << 30), "application/xml", headers={"Content-Encoding": "gzip"}
        ),
        "invalid-bxml",
        "the document is over 64 KB; Switchboard stopped reading it there",
    ),
    # -- encodings and binary ------------------------------------------------------------------
    "UTF-16 with a BOM": Case(xml(GOOD.encode("utf-16")), "invalid-bxml", "the document is UTF-16"),
    "UTF-16 without a BOM": Case(
        xml(GOOD.encode("utf-16-le")), "invalid-bxml", "the document contains NUL bytes"
    ),
    "UTF-16 declared": Case(
        xml(GOOD.replace("encoding='UTF-8'", "encoding='UTF-16'").encode()),
        "invalid-bxml",
        "the XML declaration says encoding 'UTF-16'; BXML must be UTF-8",
    ),
    "latin-1 undeclared": Case(
        xml("<Response><SpeakSentence>Café</SpeakSentence></Response>".encode("latin-1")),
        "invalid-bxml",
        "line 1, column 29: byte 0xe9 is not valid UTF-8",
    ),
    "binary": Case(
        xml(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "image/png"),
        "invalid-bxml",
        "line 3, column 1: the document contains NUL bytes: it is binary data or UTF-16",
    ),
    "binary without NULs": Case(
        xml(b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)) * 8, "image/png"),
        "invalid-bxml",
        "line 1, column 1: byte 0x89 is not valid UTF-8",
    ),
    "a NUL byte": Case(
        xml(b"<Response><SpeakSentence>Hi\x00</SpeakSentence></Response>"),
        "invalid-bxml",
        "line 1, column 28: the document contains NUL bytes",
    ),
    "a control character": Case(
        xml(b"<Response><SpeakSentence>Hi\x07</SpeakSentence></Response>"),
        "invalid-bxml",
        "control character U+0007 is not allowed in XML",
    ),
    # -- not BXML at all -----------------------------------------------------------------------
    "an HTML page": Case(
        xml(b"<html><body><h1>It works!</h1></body></html>", "text/html"),
        "invalid-bxml",
        "the root element must be <Response>, got <html>",
    ),
    "an HTML page with a doctype": Case(
        xml(b"<!DOCTYPE html>\n<html><body><h1>It works!</h1></body></html>", "text/html"),
        "invalid-bxml",
        "line 1, column 1: DOCTYPE declarations are not allowed in BXML",
    ),
    "an HTML page names its Content-Type": Case(
        xml(b"<!DOCTYPE html>\n<html><body><h1>500</h1></body></html>", "text/html"),
        "invalid-bxml",
        "(the answer's Content-Type was text/html; BXML is XML)",
    ),
    "JSON": Case(
        xml(b'{"verbs": ["SpeakSentence"]}', "application/json"),
        "invalid-bxml",
        "line 1, column 1: malformed XML: not well-formed (invalid token) (the answer's "
        "Content-Type was application/json; BXML is XML)",
    ),
    # -- empty answers are a document with no verbs (compatibility.md): the call hangs up ----
    "an empty 200": Case(xml(b""), "hangup", ""),
    "a 200 of whitespace": Case(xml(b" \r\n\t "), "hangup", ""),
    "a 204": Case(lambda _base: Raw(b"", status=204), "hangup", ""),
}


def assert_uuid(value: str) -> None:
    assert str(uuid.UUID(value)) == value


@pytest.mark.parametrize("name", CASES)
def test_a_hostile_answer_ends_the_call_at_once_and_others_go_on(
    vserver: VirtualTimeServer,
    app: Receiver,
    other_app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    name: str,
) -> None:
    case = CASES[name]
    reply = case.reply(app.base_url)
    app.on("/answer", reply)
    other_app.on("/answer", GOOD)

    started, cpu_started = time.monotonic(), time.process_time()
    call_id = create_call(calls_api, app, ANSWERS)
    neighbour_id = create_call(calls_api, other_app, ANSWERS)
    vserver.advance(30)
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started

    disconnect = one_disconnect(app)
    assert disconnect["callId"] == call_id
    assert disconnect["cause"] == case.cause
    assert disconnect["endTime"] == disconnect["answerTime"]  # not a moment of call time
    if case.says:
        message = disconnect["errorMessage"]
        assert f"{app.url('/answer')}" in message, message
        assert case.says in message, message
        assert_uuid(disconnect["errorId"])
        items = timeline(switchboard, call_id)
        (webhook,) = entries(items, "webhook", eventType="answer")
        assert webhook["status"] == (204 if isinstance(reply, Raw) and reply.status == 204 else 200)
        assert len(webhook["responseBody"]) <= 500
        assert entries(items, "error", cause=case.cause, message=message)
    else:
        assert "errorMessage" not in disconnect
    assert app.requests("/evil.dtd") == []  # nothing the document named was fetched
    assert "root:" not in str(timeline(switchboard, call_id))  # nor any file read

    neighbour = one_disconnect(other_app)
    assert neighbour["callId"] == neighbour_id
    assert neighbour["cause"] == "hangup"
    assert since(at(neighbour["answerTime"]), neighbour["endTime"]) == 0.8  # it spoke, then hung up
    assert cpu < CPU_TIME_LIMIT, f"{name} cost {cpu:.2f} s of CPU time"
    assert elapsed < WALL_TIME_LIMIT, f"{name} took {elapsed:.2f} s of real time"

    if isinstance(reply, Stream):
        # Switchboard hung up on the body: the receiver could not send all 10 MB of it.
        assert reply.done.wait(5)
        assert reply.hung_up
        assert reply.sent < TEN_MB


def test_a_huge_answer_is_invalid_bxml_and_does_not_fall_back(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    # The fallback is for an answerUrl that fails to respond; this one responded, too much.
    huge = Stream(TEN_MB, head=b"<Response>")
    app.on("/answer", huge)
    app.on("/fallback", GOOD)
    create_call(calls_api, app, ANSWERS, answer_fallback_url=app.url("/fallback"))
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "invalid-bxml"
    assert "over 64 KB" in disconnect["errorMessage"]
    assert app.requests("/fallback") == []
    assert huge.done.wait(5) and huge.hung_up


def test_valid_bxml_served_as_text_html_runs(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    # Many frameworks answer text/html unless told otherwise; the body is what counts.
    app.on("/answer", Raw(GOOD.encode(), "text/html"))
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(at(disconnect["answerTime"]), disconnect["endTime"]) == 0.8


def test_latin_1_is_read_when_declared(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    document = '<?xml version="1.0" encoding="ISO-8859-1"?><Response><SpeakSentence>Café crème'
    app.on("/answer", Raw((document + "</SpeakSentence></Response>").encode("latin-1")))
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(at(disconnect["answerTime"]), disconnect["endTime"]) == 0.8


def test_a_hostile_gather_answer_ends_the_call_where_it_came(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on(
        "/answer",
        '<Response><Gather gatherUrl="/gather" maxDigits="1" firstDigitTimeout="2"/></Response>',
    )
    app.on("/gather", Raw(BILLION_LAUGHS, "application/xml"))
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "invalid-bxml"
    assert f"Invalid BXML from {app.url('/gather')} (gather)" in disconnect["errorMessage"]
    assert "DOCTYPE declarations are not allowed" in disconnect["errorMessage"]
    assert since(at(disconnect["answerTime"]), disconnect["endTime"]) == 2.0  # the Gather's wait
