"""Each supported verb parses with Bandwidth's defaults, every attribute typed and range-checked."""

from __future__ import annotations

import dataclasses

import pytest

from switchboard.bxml import BxmlError, Document, parse_bxml, verbs
from switchboard.bxml.verbs import Verb
from tests.unit.bxml.helpers import BASE_URL


def only_verb(xml: str, base_url: str | None = BASE_URL) -> Verb:
    document = parse_bxml(f"<Response>{xml}</Response>", base_url=base_url)
    assert len(document.verbs) == 1
    return document.verbs[0]


def without_position(verb: Verb) -> Verb:
    """The verb as if built in code, so tests can compare it with a constructor call."""
    if isinstance(verb, verbs.Gather):
        verb = dataclasses.replace(verb, prompts=tuple(map(without_position, verb.prompts)))  # type: ignore[arg-type]
    return dataclasses.replace(verb, line=0, column=0)


def problem(xml: str) -> str:
    with pytest.raises(BxmlError) as caught:
        parse_bxml(f"<Response>{xml}</Response>", base_url=BASE_URL)
    return caught.value.message


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ("<Pause/>", verbs.Pause(duration=1.0)),
        ("<Ring/>", verbs.Ring(duration=5.0, answer_call=True)),
        ("<Hangup/>", verbs.Hangup()),
        ("<StopGather/>", verbs.StopGather()),
        (
            "<SpeakSentence>Hi</SpeakSentence>",
            verbs.SpeakSentence(
                text="Hi", plain_text="Hi", voice=None, gender="female", locale="en_US"
            ),
        ),
        (
            "<PlayAudio>https://cdn.example/a.wav</PlayAudio>",
            verbs.PlayAudio(url="https://cdn.example/a.wav", username=None, password=None),
        ),
        (
            "<SendDtmf>123</SendDtmf>",
            verbs.SendDtmf(digits="123", tone_duration=200.0, tone_interval=400.0),
        ),
        (
            '<Redirect redirectUrl="https://app.example/next"/>',
            verbs.Redirect(
                redirect_url="https://app.example/next",
                redirect_method="POST",
                redirect_fallback_url=None,
                redirect_fallback_method="POST",
                tag=None,
            ),
        ),
        (
            '<StartGather dtmfUrl="https://app.example/dtmf"/>',
            verbs.StartGather(dtmf_url="https://app.example/dtmf", dtmf_method="POST", tag=None),
        ),
        ("<Tag>vip</Tag>", verbs.Tag(value="vip")),
    ],
)
def test_a_minimal_verb_gets_bandwidths_defaults(xml: str, expected: Verb) -> None:
    assert without_position(only_verb(xml)) == expected


def test_gather_defaults_follow_gather_mdx() -> None:
    gather = only_verb("<Gather/>")
    assert isinstance(gather, verbs.Gather)
    assert (gather.gather_url, gather.gather_method, gather.gather_fallback_method) == (
        None,
        "POST",
        "POST",
    )
    assert gather.terminating_digits == ""
    assert gather.max_digits == 50
    assert gather.inter_digit_timeout == 5.0
    assert gather.first_digit_timeout == 5.0
    assert gather.repeat_count == 1
    assert gather.input == "dtmf"
    assert gather.profanity_filter is True
    assert gather.speech_timeout == 5.0
    assert gather.prompts == ()


def test_every_gather_attribute_is_read() -> None:
    gather = only_verb(
        '<Gather gatherUrl="/g" gatherMethod="GET" gatherFallbackUrl="https://b.example/g" '
        'gatherFallbackMethod="GET" username="u" password="p" fallbackUsername="fu" '
        'fallbackPassword="fp" tag="t" terminatingDigits="#*" maxDigits="4" '
        'interDigitTimeout="2.5" firstDigitTimeout="0" repeatCount="3" input="dtmf_speech" '
        'hints="yes,no" language="en-US" partialResultCallback="partial" '
        'partialResultCallbackMethod="GET" profanityFilter="false" speechModel="default" '
        'speechTimeout="3"><SpeakSentence>Press</SpeakSentence></Gather>'
    )
    assert without_position(gather) == verbs.Gather(
        gather_url="https://app.example/g",
        gather_method="GET",
        gather_fallback_url="https://b.example/g",
        gather_fallback_method="GET",
        username="u",
        password="p",
        fallback_username="fu",
        fallback_password="fp",
        tag="t",
        terminating_digits="#*",
        max_digits=4,
        inter_digit_timeout=2.5,
        first_digit_timeout=0.0,
        repeat_count=3,
        input="dtmf_speech",
        hints="yes,no",
        language="en-US",
        partial_result_callback="https://app.example/voice/partial",
        partial_result_callback_method="GET",
        profanity_filter=False,
        speech_model="default",
        speech_timeout=3.0,
        prompts=(verbs.SpeakSentence(text="Press", plain_text="Press"),),
    )


