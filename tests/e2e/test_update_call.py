"""POST /calls/{callId} (updateCall) through the official SDK: redirect a live call, hang it up,
cancel it while it rings, change its tag; and every error the SDK can meet on the way."""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import (
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from bandwidth.models.bxml import Hangup, Pause, Redirect, Response, SpeakSentence
from bandwidth.models.bxml.verb import Verb
from bandwidth.models.update_call import UpdateCall

from tests.e2e.control import RUNNING_VERBS, calls_api_for, conflict, sdk_error
from tests.e2e.flow import (
    at,
    callee,
    check_event,
    create_call,
    entries,
    now,
    one_disconnect,
    since,
    timeline,
)
from tests.e2e.phones import ANSWERS, NO_ANSWER
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    OTHER_ACCOUNT_ID,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
)


def completed() -> UpdateCall:
    return UpdateCall(state="completed")


def redirect_to(url: str, **extra: object) -> UpdateCall:
    return UpdateCall(state="active", redirect_url=url, **extra)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# -- redirect -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "verb"), RUNNING_VERBS, ids=[name for name, _ in RUNNING_VERBS])
def test_redirect_interrupts_the_running_verb_and_runs_the_new_bxml(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    name: str,
    verb: Verb,
) -> None:
    app.on("/answer", Response([verb, Redirect("/original-next")]).to_bxml())
    app.on("/new", Response([SpeakSentence("Thank you for holding! Goodbye!")]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(5)  # answered at 2 s, 3 s into the verb

    response = calls_api.update_call_with_http_info(
        ACCOUNT_ID, call_id, redirect_to(app.url("/new"))
    )
    assert (response.status_code, response.raw_data) == (200, b"")
    vserver.advance(30)

    (redirect,) = app.requests("/new")
    assert redirect.method == "POST"
    check_event(redirect.event, "redirect", call_id, ANSWERS)
    assert since(created, redirect.event["eventTime"]) == 5.0
    assert since(created, redirect.event["answerTime"]) == 2.0
    # What ran is gone: neither the rest of the document nor the Gather's callback happen.
    assert app.requests("/original-next") == [] and app.requests("/gather") == []
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["endTime"]) == 5.0 + 2.0  # five words at 150 per minute

    items = timeline(switchboard, call_id)
    interrupted = entries(items, "verb", verb=name)[:2]
    assert [entry["event"] for entry in interrupted] == ["started", "stopped"]
    assert since(created, interrupted[1]["at"]) == 5.0
    assert entries(items, "redirect", by="updateCall")[0]["url"] == app.url("/new")
    spoken = entries(items, "verb", verb="SpeakSentence", event="started")
    assert spoken[-1]["text"] == "Thank you for holding! Goodbye!"


def test_redirect_with_method_credentials_and_fallback(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    app.on("/primary", (500, "down"))
    app.on("/fallback", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(4)

    calls_api.update_call(
        ACCOUNT_ID,
        call_id,
        redirect_to(
            app.url("/primary"),
            redirect_method="GET",
            username="app-user",
            password="app-secret",
            redirect_fallback_url=app.url("/fallback"),
            redirect_fallback_method="POST",
            fallback_username="fallback-user",
            fallback_password="fallback-secret",
        ),
    )
    vserver.advance(30)

    (primary,) = app.requests("/primary")
    assert primary.method == "GET" and primary.body is None
    assert primary.query["eventType"] == "redirect" and primary.query["callId"] == call_id
    assert primary.headers["Authorization"] == basic("app-user", "app-secret")
    (fallback,) = app.requests("/fallback")
    assert fallback.method == "POST"
    check_event(fallback.event, "redirect", call_id, ANSWERS)
    assert fallback.headers["Authorization"] == basic("fallback-user", "fallback-secret")
    assert one_disconnect(app)["cause"] == "hangup"


def test_a_relative_redirect_url_resolves_against_the_answer_url(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    # modifyInProgressCallGuide.mdx's own example: {"redirectUrl": "/goodbyeMessage"}.
    app.on("/calls/answer", Response([Pause(60)]).to_bxml())
    app.on("/goodbyeMessage", Response([SpeakSentence("Thank you for holding!")]).to_bxml())
    app.on("/calls/fallback", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS, answer="/calls/answer")
    vserver.advance(3)

    calls_api.update_call(
        ACCOUNT_ID,
        call_id,
        redirect_to("/goodbyeMessage", redirect_fallback_url="fallback"),
    )
    vserver.advance(30)

    (redirect,) = app.requests("/goodbyeMessage")
    check_event(redirect.event, "redirect", call_id, ANSWERS)
    assert app.requests("/calls/fallback") == []  # the primary answered
    assert one_disconnect(app)["cause"] == "hangup"


def test_redirect_of_a_ringing_call_is_409(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    call_id = create_call(calls_api, app, NO_ANSWER)
    vserver.advance(2)

    sdk_error(
        lambda: calls_api.update_call(ACCOUNT_ID, call_id, redirect_to(app.url("/new"))),
        ConflictException,
        409,
        "validation",
        conflict(call_id),
        error_id="",
    )
    sdk_error(
        lambda: calls_api.update_call(ACCOUNT_ID, call_id, UpdateCall(tag="too early")),
        ConflictException,
        409,
        "validation",
        conflict(call_id),
        error_id="",
    )
    vserver.advance(60)
    assert app.requests("/new") == []
    assert one_disconnect(app)["cause"] == "timeout"  # the call went on ringing, untouched


# -- hang up, cancel ----------------------------------------------------------------------------


def test_completed_hangs_up_an_answered_call(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Pause(60), Redirect("/never")]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS, tag="support")
    vserver.advance(7)

    response = calls_api.update_call_with_http_info(ACCOUNT_ID, call_id, completed())
    assert (response.status_code, response.raw_data) == (200, b"")
    vserver.advance(60)

    disconnect = one_disconnect(app)
    check_event(disconnect, "disconnect", call_id, ANSWERS, optional={"answerTime", "tag"})
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["endTime"]) == 7.0
    assert app.requests("/never") == []
    state = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert (state.state, state.disconnect_cause) == ("disconnected", "hangup")
    assert state.end_time == created + timedelta(seconds=7)
    pause = entries(timeline(switchboard, call_id), "verb", verb="Pause")
    assert [entry["event"] for entry in pause] == ["started", "stopped"]


def test_completed_cancels_a_ringing_call(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    created = now(vserver)
    call_id = create_call(calls_api, app, NO_ANSWER)
    vserver.advance(3)

    calls_api.update_call(ACCOUNT_ID, call_id, completed())
    vserver.advance(60)

    assert app.events("answer") == []
    disconnect = one_disconnect(app)
    check_event(disconnect, "disconnect", call_id, NO_ANSWER)  # no answerTime: never answered
    assert disconnect["cause"] == "cancel"
    assert since(created, disconnect["endTime"]) == 3.0
    state = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert (state.state, state.disconnect_cause, state.answer_time) == (
        "disconnected",
        "cancel",
        None,
    )


def test_a_recently_ended_call_cannot_be_modified(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(5)
    assert one_disconnect(app)["cause"] == "hangup"

    for update in (completed(), redirect_to(app.url("/new")), UpdateCall(tag="late")):
        sdk_error(
            lambda update=update: calls_api.update_call(ACCOUNT_ID, call_id, update),
            ConflictException,
            409,
            "validation",
            conflict(call_id),
            error_id="",
        )
    vserver.advance(5)
    assert len(app.events("disconnect")) == 1
    assert app.requests("/new") == []


RACERS: dict[str, Callable[[str], UpdateCall]] = {
    "completed": lambda _url: completed(),
    "redirect": redirect_to,
}


@pytest.mark.parametrize("order", ["callee-first", "update-first", "together"])
@pytest.mark.parametrize("kind", sorted(RACERS))
def test_callee_hangs_up_in_the_same_instant_as_an_update(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    kind: str,
    order: str,
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    app.on("/new", Response([Pause(60)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(5)
    update = RACERS[kind](app.url("/new"))

    def hang_up() -> int:
        with httpx.Client(base_url=vserver.base_url, auth=(USERNAME, PASSWORD)) as client:
            return callee(client, call_id, "hangup").status_code

    def modify() -> int:
        try:
            return calls_api.update_call_with_http_info(ACCOUNT_ID, call_id, update).status_code
        except ConflictException as error:  # the hang-up won: Bandwidth's 409, never a 5xx
            assert error.data.description == conflict(call_id)
            return 409

    # No virtual time passes between the two requests: they land in the same instant.
    if order == "together":
        with ThreadPoolExecutor(2) as pool:
            hung_up, modified = pool.submit(hang_up), pool.submit(modify)
            statuses = (hung_up.result(), modified.result())
    elif order == "callee-first":
        statuses = (hang_up(), modify())
    else:
        modified_first = modify()
        statuses = (hang_up(), modified_first)
    vserver.advance(60)

    assert statuses[0] in (204, 409) and statuses[1] in (200, 409), statuses
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["endTime"]) == 5.0
    state = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert (state.state, state.disconnect_cause) == ("disconnected", "hangup")
    assert len(entries(timeline(switchboard, call_id), "state", state="disconnected")) == 1


# -- tag ----------------------------------------------------------------------------------------


def test_tag_changes_later_callbacks_and_empty_clears_it(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Pause(5), Redirect("/one")]).to_bxml())
    app.on("/one", Response([Pause(5), Redirect("/two")]).to_bxml())
    app.on("/two", Response([Pause(60)]).to_bxml())
    app.on("/three", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS, tag="created")
    vserver.advance(4)  # answered at 2 s; the Pause runs until 7 s

    calls_api.update_call(ACCOUNT_ID, call_id, UpdateCall(tag="changed"))
    vserver.advance(5)  # /one at 7 s
    calls_api.update_call(ACCOUNT_ID, call_id, UpdateCall(tag=""))
    vserver.advance(5)  # /two at 12 s
    calls_api.update_call(ACCOUNT_ID, call_id, redirect_to(app.url("/three"), tag="with-redirect"))
    vserver.advance(30)

    tags = [(event["eventType"], event.get("tag")) for event in app.events()]
    assert tags == [
        ("answer", "created"),
        ("redirect", "changed"),  # /one: the tag changed while the Pause ran
        ("redirect", None),  # /two: "" cleared it, so the field is absent
        ("redirect", "with-redirect"),  # /three: a redirect's tag is sent with it already
        ("disconnect", "with-redirect"),
    ]
    assert app.events("redirect")[0]["callId"] == call_id


# -- bad requests and who may ask ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("update", "description"),
    [
        (
            UpdateCall(state="completed", redirect_url="http://127.0.0.1:9/new"),
            "Invalid redirectUrl: not allowed when state is completed",
        ),
        (
            UpdateCall(state="completed", tag="bye"),
            "Invalid tag: not allowed when state is completed",
        ),
        (
            UpdateCall(state="active"),
            "Invalid redirectUrl: required when state is active (or send only a tag to change it)",
        ),
        (
            UpdateCall(redirect_url="ftp://127.0.0.1/new"),
            "Invalid redirectUrl: must be an absolute http or https URL, got 'ftp://127.0.0.1/new'",
        ),
        (UpdateCall(redirect_url="http://127.0.0.1:9/new", tag="t" * 257), None),
    ],
    ids=["completed-with-url", "completed-with-tag", "active-without-url", "ftp", "long-tag"],
)
def test_invalid_updates_are_400_and_change_nothing(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    update: UpdateCall,
    description: str | None,
) -> None:
    app.on("/answer", Response([Pause(3)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(3)

    error = sdk_error(
        lambda: calls_api.update_call(ACCOUNT_ID, call_id, update),
        BadRequestException,
        400,
        "validation",
        description,
    )
    assert error.data.description.startswith("Invalid ")
    vserver.advance(30)
    assert since(created, one_disconnect(app)["endTime"]) == 5.0  # the Pause ran its course


def test_unknown_call_is_404(calls_api: CallsApi) -> None:
    sdk_error(
        lambda: calls_api.update_call(ACCOUNT_ID, "c-00000000-unknown", completed()),
        NotFoundException,
        404,
        "validation",
        "Call [c-00000000-unknown] not found",
    )


def test_another_accounts_path_is_403_and_bad_credentials_401(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    call_id = create_call(calls_api, app, NO_ANSWER)
    sdk_error(
        lambda: calls_api.update_call(OTHER_ACCOUNT_ID, call_id, completed()),
        ForbiddenException,
        403,
        "authorization-error",
    )
    with calls_api_for(vserver, USERNAME, "wrong") as intruder:
        sdk_error(
            lambda: intruder.update_call(ACCOUNT_ID, call_id, completed()),
            UnauthorizedException,
            401,
            "authentication-error",
        )
    vserver.advance(60)
    assert one_disconnect(app)["cause"] == "timeout"  # neither request touched the call


def test_completed_body_of_the_queueing_guide_is_accepted(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    # callQueueingGuide.mdx removes a call with {"state": "completed", "username", "password"}.
    call_id = create_call(calls_api, app, NO_ANSWER)
    response = switchboard.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}",
        json={"state": "completed", "username": "string", "password": "string"},
    )
    assert (response.status_code, response.content) == (200, b"")
    vserver.advance(1)
    assert one_disconnect(app)["cause"] == "cancel"
    assert at(one_disconnect(app)["endTime"]) == now(vserver) - timedelta(seconds=1)
