"""What the plugin says when something is wrong, and that a test's leftovers do not leak."""

import sys

import pytest
from bandwidth.models.create_call import CreateCall

from switchboard.testing import SwitchboardError

CUSTOMER = "+15555550123"
left_up: list[str] = []


def test_calls_api_without_the_sdk_says_what_to_install(switchboard, monkeypatch):
    monkeypatch.setitem(sys.modules, "bandwidth", None)
    with pytest.raises(ImportError, match="pip install bandwidth-sdk"):
        switchboard.calls_api()


def test_a_wrong_phone_key_is_the_apis_own_error(switchboard):
    with pytest.raises(SwitchboardError, match=r"PUT /switchboard/v1/phones/.* 400 .*outcome"):
        switchboard.phone(CUSTOMER, outcome="maybe")


def test_dialling_in_needs_the_applications_url(switchboard):
    with pytest.raises(SwitchboardError, match=r"404 .*call_initiated_callback_url"):
        switchboard.dial(CUSTOMER)


def test_wait_for_gives_up_and_shows_the_timeline(switchboard):
    switchboard.phone(CUSTOMER, outcome="no-answer")
    created = switchboard.calls_api().create_call(
        switchboard.account_id,
        CreateCall(
            to=CUSTOMER,
            var_from=switchboard.numbers[0],
            application_id=switchboard.application_id,
            answer_url="http://127.0.0.1:9/never",
            call_timeout=300,
        ),
    )
    with pytest.raises(AssertionError) as failure:
        switchboard.wait_for(created.call_id, state="answered", within=5)
    message = str(failure.value)
    assert "did not reach state 'answered' within 5 s of call time; it is 'initiated'" in message
    assert "network  event='ringing'" in message
    left_up.append(created.call_id)  # still ringing: the reset must end it


def test_calls_still_up_are_ended_between_tests(switchboard):
    [previous] = left_up
    # Ended by the reset, as updateCall state=completed ends a ringing call: not left to time out.
    assert switchboard.call(previous).state == "disconnected"
    assert switchboard.call(previous).disconnect_cause == "cancel"
    assert switchboard.calls() == []
