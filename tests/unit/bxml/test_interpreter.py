"""The interpreter runs verbs in order: media, tags, redirects, replacement, the end of the call."""

from __future__ import annotations

import pytest

from switchboard.bxml import Interpreter, State, actions, events, parse_bxml
from tests.unit.bxml.helpers import HANGUP, callback, document, speak, started

FINISHED = events.MediaFinished()


class TestMediaVerbs:
    def test_each_media_verb_waits_for_media_finished_then_the_document_ends(self) -> None:
        interpreter, first = started(
            "<SpeakSentence>Hello</SpeakSentence>"
            '<PlayAudio username="u" password="p">/hi.wav</PlayAudio>'
            '<Pause duration="2.5"/>'
            '<Ring duration="3"/>'
            '<SendDtmf toneDuration="100" toneInterval="300">1w#</SendDtmf>'
        )
        assert first == [speak("Hello")]
        assert interpreter.state is State.PLAYING
        assert interpreter.handle(FINISHED) == [
            actions.Play("https://app.example/hi.wav", "u", "p")
        ]
        assert interpreter.handle(FINISHED) == [actions.Silence(2.5)]
        assert interpreter.handle(FINISHED) == [actions.RingTone(3.0)]
        assert interpreter.handle(FINISHED) == [actions.SendDigits("1w#", 100.0, 300.0)]
        assert interpreter.handle(FINISHED) == [HANGUP]
        assert interpreter.state is State.ENDED

    def test_defaults_reach_the_actions(self) -> None:
        interpreter, first = started("<Pause/><Ring/><SendDtmf>5</SendDtmf>")
        assert first == [actions.Silence(1.0)]
        assert interpreter.handle(FINISHED) == [actions.RingTone(5.0)]
        assert interpreter.handle(FINISHED) == [actions.SendDigits("5", 200.0, 400.0)]

    def test_speak_carries_ssml_plain_text_and_the_voices_own_gender_and_locale(self) -> None:
        _, first = started(
            '<SpeakSentence voice="simon" gender="female" locale="de">'
            "Hi <s>there</s></SpeakSentence>"
        )
        assert first == [actions.Speak("Hi <s>there</s>", "Hi there", "simon", "male", "en_UK")]

    def test_without_a_voice_gender_and_locale_pass_through(self) -> None:
        _, first = started('<SpeakSentence gender="male" locale="es_MX">Hola</SpeakSentence>')
        assert first == [actions.Speak("Hola", "Hola", None, "male", "es_MX")]


class TestTheEnd:
    def test_an_empty_response_hangs_up(self) -> None:
        assert started("")[1] == [HANGUP]

    def test_hangup_ends_the_call_and_skips_the_rest(self) -> None:
        interpreter, first = started("<Hangup/><SpeakSentence>never</SpeakSentence>")
        assert first == [HANGUP]
        assert interpreter.handle(FINISHED) == []

    @pytest.mark.parametrize("name", ["Conference", "StartStream", "StartTranscription", "Refer"])
    def test_an_unsupported_verb_ends_the_call_with_application_error(self, name: str) -> None:
        interpreter, first = started(f"<Tag>before</Tag><{name}/>")
        assert first == [
            actions.SetTag("before"),
            actions.Hangup(
                "application-error", f"Verb <{name}> is not supported by Switchboard yet"
            ),
        ]
        assert interpreter.state is State.ENDED

    def test_an_unsupported_verb_is_only_fatal_when_reached(self) -> None:
        interpreter, first = started(
            '<SpeakSentence>Hi</SpeakSentence><Redirect redirectUrl="/next"/>'
            "<Conference>room</Conference>"
        )
        assert first == [speak("Hi")]
        assert interpreter.handle(FINISHED) == [
            callback("redirect", "https://app.example/next", {})
        ]

    def test_after_the_end_every_event_is_ignored(self) -> None:
        interpreter, _ = started("")
        ignored: list[events.Event] = [
            FINISHED,
            events.DigitPressed("1"),
            events.TimerFired("gather-1:first-digit:1"),
            events.CallbackAnswered(document("<Hangup/>")),
            events.CallbackFailed("callback-error", "boom"),
        ]
        for event in ignored:
            assert interpreter.handle(event) == []
        assert interpreter.replace(document("<Pause/>")) == []
        assert interpreter.start() == []


