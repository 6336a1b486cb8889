"""PUT /calls/{callId}/bxml (updateCallBxml) through the official SDK: a <Bxml> (or <Response>)
document replaces what a live call is executing; invalid documents and calls in the wrong state
are refused."""

from __future__ import annotations

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import (
    ApiException,
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from bandwidth.models.bxml import (
    Bxml,
    Gather,
    Hangup,
    Pause,
    Redirect,
    Response,
    SpeakSentence,
)
from bandwidth.models.bxml.verb import Verb

from tests.e2e.control import RUNNING_VERBS, calls_api_for, conflict, sdk_error
from tests.e2e.flow import check_event, create_call, entries, now, one_disconnect, since, timeline
from tests.e2e.phones import ANSWERS, NO_ANSWER, PRESSES_1234
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, OTHER_ACCOUNT_ID, USERNAME, VirtualTimeServer


@pytest.mark.parametrize(("name", "verb"), RUNNING_VERBS, ids=[name for name, _ in RUNNING_VERBS])
def test_new_bxml_replaces_the_running_verb_and_the_rest_of_the_document(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    name: str,
    verb: Verb,
) -> None:
    app.on("/answer", Response([verb, Redirect("/original-next")]).to_bxml())
    app.on("/after-put", Response([Hangup()]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(5)  # answered at 2 s, 3 s into the verb

    # A relative URL resolves against the call's answerUrl.
    document = Bxml([SpeakSentence("Your agent is ready"), Redirect("/after-put")])
    response = calls_api.update_call_bxml_with_http_info(ACCOUNT_ID, call_id, document.to_bxml())
    assert (response.status_code, response.raw_data) == (204, b"")
    vserver.advance(30)

    assert app.requests("/original-next") == [] and app.requests("/gather") == []
    (redirect,) = app.requests("/after-put")
    check_event(redirect.event, "redirect", call_id, ANSWERS)
    assert since(created, redirect.event["eventTime"]) == 5.0 + 1.6  # four words of speech
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["endTime"]) == 6.6

    items = timeline(switchboard, call_id)
    interrupted = entries(items, "verb", verb=name)[:2]
    assert [entry["event"] for entry in interrupted] == ["started", "stopped"]
    assert since(created, interrupted[1]["at"]) == 5.0
    (put,) = entries(items, "bxml", source="PUT /bxml")
    assert since(created, put["at"]) == 5.0
    assert entries(items, "verb", verb="SpeakSentence", event="started")[-1]["text"] == (
        "Your agent is ready"
    )


@pytest.mark.parametrize("root", [Bxml, Response], ids=["Bxml", "Response"])
def test_the_sdks_bxml_and_response_builders_are_both_taken(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    root: type[Bxml] | type[Response],
) -> None:
    # The spec shows <Bxml>; Bandwidth's own SDK smoke tests and samples send <Response>.
    app.on("/answer", Response([Pause(30)]).to_bxml())
    app.on("/after-put", Response([Hangup()]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(3)  # answered at 2 s, 1 s into the Pause

    document = root([SpeakSentence("Your agent is ready"), Redirect(app.url("/after-put"))])
    assert document.to_bxml().splitlines()[1].startswith(f"<{root.__name__}>")
    response = calls_api.update_call_bxml_with_http_info(ACCOUNT_ID, call_id, document.to_bxml())
    assert (response.status_code, response.raw_data) == (204, b"")
    vserver.advance(30)

    (redirect,) = app.requests("/after-put")
    check_event(redirect.event, "redirect", call_id, ANSWERS)
    assert since(created, redirect.event["eventTime"]) == 3.0 + 1.6  # four words of speech
    assert since(created, one_disconnect(app)["endTime"]) == 4.6
    items = timeline(switchboard, call_id)
    (put,) = entries(items, "bxml", source="PUT /bxml")
    assert (since(created, put["at"]), put["verbs"]) == (3.0, 2)
    (spoken,) = entries(items, "verb", verb="SpeakSentence", event="started")
    assert spoken["text"] == "Your agent is ready"


def test_relative_urls_resolve_against_the_url_that_served_the_current_document(
    vserver: VirtualTimeServer, app: Receiver, other_app: Receiver, calls_api: CallsApi
) -> None:
    # The answer comes from one app; the gather's answer, which the call then runs, from another
    # host and path. A PUT document's relative URL is read as if it were in that document.
    gather = Gather(gather_url=other_app.url("/ivr/menu"), terminating_digits="#")
    app.on("/calls/answer", Response([gather]).to_bxml())
    other_app.on("/ivr/menu", Response([Pause(30)]).to_bxml())
    other_app.on("/ivr/next-step", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, PRESSES_1234, answer="/calls/answer")
    vserver.advance(10)
    (gathered,) = other_app.requests("/ivr/menu")
    assert gathered.event["digits"] == "1234"

    # A first PUT document without URLs; the second is resolved against the same URL, as the
    # first took the gather answer's place without being served by any URL itself.
    calls_api.update_call_bxml(ACCOUNT_ID, call_id, Response([Pause(30)]).to_bxml())
    vserver.advance(1)
    calls_api.update_call_bxml(ACCOUNT_ID, call_id, Bxml([Redirect("next-step")]).to_bxml())
    vserver.advance(1)

    (redirect,) = other_app.requests("/ivr/next-step")
    check_event(redirect.event, "redirect", call_id, PRESSES_1234)
    assert [received.path for received in app.requests("/calls/next-step")] == []
    assert one_disconnect(app)["cause"] == "hangup"


def test_new_bxml_may_gather_and_its_callback_answers_as_usual(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Pause(30)]).to_bxml())
    app.on("/gathered", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, PRESSES_1234, tag="queue")
    vserver.advance(3)

    gather = Gather(gather_url=app.url("/gathered"), terminating_digits="#")
    calls_api.update_call_bxml(ACCOUNT_ID, call_id, Bxml([gather]).to_bxml())
    vserver.advance(30)

    (gathered,) = app.events("gather")
    check_event(gathered, "gather", call_id, PRESSES_1234, optional={"tag"})
    assert (gathered["digits"], gathered["terminatingDigit"], gathered["tag"]) == (
        "1234",
        "#",
        "queue",
    )
    assert one_disconnect(app)["cause"] == "hangup"


def test_an_empty_document_ends_the_call_like_the_end_of_any_bxml(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Pause(30)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(4)

    calls_api.update_call_bxml(ACCOUNT_ID, call_id, "<Bxml/>")
    vserver.advance(1)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["endTime"]) == 4.0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "<Html><Hangup/></Html>",
            "line 1, column 1: the root element must be <Bxml> or <Response>, got <Html>",
        ),
        ("<Response><Dance/></Response>", "Dance"),
        ("<Bxml><Dance/></Bxml>", "Dance"),
        ("<Bxml><Pause duration='soon'/></Bxml>", "duration"),
        ("<Bxml><SpeakSentence>unclosed</Bxml>", "line 1"),
        ("", ""),
    ],
    ids=[
        "other-root",
        "response-unknown-verb",
        "unknown-verb",
        "bad-attribute",
        "malformed",
        "empty",
    ],
)
def test_invalid_bxml_is_400_with_the_reason_and_the_call_goes_on(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, body: str, reason: str
) -> None:
    app.on("/answer", Response([Pause(3)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(3)

    error = sdk_error(
        lambda: calls_api.update_call_bxml(ACCOUNT_ID, call_id, body),
        BadRequestException,
        400,
        "validation",
    )
    description = error.data.description
    assert description.startswith("Invalid BXML: ") and reason in description, description
    vserver.advance(30)
    assert since(created, one_disconnect(app)["endTime"]) == 5.0  # the Pause ran its course


def test_a_ringing_call_and_an_ended_call_are_409(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    document = Bxml([Hangup()]).to_bxml()
    ringing = create_call(calls_api, app, NO_ANSWER)
    vserver.advance(2)
    sdk_error(
        lambda: calls_api.update_call_bxml(ACCOUNT_ID, ringing, document),
        ConflictException,
        409,
        "validation",
        conflict(ringing),
        error_id="",
    )
    vserver.advance(60)
    assert one_disconnect(app)["cause"] == "timeout"  # the refused document did nothing

    sdk_error(
        lambda: calls_api.update_call_bxml(ACCOUNT_ID, ringing, document),
        ConflictException,
        409,
        "validation",
        conflict(ringing),
        error_id="",
    )


def test_a_content_type_other_than_xml_is_415(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Pause(3)]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(3)

    error = sdk_error(
        lambda: calls_api.update_call_bxml(
            ACCOUNT_ID, call_id, "<Bxml><Hangup/></Bxml>", _content_type="text/plain"
        ),
        ApiException,
        415,
        "validation",
    )
    assert "text/plain" in error.data.description
    vserver.advance(30)


def test_unknown_call_404_other_accounts_path_403_bad_credentials_401(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    document = Bxml([Hangup()]).to_bxml()
    sdk_error(
        lambda: calls_api.update_call_bxml(ACCOUNT_ID, "c-00000000-unknown", document),
        NotFoundException,
        404,
        "validation",
        "Call [c-00000000-unknown] not found",
    )
    call_id = create_call(calls_api, app, NO_ANSWER)
    sdk_error(
        lambda: calls_api.update_call_bxml(OTHER_ACCOUNT_ID, call_id, document),
        ForbiddenException,
        403,
        "authorization-error",
    )
    with calls_api_for(vserver, USERNAME, "wrong") as intruder:
        sdk_error(
            lambda: intruder.update_call_bxml(ACCOUNT_ID, call_id, document),
            UnauthorizedException,
            401,
            "authentication-error",
        )
    vserver.advance(60)
    assert one_disconnect(app)["cause"] == "timeout"
