"""Attributes written as "None": bandwidth-sdk 15.0.0 to 16.0.0 writes every numeric or boolean
attribute its user left unset that way. They are read as unset, and listed for the app's author.

The documents below are what bandwidth-sdk 15.0.0's own builders write, byte for byte, e.g.
`Response([Gather(gather_url="/gathered", terminating_digits="#",
audio_verbs=[SpeakSentence("Press a digit")])]).to_bxml()`.
"""

from __future__ import annotations

import pytest

from switchboard.bxml import (
    NONE_ATTRIBUTE_WARNING,
    BxmlError,
    NoneAttribute,
    check_bxml,
    parse_bxml,
    verbs,
)
from tests.unit.bxml.helpers import BASE_URL

DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
SDK_15_GATHER = (
    DECLARATION + '<Response><Gather gatherUrl="/gathered" terminatingDigits="#" maxDigits="None" '
    'interDigitTimeout="None" firstDigitTimeout="None" repeatCount="None">'
    "<SpeakSentence>Press a digit</SpeakSentence></Gather></Response>"
)
# Response([Ring(duration=2), SendDtmf("12"), Hangup()])
SDK_15_RING_AND_DTMF = (
    DECLARATION + '<Response><Ring duration="2" answerCall="None" /><SendDtmf toneDuration="None" '
    'toneInterval="None">12</SendDtmf><Hangup /></Response>'
)


def test_an_sdk_15_gather_runs_with_bandwidths_defaults() -> None:
    document = parse_bxml(SDK_15_GATHER, base_url=BASE_URL)
    (gather,) = document.verbs
    assert gather == verbs.Gather(
        gather_url="https://app.example/gathered",
        terminating_digits="#",
        prompts=(
            verbs.SpeakSentence(
                text="Press a digit", plain_text="Press a digit", line=2, column=149
            ),
        ),
        line=2,
        column=11,
    )
    assert (gather.max_digits, gather.inter_digit_timeout, gather.first_digit_timeout) == (
        50,
        5.0,
        5.0,
    )
    assert document.none_attributes == tuple(
        NoneAttribute("Gather", name, 2, 11)
        for name in ("maxDigits", "interDigitTimeout", "firstDigitTimeout", "repeatCount")
    )


def test_ring_and_send_dtmf_keep_what_was_set_and_default_the_rest() -> None:
    document = parse_bxml(SDK_15_RING_AND_DTMF)
    assert [type(verb) for verb in document.verbs] == [verbs.Ring, verbs.SendDtmf, verbs.Hangup]
    ring, send_dtmf, _ = document.verbs
    assert isinstance(ring, verbs.Ring) and isinstance(send_dtmf, verbs.SendDtmf)
    assert (ring.duration, ring.answer_call) == (2.0, True)
    assert (send_dtmf.digits, send_dtmf.tone_duration, send_dtmf.tone_interval) == (
        "12",
        200.0,
        400.0,
    )


def test_the_timeline_note_names_each_verbs_attribute_once() -> None:
    twice = SDK_15_GATHER.replace("</Response>", "") + SDK_15_RING_AND_DTMF.removeprefix(
        DECLARATION
    ).replace("<Response>", "")
    note = parse_bxml(twice).none_attributes_note()
    assert note == {
        "warning": NONE_ATTRIBUTE_WARNING,
        "attributes": [
            "Gather maxDigits",
            "Gather interDigitTimeout",
            "Gather firstDigitTimeout",
            "Gather repeatCount",
            "Ring answerCall",
            "SendDtmf toneDuration",
            "SendDtmf toneInterval",
        ],
    }
    assert parse_bxml("<Response><Pause duration='1'/></Response>").none_attributes_note() is None


def test_only_exactly_none_is_unset() -> None:
    for value in ("none", " None", "NONE", ""):
        with pytest.raises(BxmlError, match="maxDigits must be an integer"):
            parse_bxml(f'<Response><Gather maxDigits="{value}"/></Response>')


def test_a_required_attribute_written_as_none_is_missing_and_says_why() -> None:
    with pytest.raises(BxmlError) as caught:
        parse_bxml('<Response><Redirect redirectUrl="None"/></Response>')
    assert caught.value.message == (
        '<Redirect> needs the attribute redirectUrl (redirectUrl="None" is read as unset)'
    )


def test_an_unknown_attribute_is_still_unknown_whatever_its_value() -> None:
    with pytest.raises(BxmlError, match="<Pause> has no attribute 'length'"):
        parse_bxml('<Response><Pause length="None"/></Response>')


def test_check_lists_them_beside_the_problems_even_in_verbs_not_run_yet() -> None:
    problems, unset = check_bxml(
        '<Response>\n<Record maxDuration="None"/>\n<Pause duration="soon"/>\n</Response>'
    )
    assert [problem.message for problem in problems] == [
        "<Pause> attribute duration must be a number from 0.1 to 86400, got 'soon'"
    ]
    assert unset == (NoneAttribute("Record", "maxDuration", 2, 1),)