class TestNonsenseIsIgnored:
    def test_events_before_start_are_ignored(self) -> None:
        interpreter = Interpreter(document("<Pause/>"), tag=None)
        assert interpreter.handle(FINISHED) == []
        assert interpreter.state is State.IDLE
        assert interpreter.start() == [actions.Silence(1.0)]

    def test_start_twice_does_nothing_the_second_time(self) -> None:
        interpreter, _ = started("<Pause/>")
        assert interpreter.start() == []

    def test_events_that_do_not_fit_the_state_are_ignored(self) -> None:
        interpreter, _ = started("<Pause/><Hangup/>")
        assert interpreter.handle(events.TimerFired("nobody")) == []
        assert interpreter.handle(events.CallbackAnswered(document("<Hangup/>"))) == []
        assert interpreter.handle(events.CallbackFailed("callback-error", "x")) == []
        assert interpreter.handle(events.DigitPressed("1")) == []  # no StartGather: no one listens
        assert interpreter.handle(FINISHED) == [HANGUP]

    def test_something_that_is_not_an_event_is_ignored(self) -> None:
        interpreter, _ = started("<Pause/>")
        assert interpreter.handle("MediaFinished") == []  # type: ignore[arg-type]
        assert interpreter.state is State.PLAYING


class TestRedirect:
    def test_redirect_sends_a_callback_expecting_bxml_that_replaces_the_rest(self) -> None:
        interpreter, first = started(
            '<Redirect redirectUrl="/next" redirectMethod="GET" username="u" password="p" '
            'redirectFallbackUrl="https://backup.example/next" redirectFallbackMethod="GET" '
            'fallbackUsername="fu" fallbackPassword="fp"/>'
            "<SpeakSentence>skipped</SpeakSentence>"
        )
        assert first == [
            actions.SendCallback(
                event_type="redirect",
                url="https://app.example/next",
                method="GET",
                fallback_url="https://backup.example/next",
                fallback_method="GET",
                username="u",
                password="p",
                fallback_username="fu",
                fallback_password="fp",
                fields={},
                expects_bxml=True,
            )
        ]
        assert interpreter.state is State.AWAITING_BXML
        assert interpreter.handle(FINISHED) == []
        answer = events.CallbackAnswered(document("<SpeakSentence>next</SpeakSentence>"))
        assert interpreter.handle(answer) == [speak("next")]
        assert interpreter.handle(FINISHED) == [HANGUP]

    def test_an_empty_answer_ends_the_call_normally(self) -> None:
        interpreter, _ = started('<Redirect redirectUrl="/next"/><SpeakSentence>x</SpeakSentence>')
        assert interpreter.handle(events.CallbackAnswered(None)) == [HANGUP]

    @pytest.mark.parametrize("cause", ["callback-error", "invalid-bxml"])
    def test_a_failed_callback_ends_the_call_with_its_cause(self, cause: str) -> None:
        interpreter, _ = started('<Redirect redirectUrl="/next"/>')
        failed = events.CallbackFailed(cause, "the answer was not BXML")  # type: ignore[arg-type]
        assert interpreter.handle(failed) == [
            actions.Hangup(cause, "the answer was not BXML")  # type: ignore[arg-type]
        ]
        assert interpreter.state is State.ENDED

    def test_redirects_can_chain(self) -> None:
        interpreter, _ = started('<Redirect redirectUrl="/one"/>')
        second = document('<Redirect redirectUrl="two"/>')
        assert interpreter.handle(events.CallbackAnswered(second)) == [
            callback("redirect", "https://app.example/voice/two", {})
        ]


