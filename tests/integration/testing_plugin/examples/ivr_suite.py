"""An app's own test suite, written with nothing but the Switchboard pytest plugin."""

from collections.abc import Iterator

import pytest
from bandwidth.models.create_call import CreateCall
from ivr_app import IvrApp

CUSTOMER = "+15555550123"


@pytest.fixture
def app() -> Iterator[IvrApp]:
    with IvrApp() as running:
        yield running


def call_customer(switchboard, app: IvrApp) -> str:
    created = switchboard.calls_api().create_call(
        switchboard.account_id,
        CreateCall(
            to=CUSTOMER,
            var_from=switchboard.numbers[0],
            application_id=switchboard.application_id,
            answer_url=app.url("/answer"),
            disconnect_url=app.url("/status"),
        ),
    )
    return created.call_id


def test_pressing_1_reaches_sales(switchboard, app):
    switchboard.phone(CUSTOMER, digits="1")
    call_id = call_customer(switchboard, app)

    call = switchboard.wait_for(call_id, state="disconnected")

    assert call.webhooks("gather")[0]["digits"] == "1"
    assert call.disconnect_cause == "hangup"
    assert call.states == ["initiated", "answered", "disconnected"]
    assert [e["digits"] for e in app.events("gather")] == ["1"]


def test_a_busy_customer_is_never_answered(switchboard, app):
    switchboard.phone(CUSTOMER, outcome="busy")
    call_id = call_customer(switchboard, app)

    call = switchboard.wait_for(call_id, event="disconnect")

    assert call.disconnect_cause == "busy"
    assert app.events("answer") == []
    assert app.events("disconnect")[0]["cause"] == "busy"


def test_phones_are_reset_between_tests(switchboard, app):
    # The previous test made CUSTOMER busy; this one did not.
    call_id = call_customer(switchboard, app)
    assert switchboard.wait_for(call_id, state="answered").state == "answered"


def test_a_customer_dialling_in_reaches_support(switchboard, app):
    switchboard.configure_application(call_initiated_callback_url=app.url("/inbound"))
    switchboard.phone(CUSTOMER, digits="2")

    call_id = switchboard.dial(CUSTOMER, to=switchboard.numbers[0])
    call = switchboard.wait_for(call_id, state="disconnected")

    assert call.direction == "inbound"
    assert call.events[:2] == ["initiate", "gather"]
    assert call.webhooks("gather")[0]["digits"] == "2"
    assert app.events("initiate")[0]["from"] == CUSTOMER


def test_the_test_presses_keys_itself(switchboard, app):
    switchboard.phone(CUSTOMER, answer_after=0.5)
    call_id = call_customer(switchboard, app)
    switchboard.wait_for(call_id, state="answered")
    switchboard.advance(1)  # the menu is being read

    switchboard.call(call_id).press("2")

    call = switchboard.wait_for(call_id, state="disconnected")
    assert call.webhooks("gather")[0]["digits"] == "2"


def test_an_sdk_with_bandwidths_urls_built_in(switchboard_bandwidth_hosts, app):
    # No host given: the SDK goes to https://voice.bandwidth.com, which is the test server.
    from bandwidth import ApiClient, CallsApi, Configuration

    switchboard = switchboard_bandwidth_hosts
    configuration = Configuration(username=switchboard.username, password=switchboard.password)
    calls = CallsApi(ApiClient(configuration))
    created = calls.create_call(
        switchboard.account_id,
        CreateCall(
            to=CUSTOMER,
            var_from=switchboard.numbers[0],
            application_id=switchboard.application_id,
            answer_url=app.url("/answer"),
        ),
    )
    assert created.call_url.startswith("https://voice.bandwidth.com/api/v2/")
    assert switchboard.wait_for(created.call_id, state="answered").direction == "outbound"
    calls.api_client.rest_client.pool_manager.clear()