def test_every_redirect_attribute_is_read() -> None:
    redirect = only_verb(
        '<Redirect redirectUrl="next" redirectMethod="GET" redirectFallbackUrl="/fallback" '
        'redirectFallbackMethod="GET" username="u" password="p" fallbackUsername="fu" '
        'fallbackPassword="fp" tag=""/>'
    )
    assert without_position(redirect) == verbs.Redirect(
        redirect_url="https://app.example/voice/next",
        redirect_method="GET",
        redirect_fallback_url="https://app.example/fallback",
        redirect_fallback_method="GET",
        username="u",
        password="p",
        fallback_username="fu",
        fallback_password="fp",
        tag="",
    )


def test_every_attribute_of_the_small_verbs_is_read() -> None:
    assert without_position(only_verb('<Pause duration="0.1"/>')) == verbs.Pause(duration=0.1)
    assert without_position(only_verb('<Ring duration="86400" answerCall="false"/>')) == (
        verbs.Ring(duration=86400.0, answer_call=False)
    )
    assert without_position(
        only_verb('<SendDtmf toneDuration="50" toneInterval="5000">1w2,3W#</SendDtmf>')
    ) == verbs.SendDtmf(digits="1w2,3W#", tone_duration=50.0, tone_interval=5000.0)
    assert without_position(
        only_verb('<PlayAudio username="u" password="p">/a.wav</PlayAudio>')
    ) == verbs.PlayAudio(url="https://app.example/a.wav", username="u", password="p")
    assert without_position(
        only_verb('<StartGather dtmfUrl="d" dtmfMethod="GET" username="u" password="p" tag="x"/>')
    ) == verbs.StartGather(
        dtmf_url="https://app.example/voice/d",
        dtmf_method="GET",
        username="u",
        password="p",
        tag="x",
    )


