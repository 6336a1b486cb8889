"""BXML written by the official bandwidth-sdk builders parses as the SDK user meant it."""

from __future__ import annotations

from bandwidth.models.bxml import (
    Bxml,
    Gather,
    Hangup,
    Pause,
    PhoneNumber,
    PlayAudio,
    Redirect,
    Response,
    Ring,
    SendDtmf,
    SipUri,
    SpeakSentence,
    StartGather,
    StopGather,
    Tag,
    Transfer,
)

from switchboard.bxml import parse_bxml, verbs
from tests.unit.bxml.helpers import BASE_URL


def test_an_ivr_menu_written_with_the_sdk_parses() -> None:
    gather = Gather(
        audio_verbs=[
            SpeakSentence('Press <emphasis level="strong">one</emphasis> for sales', voice="julie"),
            PlayAudio("/menu.wav", username="media", password="secret"),
        ],
        gather_url="/gather",
        gather_method="POST",
        gather_fallback_url="https://backup.example/gather",
        terminating_digits="#",
        max_digits=3,
        inter_digit_timeout=3,
        first_digit_timeout=2.5,
        repeat_count=2,
        tag="menu",
    )
    document = parse_bxml(Response([gather, Hangup()]).to_bxml(), base_url=BASE_URL)

    parsed = document.verbs[0]
    assert isinstance(parsed, verbs.Gather)
    assert parsed.gather_url == "https://app.example/gather"
    assert parsed.gather_fallback_url == "https://backup.example/gather"
    assert (parsed.terminating_digits, parsed.max_digits, parsed.repeat_count) == ("#", 3, 2)
    assert (parsed.inter_digit_timeout, parsed.first_digit_timeout) == (3.0, 2.5)
    assert parsed.tag == "menu"
    speak, play = parsed.prompts
    assert isinstance(speak, verbs.SpeakSentence)
    assert speak.text == 'Press <emphasis level="strong">one</emphasis> for sales'
    assert speak.plain_text == "Press one for sales"
    assert speak.voice == "julie"
    assert play == verbs.PlayAudio(
        url="https://app.example/menu.wav",
        username="media",
        password="secret",
        line=play.line,
        column=play.column,
    )
    assert isinstance(document.verbs[1], verbs.Hangup)


def test_every_supported_sdk_verb_parses_to_its_type() -> None:
    response = Response(
        [
            SpeakSentence("Hello & welcome", gender="male", locale="en_UK"),
            PlayAudio("https://cdn.example/a.mp3"),
            Pause(duration=2),
            Ring(duration=3, answer_call=False),
            SendDtmf("12w3#", tone_duration=100, tone_interval=150),
            Tag("vip"),
            StartGather(dtmf_url="/dtmf", dtmf_method="GET", tag="listening"),
            StopGather(),
            Redirect(redirect_url="/next", redirect_method="GET", tag=""),
            Hangup(),
        ]
    )
    document = parse_bxml(response.to_bxml(), base_url=BASE_URL)
    assert [type(verb).__name__ for verb in document.verbs] == [
        "SpeakSentence",
        "PlayAudio",
        "Pause",
        "Ring",
        "SendDtmf",
        "Tag",
        "StartGather",
        "StopGather",
        "Redirect",
        "Hangup",
    ]
    speak, _, pause, ring, send_dtmf, tag, start_gather, _, redirect, _ = document.verbs
    assert isinstance(speak, verbs.SpeakSentence)
    assert (speak.plain_text, speak.gender, speak.locale) == ("Hello & welcome", "male", "en_UK")
    assert pause == verbs.Pause(duration=2.0, line=pause.line, column=pause.column)
    assert isinstance(ring, verbs.Ring)
    assert (ring.duration, ring.answer_call) == (3.0, False)
    assert isinstance(send_dtmf, verbs.SendDtmf)
    assert (send_dtmf.digits, send_dtmf.tone_duration, send_dtmf.tone_interval) == (
        "12w3#",
        100.0,
        150.0,
    )
    assert isinstance(tag, verbs.Tag)
    assert tag.value == "vip"
    assert isinstance(start_gather, verbs.StartGather)
    assert (start_gather.dtmf_url, start_gather.dtmf_method, start_gather.tag) == (
        "https://app.example/dtmf",
        "GET",
        "listening",
    )
    assert isinstance(redirect, verbs.Redirect)
    assert (redirect.redirect_url, redirect.redirect_method, redirect.tag) == (
        "https://app.example/next",
        "GET",
        "",
    )


def test_sdk_speech_gather_attributes_are_accepted() -> None:
    gather = Gather(
        audio_verbs=[SpeakSentence("Say or press your account number")],
        gather_url="/g",
        input="dtmf_speech",
        hints="account,number",
        language="en-US",
        partial_result_callback="/partial",
        profanity_filter=False,
        speech_timeout=4,
    )
    parsed = parse_bxml(Response([gather]).to_bxml(), base_url=BASE_URL).verbs[0]
    assert isinstance(parsed, verbs.Gather)
    assert parsed.input == "dtmf_speech"
    assert parsed.partial_result_callback == "https://app.example/partial"
    assert (parsed.profanity_filter, parsed.speech_timeout) == (False, 4.0)


def test_the_sdks_bxml_root_is_what_put_bxml_takes() -> None:
    document = parse_bxml(Bxml([Pause(duration=1)]).to_bxml(), root="Bxml")
    assert document.root == "Bxml"
    assert len(document.verbs) == 1


def test_an_sdk_transfer_parses_with_its_targets() -> None:
    transfer = Transfer(
        [
            PhoneNumber("+15554560000", transfer_answer_url="/whisper", tag="to-b"),
            SipUri("sip:agent@pbx.example.com", uui="aGk;encoding=base64"),
        ],
        transfer_caller_id="+15551230000",
        transfer_complete_url="https://app.example/complete",
        call_timeout=20,
    )
    document = parse_bxml(Response([transfer]).to_bxml(), base_url="https://app.example/answer")
    (parsed,) = document.verbs
    assert isinstance(parsed, verbs.Transfer)
    assert parsed.transfer_caller_id == "+15551230000"
    assert parsed.transfer_complete_url == "https://app.example/complete"
    assert parsed.call_timeout == 20.0
    phone, sip = parsed.targets
    assert (phone.kind, phone.destination, phone.tag) == ("PhoneNumber", "+15554560000", "to-b")
    assert phone.transfer_answer_url == "https://app.example/whisper"
    assert (sip.kind, sip.destination, sip.uui) == (
        "SipUri",
        "sip:agent@pbx.example.com",
        "aGk;encoding=base64",
    )
