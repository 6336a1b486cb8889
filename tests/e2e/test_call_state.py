"""GET /calls/{callId} (getCallState) through the official SDK: Bandwidth's callState through the
life of a call, and who may read which call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import (
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from bandwidth.models.bxml import Pause, Response
from bandwidth.models.call_direction_enum import CallDirectionEnum
from bandwidth.models.create_call import CreateCall

from tests.e2e.control import calls_api_for, sdk_error
from tests.e2e.flow import create_call, now, one_disconnect
from tests.e2e.phones import ANSWERS, FAILS, NO_ANSWER
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_ACCOUNT_NUMBER,
    OTHER_APPLICATION_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    USERNAME,
    VirtualTimeServer,
)

# The properties of the spec's callState schema, in its order.
CALL_STATE_FIELDS = [
    "applicationId",
    "accountId",
    "callId",
    "parentCallId",
    "to",
    "from",
    "direction",
    "state",
    "stirShaken",
    "identity",
    "enqueuedTime",
    "startTime",
    "answerTime",
    "endTime",
    "disconnectCause",
    "errorMessage",
    "errorId",
    "lastUpdate",
]


@pytest.fixture
def bobs_calls(vserver: VirtualTimeServer) -> Iterator[CallsApi]:
    with calls_api_for(vserver, OTHER_USERNAME, OTHER_PASSWORD) as api:
        yield api


def test_state_and_times_through_the_life_of_a_call(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Pause(3)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)

    ringing = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert (ringing.call_id, ringing.account_id, ringing.application_id) == (
        call_id,
        ACCOUNT_ID,
        APPLICATION_ID,
    )
    assert (ringing.to, ringing.var_from, ringing.direction) == (
        ANSWERS,
        FROM_NUMBER,
        CallDirectionEnum.OUTBOUND,
    )
    assert ringing.state == "initiated"
    assert ringing.enqueued_time == ringing.start_time == ringing.last_update == created
    assert ringing.answer_time is ringing.end_time is ringing.disconnect_cause is None
    assert ringing.error_message is ringing.error_id is ringing.parent_call_id is None

    vserver.advance(2)
    answered = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert answered.state == "answered"
    assert answered.start_time == created
    assert answered.answer_time == answered.last_update == created + timedelta(seconds=2)
    assert answered.end_time is answered.disconnect_cause is None

    vserver.advance(10)
    ended = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert ended.state == "disconnected"
    assert ended.disconnect_cause == "hangup"
    assert (ended.enqueued_time, ended.start_time) == (created, created)
    assert ended.answer_time == created + timedelta(seconds=2)
    assert ended.end_time == ended.last_update == created + timedelta(seconds=5)
    assert ended.error_message is ended.error_id is None
    assert one_disconnect(app)["endTime"] == ended.end_time.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_the_json_has_exactly_the_fields_of_the_spec(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    call_id = create_call(calls_api, app, NO_ANSWER)
    response = switchboard.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == CALL_STATE_FIELDS
    assert body["state"] == "initiated"
    assert body["endTime"] is None and body["disconnectCause"] is None
    vserver.advance(60)


def test_a_failed_call_reads_back_with_its_error(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    call_id = create_call(calls_api, app, FAILS)
    vserver.advance(5)

    state = calls_api.get_call_state(ACCOUNT_ID, call_id)
    disconnect = one_disconnect(app)
    assert state.state == "disconnected"
    assert state.disconnect_cause == "error" == disconnect["cause"]
    assert state.error_message == disconnect["errorMessage"]
    assert state.error_id == disconnect["errorId"]
    assert state.answer_time is None


def test_unknown_call_is_404_with_bandwidths_body(calls_api: CallsApi) -> None:
    sdk_error(
        lambda: calls_api.get_call_state(ACCOUNT_ID, "c-00000000-unknown"),
        NotFoundException,
        404,
        "validation",
        "Call [c-00000000-unknown] not found",
    )


def test_another_accounts_call_through_this_accounts_path_is_404(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, bobs_calls: CallsApi
) -> None:
    bobs = bobs_calls.create_call(
        OTHER_ACCOUNT_ID,
        CreateCall(
            to=NO_ANSWER,
            var_from=OTHER_ACCOUNT_NUMBER,
            application_id=OTHER_APPLICATION_ID,
            answer_url=app.url("/answer"),
        ),
    ).call_id
    assert bobs_calls.get_call_state(OTHER_ACCOUNT_ID, bobs).state == "initiated"

    sdk_error(
        lambda: calls_api.get_call_state(ACCOUNT_ID, bobs),
        NotFoundException,
        404,
        "validation",
        f"Call [{bobs}] not found",
    )
    vserver.advance(60)


def test_another_accounts_path_is_403(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    call_id = create_call(calls_api, app, NO_ANSWER)
    sdk_error(
        lambda: calls_api.get_call_state(OTHER_ACCOUNT_ID, call_id),
        ForbiddenException,
        403,
        "authorization-error",
    )
    vserver.advance(60)


def test_wrong_password_is_401(vserver: VirtualTimeServer) -> None:
    with calls_api_for(vserver, USERNAME, "not-the-password") as api:
        sdk_error(
            lambda: api.get_call_state(ACCOUNT_ID, "c-00000000-unknown"),
            UnauthorizedException,
            401,
            "authentication-error",
            "The credentials provided were invalid",
        )