def test_a_verb_remembers_where_it_was_written() -> None:
    document = parse_bxml("<Response>\n  <Pause/>\n    <Hangup/>\n</Response>")
    assert [(verb.line, verb.column) for verb in document.verbs] == [(2, 3), (3, 5)]


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            '<Gather maxDigits="abc"/>',
            "<Gather> attribute maxDigits must be an integer from 1 to 50, got 'abc'",
        ),
        ('<Gather maxDigits="0"/>', "maxDigits must be an integer from 1 to 50, got '0'"),
        ('<Gather maxDigits="51"/>', "maxDigits must be an integer from 1 to 50, got '51'"),
        ('<Gather maxDigits="2.5"/>', "maxDigits must be an integer from 1 to 50, got '2.5'"),
        (
            '<Gather interDigitTimeout="0.5"/>',
            "interDigitTimeout must be a number from 1 to 60, got '0.5'",
        ),
        ('<Gather interDigitTimeout="61"/>', "interDigitTimeout must be a number from 1 to 60"),
        (
            '<Gather firstDigitTimeout="-1"/>',
            "firstDigitTimeout must be a number from 0 to 60, got '-1'",
        ),
        ('<Gather firstDigitTimeout="60.5"/>', "firstDigitTimeout must be a number from 0 to 60"),
        ('<Gather repeatCount="0"/>', "repeatCount must be an integer from 1 to 20, got '0'"),
        ('<Gather repeatCount="21"/>', "repeatCount must be an integer from 1 to 20"),
        (
            '<Gather terminatingDigits="#x"/>',
            "terminatingDigits may only contain the characters 0123456789*#ABCD, got '#x'",
        ),
        (
            '<Gather gatherMethod="PUT"/>',
            "<Gather> attribute gatherMethod must be GET or POST, got 'PUT'",
        ),
        ('<Gather gatherFallbackMethod="DELETE"/>', "gatherFallbackMethod must be GET or POST"),
        ('<Gather input="voice"/>', "input must be one of dtmf, speech, dtmf_speech, got 'voice'"),
        ('<Gather profanityFilter="yes"/>', "profanityFilter must be true or false, got 'yes'"),
        ('<Gather speechTimeout="0"/>', "speechTimeout must be a number greater than 0"),
        ('<Gather tag="' + "x" * 257 + '"/>', "tag must be at most 256 characters (it has 257)"),
        (
            '<Pause duration="0.05"/>',
            "<Pause> attribute duration must be a number from 0.1 to 86400",
        ),
        ('<Pause duration="86401"/>', "duration must be a number from 0.1 to 86400"),
        ('<Pause duration="nan"/>', "duration must be a number from 0.1 to 86400, got 'nan'"),
        ('<Pause duration="1e3"/>', "duration must be a number from 0.1 to 86400, got '1e3'"),
        ('<Pause duration=""/>', "duration must be a number from 0.1 to 86400, got ''"),
        ('<Ring duration="0"/>', "<Ring> attribute duration must be a number from 0.1 to 86400"),
        ('<Ring answerCall="yes"/>', "answerCall must be true or false, got 'yes'"),
        (
            '<SendDtmf toneDuration="49">1</SendDtmf>',
            "toneDuration must be a number from 50 to 5000, got '49'",
        ),
        (
            '<SendDtmf toneInterval="5001">1</SendDtmf>',
            "toneInterval must be a number from 50 to 5000, got '5001'",
        ),
        (
            "<SendDtmf>12x</SendDtmf>",
            "<SendDtmf> digits may only contain the characters 0123456789*#ABCDwW,, got '12x'",
        ),
        ("<SendDtmf>" + "1" * 51 + "</SendDtmf>", "must be at most 50 characters (it has 51)"),
        ("<SendDtmf> </SendDtmf>", "<SendDtmf> digits must not be empty"),
        ('<Redirect redirectMethod="GET"/>', "<Redirect> needs the attribute redirectUrl"),
        ('<Redirect redirectUrl=""/>', "redirectUrl must be a URL without spaces, got ''"),
        ('<Redirect redirectUrl="ftp://x/y"/>', "redirectUrl must be an http or https URL"),
        ("<StartGather/>", "<StartGather> needs the attribute dtmfUrl"),
        ("<PlayAudio> </PlayAudio>", "<PlayAudio> content must be a URL without spaces, got ''"),
        ("<PlayAudio>file:///etc/passwd</PlayAudio>", "must be an http or https URL"),
        ("<SpeakSentence> </SpeakSentence>", "<SpeakSentence> needs text to speak"),
        ('<SpeakSentence gender="other">Hi</SpeakSentence>', "gender must be one of male, female"),
        (
            '<SpeakSentence voice="hal">Hi</SpeakSentence>',
            "voice must be one of Bandwidth's voices",
        ),
        ('<SpeakSentence locale="en-US">Hi</SpeakSentence>', "locale must be one of arb, cmn-CN"),
    ],
)
def test_a_wrong_value_is_an_error_naming_verb_attribute_and_value(xml: str, expected: str) -> None:
    assert expected in problem(xml)


def test_the_error_for_a_wrong_value_reads_like_the_contract() -> None:
    with pytest.raises(BxmlError) as caught:
        parse_bxml('<Response>\n\n    <Gather maxDigits="abc"/>\n</Response>')
    error = caught.value
    assert (error.line, error.column) == (3, 5)
    assert str(error) == (
        "line 3, column 5: <Gather> attribute maxDigits must be an integer from 1 to 50, got 'abc'"
    )


