"""The Diversion header a <Transfer> or <Forward> of an inbound call sends (transfer.mdx,
forward.mdx: diversionTreatment none | propagate | stack, diversionReason)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchboard.calls.create_request import CreateCallRequest
from switchboard.calls.model import Call
from switchboard.calls.transfer_targets import diversion_header

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def call(direction: str, diversion: dict[str, str] | None = None) -> Call:
    return Call(
        call_id="c-1",
        account_id="9900001",
        request=CreateCallRequest(
            to="+15553334444", from_="+15551112222", application_id="app", answer_url="x"
        ),
        call_url="http://x/calls/c-1",
        enqueued_time=NOW,
        direction=direction,
        extra={"diversion": diversion} if diversion else {},
    )


CAME_WITH = {"origTo": "+15558884444", "reason": "unavailable", "counter": "1"}


def test_none_sends_none_even_when_the_call_came_diverted() -> None:
    assert diversion_header(call("inbound", CAME_WITH), "none", "unknown") is None


def test_propagate_copies_what_the_inbound_call_came_with() -> None:
    assert diversion_header(call("inbound", CAME_WITH), "propagate", "unknown") == (
        "<tel:+15558884444>;reason=unavailable;counter=1"
    )
    assert diversion_header(call("inbound"), "propagate", "unknown") is None  # it had none


def test_stack_puts_the_called_number_on_top() -> None:
    assert diversion_header(call("inbound", CAME_WITH), "stack", "user-busy") == (
        "<tel:+15553334444>;reason=user-busy;counter=1, "
        "<tel:+15558884444>;reason=unavailable;counter=1"
    )
    assert diversion_header(call("inbound"), "stack", "no-answer") == (
        "<tel:+15553334444>;reason=no-answer;counter=1"
    )


@pytest.mark.parametrize("treatment", ["propagate", "stack"])
def test_an_outbound_call_sends_none(treatment: str) -> None:
    # transfer.mdx: "must not be used when transferring an outbound call".
    assert diversion_header(call("outbound", CAME_WITH), treatment, "unknown") is None