class TestTag:
    def test_the_initial_tag_is_sent_with_callbacks(self) -> None:
        interpreter, first = started('<Redirect redirectUrl="/r"/>', tag="from-create-call")
        assert interpreter.tag == "from-create-call"
        assert first == [callback("redirect", "https://app.example/r", {"tag": "from-create-call"})]

    def test_tag_rules_across_several_callbacks(self) -> None:
        interpreter, first = started(
            '<Tag>first</Tag><Redirect redirectUrl="/1"/>',
            tag="initial",
        )
        assert first == [
            actions.SetTag("first"),
            callback("redirect", "https://app.example/1", {"tag": "first"}),
        ]
        # A verb's tag attribute sets the tag for this callback and all later ones.
        after_one = document('<Redirect redirectUrl="/2" tag="second"/>')
        assert interpreter.handle(events.CallbackAnswered(after_one)) == [
            actions.SetTag("second"),
            callback("redirect", "https://app.example/2", {"tag": "second"}),
        ]
        # Without a tag attribute the tag carries on, across documents.
        after_two = document('<Redirect redirectUrl="/3"/>')
        assert interpreter.handle(events.CallbackAnswered(after_two)) == [
            callback("redirect", "https://app.example/3", {"tag": "second"})
        ]
        # tag="" clears it: the field is left out.
        after_three = document('<Redirect redirectUrl="/4" tag=""/>')
        assert interpreter.handle(events.CallbackAnswered(after_three)) == [
            actions.SetTag(None),
            callback("redirect", "https://app.example/4", {}),
        ]
        assert interpreter.tag is None
        # An empty <Tag> clears too; a whitespace-padded one is trimmed.
        after_four = document(
            "<Tag>  again  </Tag><Tag></Tag><Tag>last</Tag><Redirect redirectUrl='/5'/>"
        )
        assert interpreter.handle(events.CallbackAnswered(after_four)) == [
            actions.SetTag("again"),
            actions.SetTag(None),
            actions.SetTag("last"),
            callback("redirect", "https://app.example/5", {"tag": "last"}),
        ]

    def test_setting_the_same_tag_again_is_not_a_change(self) -> None:
        _, first = started("<Tag>same</Tag><Tag>same</Tag>", tag="same")
        assert first == [HANGUP]

    def test_an_empty_initial_tag_means_no_tag(self) -> None:
        interpreter, _ = started("<Pause/>", tag="")
        assert interpreter.tag is None

    def test_the_tag_can_be_set_from_outside(self) -> None:
        interpreter, _ = started('<Pause/><Redirect redirectUrl="/r"/>')
        interpreter.tag = "from-update-call"
        assert interpreter.handle(FINISHED) == [
            callback("redirect", "https://app.example/r", {"tag": "from-update-call"})
        ]


class TestReplace:
    def test_new_bxml_stops_the_media_and_runs_from_its_first_verb(self) -> None:
        interpreter, _ = started("<SpeakSentence>old</SpeakSentence><Hangup/>")
        assert interpreter.replace(document("<SpeakSentence>new</SpeakSentence>")) == [
            actions.StopMedia(),
            speak("new"),
        ]
        assert interpreter.handle(FINISHED) == [HANGUP]

    def test_new_bxml_while_a_callback_is_out_runs_at_once(self) -> None:
        interpreter, _ = started('<Redirect redirectUrl="/slow"/>')
        assert interpreter.replace(document("<Pause/>")) == [actions.Silence(1.0)]
        # The late answer to the redirect no longer has a verb to answer.
        assert interpreter.handle(events.CallbackAnswered(document("<Hangup/>"))) == []

    def test_replacing_before_start_runs_the_new_document(self) -> None:
        interpreter = Interpreter(document("<Pause/>"), tag=None)
        assert interpreter.replace(document("<Ring/>")) == [actions.RingTone(5.0)]

    def test_a_bxml_root_document_replaces_like_any_other(self) -> None:
        interpreter, _ = started("<Pause/>")
        put_bxml = parse_bxml("<Bxml><Hangup/></Bxml>", root="Bxml")
        assert interpreter.replace(put_bxml) == [actions.StopMedia(), HANGUP]


class TestAnswering:
    def test_an_answered_call_never_gets_answer_call(self) -> None:
        assert started("<Ring/>")[1] == [actions.RingTone(5.0)]

    def test_ring_answers_an_unanswered_call_by_default(self) -> None:
        interpreter, first = started("<Ring/><SpeakSentence>hi</SpeakSentence>", answered=False)
        assert first == [actions.AnswerCall(), actions.RingTone(5.0)]
        assert interpreter.handle(FINISHED) == [speak("hi")]

    def test_ring_with_answer_call_false_leaves_it_ringing_until_media_needs_it(self) -> None:
        interpreter, first = started(
            '<Ring answerCall="false"/><SpeakSentence>hi</SpeakSentence>', answered=False
        )
        assert first == [actions.RingTone(5.0)]
        assert interpreter.handle(FINISHED) == [actions.AnswerCall(), speak("hi")]

    def test_hangup_on_an_unanswered_call_rejects_it_without_answering(self) -> None:
        assert started('<Ring answerCall="false"/><Hangup/>', answered=False)[1] == [
            actions.RingTone(5.0)
        ]
        assert started("<Hangup/>", answered=False)[1] == [HANGUP]