def test_numbers_may_be_padded_and_methods_any_case() -> None:
    gather = only_verb('<Gather maxDigits=" 3 " firstDigitTimeout="2." gatherMethod="get"/>')
    assert isinstance(gather, verbs.Gather)
    assert (gather.max_digits, gather.first_digit_timeout, gather.gather_method) == (3, 2.0, "GET")


def test_gather_nests_only_prompts() -> None:
    assert problem("<Gather><Pause/></Gather>") == (
        "<Pause> cannot be nested in <Gather>; only <SpeakSentence> and <PlayAudio> can"
    )
    assert "<Transfer> cannot be nested in <Gather>" in problem("<Gather><Transfer/></Gather>")
    assert "<Gather> takes no text, got 'press one'" in problem("<Gather>press one</Gather>")


def test_gather_plays_at_most_twenty_prompts_counting_repeats() -> None:
    four = "<PlayAudio>a.wav</PlayAudio>" * 4
    assert len(only_verb(f'<Gather repeatCount="5">{four}</Gather>').prompts) == 4  # type: ignore[union-attr]
    assert problem(f'<Gather repeatCount="6">{four}</Gather>') == (
        "<Gather> may play at most 20 prompts: repeatCount 6 x 4 nested verbs is 24"
    )
    assert "21 nested verbs is 21" in problem(
        "<Gather>" + "<PlayAudio>a</PlayAudio>" * 21 + "</Gather>"
    )


def test_nested_prompts_are_checked_like_top_level_ones() -> None:
    assert "<SpeakSentence> needs text to speak" in problem("<Gather><SpeakSentence/></Gather>")


def test_verbs_without_content_take_no_text_or_children() -> None:
    assert problem("<Pause>3</Pause>") == "<Pause> takes no text, got '3'"
    assert problem("<Hangup><Pause/></Hangup>") == "<Pause> cannot be nested in <Hangup>"
    assert (
        problem("<PlayAudio><Pause/>a.wav</PlayAudio>") == "<Pause> cannot be nested in <PlayAudio>"
    )


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ("<Tag>  vip caller  </Tag>", "vip caller"),
        ("<Tag></Tag>", None),
        ("<Tag/>", None),
        ("<Tag>  \n </Tag>", None),
    ],
)
def test_tag_content_is_trimmed_and_blank_clears(xml: str, expected: str | None) -> None:
    assert only_verb(xml) == verbs.Tag(value=expected, line=1, column=11)


class TestSpeakSentence:
    def test_ssml_is_kept_as_ssml_and_stripped_for_plain_text(self) -> None:
        speak = only_verb(
            '<SpeakSentence>Hello <lang xml:lang="es-MX">amigo</lang>, '
            '<emphasis level="strong">listen</emphasis>.<p><s>One</s><s>Two &amp; 3</s></p>'
            '<break time="1s"/><say-as interpret-as="telephone">2025551212</say-as> '
            '<prosody rate="slow" pitch="low" volume="loud">slow</prosody> '
            '<phoneme ph="pɪˈkɑːn">pecan</phoneme> <sub alias="World Wide Web">WWW</sub>'
            "</SpeakSentence>"
        )
        assert isinstance(speak, verbs.SpeakSentence)
        assert speak.text == (
            'Hello <lang xml:lang="es-MX">amigo</lang>, <emphasis level="strong">listen</emphasis>.'
            '<p><s>One</s><s>Two &amp; 3</s></p><break time="1s"/>'
            '<say-as interpret-as="telephone">2025551212</say-as> '
            '<prosody rate="slow" pitch="low" volume="loud">slow</prosody> '
            '<phoneme ph="pɪˈkɑːn">pecan</phoneme> <sub alias="World Wide Web">WWW</sub>'
        )
        assert speak.plain_text == "Hello amigo, listen. One Two & 3 2025551212 slow pecan WWW"

    def test_plain_text_collapses_whitespace_and_text_is_trimmed(self) -> None:
        speak = only_verb("<SpeakSentence>\n   Thank you\n   for calling.\n</SpeakSentence>")
        assert isinstance(speak, verbs.SpeakSentence)
        assert speak.text == "Thank you\n   for calling."
        assert speak.plain_text == "Thank you for calling."

    def test_an_unsupported_ssml_tag_is_an_error_naming_the_supported_ones(self) -> None:
        assert problem("<SpeakSentence>Hi <audio src='x'/></SpeakSentence>") == (
            "<audio> is not an SSML tag Bandwidth supports in <SpeakSentence> "
            "(supported: break, emphasis, lang, p, phoneme, prosody, s, say-as, sub)"
        )

    def test_an_unknown_ssml_attribute_is_an_error(self) -> None:
        assert problem('<SpeakSentence><break duration="1s"/>Hi</SpeakSentence>') == (
            "SSML <break> has no attribute 'duration' (attributes: strength, time)"
        )

    def test_voice_is_case_insensitive_and_gender_and_locale_are_kept_as_written(self) -> None:
        speak = only_verb(
            '<SpeakSentence voice="Simon" gender="female" locale="de">Hi</SpeakSentence>'
        )
        assert isinstance(speak, verbs.SpeakSentence)
        assert (speak.voice, speak.gender, speak.locale) == ("simon", "female", "de")

    def test_gender_and_locale_choose_the_speaker_without_a_voice(self) -> None:
        speak = only_verb('<SpeakSentence gender="male" locale="fr_CA">Salut</SpeakSentence>')
        assert isinstance(speak, verbs.SpeakSentence)
        assert (speak.voice, speak.gender, speak.locale) == (None, "male", "fr_CA")


