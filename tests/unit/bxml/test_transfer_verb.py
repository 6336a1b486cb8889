"""<Transfer> in the parser and the interpreter: its attributes and targets, what it asks the
engine, and how the call goes on when the transfer is over (transfer.mdx)."""

from __future__ import annotations

import pytest

from switchboard.bxml import Interpreter, State, actions, events, parse_bxml, verbs
from tests.unit.bxml.helpers import HANGUP, callback, document, speak, started

TARGET = '<PhoneNumber transferAnswerUrl="/whisper">+15555550199</PhoneNumber>'


def first_problem(body: str) -> str:
    from switchboard.bxml import find_bxml_problems

    problems = find_bxml_problems(f"<Response>{body}</Response>")
    assert problems, body
    return str(problems[0])


class TestParsing:
    def test_every_attribute_of_the_verb_and_its_targets(self) -> None:
        (transfer,) = document(
            '<Transfer transferCallerId="Anonymous" transferCallerDisplayName="Front desk" '
            'callTimeout="12.5" transferCompleteUrl="done" transferCompleteMethod="GET" '
            'transferCompleteFallbackUrl="https://b.example/done" username="u" password="p" '
            'tag="t" diversionTreatment="stack" diversionReason="user-busy">'
            '<PhoneNumber transferAnswerUrl="/whisper" transferAnswerMethod="GET" '
            'transferDisconnectUrl="/gone" username="bu" password="bp" tag="bt">'
            "+15555550199</PhoneNumber>"
            '<SipUri uui="aGk;encoding=base64">sip:agent@pbx.example.com</SipUri>'
            "</Transfer>"
        ).verbs
        assert isinstance(transfer, verbs.Transfer)
        assert transfer.transfer_caller_id == "Anonymous"
        assert transfer.transfer_caller_display_name == "Front desk"
        assert transfer.call_timeout == 12.5
        assert transfer.transfer_complete_url == "https://app.example/voice/done"
        assert transfer.transfer_complete_method == "GET"
        assert transfer.transfer_complete_fallback_url == "https://b.example/done"
        assert (transfer.username, transfer.password, transfer.tag) == ("u", "p", "t")
        assert (transfer.diversion_treatment, transfer.diversion_reason) == ("stack", "user-busy")
        phone, sip = transfer.targets
        assert phone.destination == "+15555550199"
        assert phone.transfer_answer_url == "https://app.example/whisper"
        assert phone.transfer_answer_method == "GET"
        assert phone.transfer_disconnect_url == "https://app.example/gone"
        assert (phone.username, phone.password, phone.tag) == ("bu", "bp", "bt")
        assert (sip.kind, sip.destination, sip.uui) == (
            "SipUri",
            "sip:agent@pbx.example.com",
            "aGk;encoding=base64",
        )

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            ("<Transfer/>", "<Transfer> needs 1 to 8 <PhoneNumber> or <SipUri> to ring, got 0"),
            (
                "<Transfer>" + "<PhoneNumber>+15555550199</PhoneNumber>" * 9 + "</Transfer>",
                "needs 1 to 8 <PhoneNumber> or <SipUri> to ring, got 9",
            ),
            (
                "<Transfer><PhoneNumber>5550199</PhoneNumber></Transfer>",
                "<PhoneNumber> must be an E.164 number like +15555551212, got '5550199'",
            ),
            (
                "<Transfer><SipUri>agent@pbx</SipUri></Transfer>",
                "<SipUri> must be a SIP URI like sip:user@example.com, got 'agent@pbx'",
            ),
            (
                "<Transfer><SpeakSentence>hi</SpeakSentence></Transfer>",
                "<SpeakSentence> cannot be nested in <Transfer>; only <PhoneNumber> and <SipUri>",
            ),
            (
                f'<Transfer transferCallerId="Someone">{TARGET}</Transfer>',
                "transferCallerId must be an E.164 number like +15555551212 or one of Restricted",
            ),
            (f'<Transfer callTimeout="301">{TARGET}</Transfer>', "must be a number from 1 to 300"),
            (
                '<Transfer><PhoneNumber uui="x">+15555550199</PhoneNumber></Transfer>',
                "<PhoneNumber> has no attribute 'uui'",
            ),
        ],
    )
    def test_mistakes_are_named(self, body: str, says: str) -> None:
        assert says in first_problem(body)


def transfer_of(interpreter_actions: list[actions.Action]) -> verbs.Transfer:
    (start,) = [a for a in interpreter_actions if isinstance(a, actions.StartTransfer)]
    return start.verb


class TestInterpreting:
    def test_the_transfer_waits_then_the_next_verbs_run(self) -> None:
        interpreter, first = started(
            f"<Transfer>{TARGET}</Transfer><SpeakSentence>After</SpeakSentence>"
        )
        assert transfer_of(first).targets[0].destination == "+15555550199"
        assert interpreter.state is State.TRANSFERRING
        # Media ending or digits mean nothing to a transfer.
        assert interpreter.handle(events.MediaFinished()) == []
        assert interpreter.handle(events.DigitPressed("1")) == []
        assert interpreter.handle(events.TransferFinished("hangup")) == [speak("After")]
        assert interpreter.handle(events.MediaFinished()) == [HANGUP]

    def test_with_transfer_complete_url_the_event_is_sent_and_later_verbs_are_ignored(
        self,
    ) -> None:
        interpreter, _ = started(
            f'<Transfer transferCompleteUrl="/complete" tag="x">{TARGET}</Transfer>'
            "<SpeakSentence>ignored</SpeakSentence>",
        )
        outcome = events.TransferFinished(
            "busy", "+15555550199", "+15555550100", "Callee is busy", "id-1"
        )
        assert interpreter.handle(outcome) == [
            callback(
                "transferComplete",
                "https://app.example/complete",
                {
                    "transferCallerId": "+15555550100",
                    "transferTo": "+15555550199",
                    "cause": "busy",
                    "errorMessage": "Callee is busy",
                    "errorId": "id-1",
                    "tag": "x",
                },
            )
        ]
        assert interpreter.state is State.AWAITING_BXML
        assert interpreter.handle(events.CallbackAnswered(None)) == [HANGUP]

    def test_new_bxml_stops_the_transfer(self) -> None:
        interpreter, _ = started(f"<Transfer>{TARGET}</Transfer>")
        replaced = interpreter.replace(document("<Hangup/>"))
        assert replaced == [actions.StopTransfer(), HANGUP]
        # A late end of the stopped transfer is not heard.
        assert interpreter.handle(events.TransferFinished("hangup")) == []

    def test_it_answers_an_unanswered_inbound_call_first(self) -> None:
        _, first = started(f"<Transfer>{TARGET}</Transfer>", answered=False)
        assert isinstance(first[0], actions.AnswerCall)
        assert isinstance(first[1], actions.StartTransfer)

    def test_a_target_s_document_ends_without_hanging_up(self) -> None:
        interpreter = Interpreter(
            parse_bxml("<Response><SpeakSentence>Whisper</SpeakSentence></Response>"),
            tag=None,
            hangup_at_end=False,
        )
        assert interpreter.start() == [speak("Whisper")]
        assert interpreter.handle(events.MediaFinished()) == [actions.DocumentEnded()]
        assert interpreter.state is State.DONE
        # It may still be given new BXML (PUT /bxml), and then ends as that document says.
        assert interpreter.replace(document("<Hangup/>")) == [HANGUP]