class TestRelativeUrls:
    @pytest.mark.parametrize(
        ("xml", "field", "expected"),
        [
            ('<Gather gatherUrl="/gather"/>', "gather_url", "https://app.example/gather"),
            ('<Gather gatherUrl="gather"/>', "gather_url", "https://app.example/voice/gather"),
            (
                '<Gather gatherFallbackUrl="../fb"/>',
                "gather_fallback_url",
                "https://app.example/fb",
            ),
            ('<Redirect redirectUrl="?step=2"/>', "redirect_url", f"{BASE_URL}?step=2"),
            (
                '<Redirect redirectUrl="x" redirectFallbackUrl="//backup.example/r"/>',
                "redirect_fallback_url",
                "https://backup.example/r",
            ),
            ('<StartGather dtmfUrl="dtmf"/>', "dtmf_url", "https://app.example/voice/dtmf"),
            (
                "<PlayAudio>media/hi.wav</PlayAudio>",
                "url",
                "https://app.example/voice/media/hi.wav",
            ),
            (
                '<Gather gatherUrl="http://other.example/g"/>',
                "gather_url",
                "http://other.example/g",
            ),
        ],
    )
    def test_relative_urls_resolve_against_the_url_that_served_the_document(
        self, xml: str, field: str, expected: str
    ) -> None:
        assert getattr(only_verb(xml), field) == expected

    def test_nested_play_audio_resolves_too(self) -> None:
        gather = only_verb("<Gather><PlayAudio>/menu.mp3</PlayAudio></Gather>")
        assert isinstance(gather, verbs.Gather)
        assert gather.prompts[0] == verbs.PlayAudio(
            url="https://app.example/menu.mp3", line=1, column=19
        )

    def test_without_a_base_url_relative_urls_stay_as_written(self) -> None:
        redirect = only_verb('<Redirect redirectUrl="/next"/>', base_url=None)
        assert isinstance(redirect, verbs.Redirect)
        assert redirect.redirect_url == "/next"

    def test_the_document_remembers_its_base_url(self) -> None:
        document = parse_bxml("<Response/>", base_url=BASE_URL)
        assert document == Document((), "Response", BASE_URL)


@pytest.mark.parametrize(("written", "value"), [("True", True), ("False", False), ("FALSE", False)])
def test_booleans_in_any_case_as_bandwidth_sdk_15_writes_them(written: str, value: bool) -> None:
    """bandwidth-sdk 15.0.0-16.0.0 writes str(bool): `Ring(answer_call=False)` becomes
    answerCall="False"."""
    document = parse_bxml(f'<Response><Ring answerCall="{written}"/></Response>')
    (ring,) = document.verbs
    assert isinstance(ring, verbs.Ring) and ring.answer_call is value
