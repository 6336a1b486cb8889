"""Each verb as a caller would live it: how long it takes on the clock, what it sends to the
webhook app, and what it does to the rest of the document."""

from __future__ import annotations

import base64
import io
import wave

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import (
    Gather,
    Hangup,
    Pause,
    PlayAudio,
    Redirect,
    Response,
    Ring,
    SendDtmf,
    SpeakSentence,
    StartGather,
    StopGather,
)

from switchboard.network import base as net
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
from tests.e2e.phones import ANSWERS, PRESSES_1234
from tests.support.receiver import Raw, Received, Receiver
from tests.support.server import VirtualTimeServer

PRESSES_ONCE_EACH = "+15555550107"  # answers after 1 s; "1" to the first Gather, "2#" to the next
PRESSES_12 = "+15555550109"  # answers after 1 s; presses 12 (no terminator) in each Gather

TEN_WORDS = "Thank you for calling the support line of Example Corp today"  # 11 words


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(bytes(2 * int(seconds * rate)))
    return buffer.getvalue()


def answered_then(app: Receiver) -> float:
    """Seconds from answer to the redirect event at /after (how long the verbs before it took)."""
    (redirect,) = app.events("redirect")
    return since(at(redirect["answerTime"]), redirect["eventTime"])


# -- media verbs and their durations ----------------------------------------------------------


def test_speak_sentence_takes_its_words_at_150_words_per_minute(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    text = "one two three four five six seven eight nine ten"
    app.on("/answer", Response([SpeakSentence(text), Redirect("/after")]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert answered_then(app) == 4.0  # 10 words at 150 wpm
    started, finished = entries(timeline(switchboard, call_id), "verb", verb="SpeakSentence")
    assert started["event"] == "started" and started["text"] == text
    assert finished["event"] == "finished"
    assert since(at(started["at"]), finished["at"]) == 4.0


def test_ssml_tags_are_not_words_and_breaks_take_their_time(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    speech = SpeakSentence('Hello <break time="2s"/> <emphasis level="strong">world</emphasis>')
    app.on("/answer", Response([speech, Redirect("/after")]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert answered_then(app) == 0.8 + 2.0


def test_pause_and_ring_take_their_duration(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Pause(2.5), Ring(duration=3), Redirect("/after")]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert answered_then(app) == 5.5
    verbs = entries(timeline(switchboard, call_id), "verb")
    assert [(v["verb"], v["event"]) for v in verbs] == [
        ("Pause", "started"),
        ("Pause", "finished"),
        ("Ring", "started"),
        ("Ring", "finished"),
    ]
    assert [since(at(verbs[0]["at"]), v["at"]) for v in verbs] == [0, 2.5, 2.5, 5.5]


def mp3_bytes(seconds: float) -> bytes:
    """Constant-bitrate MPEG-1 Layer III at 128 kbps: a frame header, then the right size."""
    return (b"\xff\xfb\x90\x00" + bytes(int(seconds * 128_000 / 8)))[: int(seconds * 16_000)]


@pytest.mark.parametrize(
    ("name", "audio", "content_type"),
    [("hello.wav", wav_bytes(3.0), "audio/wav"), ("hello.mp3", mp3_bytes(3.0), "audio/mpeg")],
)
def test_play_audio_fetches_the_file_with_basic_auth_and_plays_its_length(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    name: str,
    audio: bytes,
    content_type: str,
) -> None:
    expected = "Basic " + base64.b64encode(b"media-user:media-pass").decode()

    def serve(request: Received) -> Raw:
        if request.headers.get("Authorization") != expected:
            return Raw(b"who are you?", "text/plain", status=401)
        return Raw(audio, content_type)

    app.on(f"/media/{name}", serve)
    play = PlayAudio(f"/media/{name}", username="media-user", password="media-pass")
    app.on("/answer", Response([play, Redirect("/after")]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert answered_then(app) == 3.0
    (fetch,) = app.requests(f"/media/{name}")
    assert fetch.method == "GET"
    started, finished = entries(timeline(switchboard, call_id), "verb", verb="PlayAudio")
    assert started["url"] == app.url(f"/media/{name}")  # resolved against the answerUrl
    assert since(at(started["at"]), finished["at"]) == 3.0


def test_play_audio_refused_by_its_server_is_an_application_error(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/media/secret.wav", Raw(b"", "text/plain", status=401))
    app.on("/answer", Response([PlayAudio(app.url("/media/secret.wav"))]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "application-error"
    assert f"{app.url('/media/secret.wav')}: it answered HTTP 401" in disconnect["errorMessage"]


def test_audio_fetched_with_credentials_is_not_played_for_a_verb_without_them(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    expected = "Basic " + base64.b64encode(b"u:p").decode()
    app.on(
        "/media/private.wav",
        lambda r: (
            Raw(wav_bytes(1.0), "audio/wav")
            if r.headers.get("Authorization") == expected
            else Raw(b"", "text/plain", status=401)
        ),
    )
    app.on(
        "/answer", Response([PlayAudio("/media/private.wav", username="u", password="p")]).to_bxml()
    )
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)
    app.on("/answer", Response([PlayAudio("/media/private.wav")]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert [d["cause"] for d in app.events("disconnect")] == ["hangup", "application-error"]
    assert len(app.requests("/media/private.wav")) == 2


def test_send_dtmf_plays_tones_intervals_and_pauses(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    # 1: 200 ms, 2: +400 +200, w replaces the interval: +500, 3: +200, 4: +400 +200, then +400.
    app.on("/answer", Response([SendDtmf("12w34"), Redirect("/after")]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert answered_then(app) == 2.5
    (started,) = entries(timeline(switchboard, call_id), "verb", verb="SendDtmf", event="started")
    assert started["digits"] == "12w34"


def test_send_dtmf_with_custom_tone_duration_and_interval(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    # sendDtmf.mdx: with toneInterval 300, "1w2" plays 2 500 ms after 1.
    sending = SendDtmf("1w2", tone_duration=100, tone_interval=300)
    app.on("/answer", Response([sending, Redirect("/after")]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert answered_then(app) == 0.1 + 0.5 + 0.1 + 0.3


# -- Redirect ---------------------------------------------------------------------------------


def test_redirect_sends_a_redirect_event_and_its_bxml_replaces_the_rest(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on(
        "/answer",
        Response(
            [SpeakSentence("One moment"), Redirect("/next"), SpeakSentence("Never spoken")]
        ).to_bxml(),
    )
    app.on("/next", Response([Pause(1.5)]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    (request,) = app.requests("/next")  # relative redirectUrl, resolved against the answerUrl
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    redirect = check_event(request.event, "redirect", call_id, ANSWERS)
    assert since(at(redirect["answerTime"]), redirect["eventTime"]) == 0.8
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(at(redirect["eventTime"]), disconnect["endTime"]) == 1.5
    spoken = entries(timeline(switchboard, call_id), "verb", verb="SpeakSentence", event="started")
    assert [entry["text"] for entry in spoken] == ["One moment"]


def test_redirect_with_get_credentials_and_fallback(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    redirect = Redirect(
        redirect_url="/broken",
        redirect_method="GET",
        username="r-user",
        password="r-pass",
        redirect_fallback_url="/fallback",
        redirect_fallback_method="POST",
        fallback_username="f-user",
        fallback_password="f-pass",
    )
    app.on("/answer", Response([redirect]).to_bxml())
    app.on("/broken", (503, "down for maintenance"))
    app.on("/fallback", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    (primary,) = app.requests("/broken")
    assert primary.method == "GET" and primary.body is None
    assert primary.query["eventType"] == "redirect" and primary.query["callId"] == call_id
    assert (
        primary.headers["Authorization"] == "Basic " + base64.b64encode(b"r-user:r-pass").decode()
    )
    (fallback,) = app.requests("/fallback")
    assert fallback.method == "POST"
    assert (
        fallback.headers["Authorization"] == "Basic " + base64.b64encode(b"f-user:f-pass").decode()
    )
    check_event(fallback.event, "redirect", call_id, ANSWERS)
    assert one_disconnect(app)["cause"] == "hangup"


def test_relative_urls_resolve_against_the_url_that_served_each_document(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/ivr/answer", (500, "down"))
    app.on("/backup/answer", Response([Redirect("menu")]).to_bxml())  # served by the fallback
    app.on("/backup/menu", Response([Redirect("../ivr/step?n=2")]).to_bxml())
    app.on("/ivr/step", Response([Redirect("/top")]).to_bxml())
    app.on("/top", Response([Hangup()]).to_bxml())
    create_call(
        calls_api,
        app,
        ANSWERS,
        answer="/ivr/answer",
        answer_fallback_url=app.url("/backup/answer"),
    )
    vserver.advance(30)

    paths = [(r.path, r.query.get("n")) for r in app.received if r.event["eventType"] == "redirect"]
    assert paths == [("/backup/menu", None), ("/ivr/step", "2"), ("/top", None)]
    assert one_disconnect(app)["cause"] == "hangup"


# -- Gather -----------------------------------------------------------------------------------


def test_gather_url_bxml_replaces_the_rest_of_the_document(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    gather = Gather(gather_url="/gather", terminating_digits="#", max_digits=10)
    app.on("/answer", Response([gather, SpeakSentence("Never spoken")]).to_bxml())
    app.on("/gather", Response([SpeakSentence("Got it"), Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, PRESSES_1234)
    vserver.advance(30)

    (event,) = app.events("gather")
    gathered = check_event(event, "gather", call_id, PRESSES_1234)
    assert (gathered["digits"], gathered["terminatingDigit"]) == ("1234", "#")
    # The callee starts 1 s into the Gather and presses a key every 0.25 s.
    assert since(at(gathered["answerTime"]), gathered["eventTime"]) == 2.0
    spoken = entries(timeline(switchboard, call_id), "verb", verb="SpeakSentence", event="started")
    assert [entry["text"] for entry in spoken] == ["Got it"]


def test_gather_without_gather_url_continues_the_document(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on(
        "/answer",
        Response([Gather(terminating_digits="#"), Pause(1), Redirect("/after")]).to_bxml(),
    )
    create_call(calls_api, app, PRESSES_1234)
    vserver.advance(30)

    assert app.events("gather") == []
    assert answered_then(app) == 2.0 + 1.0


def test_gather_ends_at_max_digits(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Gather(gather_url="/gather", max_digits=2)]).to_bxml())
    create_call(calls_api, app, PRESSES_1234)
    vserver.advance(30)

    (gathered,) = app.events("gather")
    assert (gathered["digits"], gathered["terminatingDigit"]) == ("12", "")
    assert since(at(gathered["answerTime"]), gathered["eventTime"]) == 1.25


def test_gather_ends_after_first_digit_timeout_without_digits(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Gather(gather_url="/gather", first_digit_timeout=3)]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    (gathered,) = app.events("gather")
    assert (gathered["digits"], gathered["terminatingDigit"]) == ("", "")
    assert since(at(gathered["answerTime"]), gathered["eventTime"]) == 3.0


def test_gather_ends_after_inter_digit_timeout(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    gather = Gather(gather_url="/gather", terminating_digits="#", inter_digit_timeout=2.5)
    app.on("/answer", Response([gather]).to_bxml())
    create_call(calls_api, app, PRESSES_12)
    vserver.advance(30)

    (gathered,) = app.events("gather")
    assert (gathered["digits"], gathered["terminatingDigit"]) == ("12", "")
    assert since(at(gathered["answerTime"]), gathered["eventTime"]) == 1.25 + 2.5


def test_gather_repeats_its_prompt_repeat_count_times(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    gather = Gather(
        gather_url="/gather",
        first_digit_timeout=2,
        repeat_count=3,
        audio_verbs=[SpeakSentence("Press one now")],  # 1.2 s
    )
    app.on("/answer", Response([gather]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    (gathered,) = app.events("gather")
    assert gathered["digits"] == ""
    assert (
        since(at(gathered["answerTime"]), gathered["eventTime"]) == 9.6
    )  # 3 x (1.2 s prompt + 2 s firstDigitTimeout)
    prompts = entries(timeline(switchboard, call_id), "verb", verb="SpeakSentence", event="started")
    assert [since(at(gathered["answerTime"]), p["at"]) for p in prompts] == [0, 3.2, 6.4]


def test_a_digit_during_the_prompt_cuts_it(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    prompt = SpeakSentence(" ".join(["word"] * 25))  # 10 s
    gather = Gather(gather_url="/gather", terminating_digits="#", audio_verbs=[prompt])
    app.on("/answer", Response([gather]).to_bxml())
    call_id = create_call(calls_api, app, PRESSES_1234)
    vserver.advance(30)

    (gathered,) = app.events("gather")
    assert gathered["digits"] == "1234"
    assert since(at(gathered["answerTime"]), gathered["eventTime"]) == 2.0
    items = timeline(switchboard, call_id)
    speech = entries(items, "verb", verb="SpeakSentence")
    assert [entry["event"] for entry in speech] == ["started", "stopped"]
    assert since(at(speech[0]["at"]), speech[1]["at"]) == 1.0  # the first key, not 10 s
    gathers = entries(items, "verb", verb="Gather")
    assert [entry["event"] for entry in gathers] == ["started", "finished"]
    assert since(at(gathers[0]["at"]), gathers[1]["at"]) == 2.0


def test_a_phone_with_a_digits_list_answers_one_entry_per_gather(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    first = Gather(gather_url="/first", terminating_digits="#", inter_digit_timeout=2)
    second = Gather(gather_url="/second", terminating_digits="#", first_digit_timeout=3)
    third = Gather(gather_url="/third", first_digit_timeout=3)
    app.on("/answer", Response([first]).to_bxml())
    app.on("/first", Response([second]).to_bxml())
    app.on("/second", Response([third]).to_bxml())
    app.on("/third", Response([Hangup()]).to_bxml())
    create_call(calls_api, app, PRESSES_ONCE_EACH)
    vserver.advance(30)

    gathered = [(g["digits"], g["terminatingDigit"]) for g in app.events("gather")]
    assert gathered == [("1", ""), ("2", "#"), ("", "")]
    assert one_disconnect(app)["cause"] == "hangup"


# -- StartGather / StopGather -----------------------------------------------------------------


def test_start_gather_sends_a_dtmf_event_per_digit_until_stop_gather(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on(
        "/answer",
        Response(
            [StartGather(dtmf_url="/dtmf", tag="listening"), Pause(10), StopGather(), Pause(10)]
        ).to_bxml(),
    )
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(5)
    assert callee(switchboard, call_id, "press", digits="4*").status_code == 204
    vserver.advance(10)  # now in the second Pause: StopGather has run
    assert callee(switchboard, call_id, "press", digits="9").status_code == 204
    vserver.advance(30)

    dtmf = [check_event(e, "dtmf", call_id, ANSWERS, optional={"tag"}) for e in app.events("dtmf")]
    assert [event["digit"] for event in dtmf] == ["4", "*"]
    assert [since(created, event["eventTime"]) for event in dtmf] == [5.0, 5.25]
    assert all(event["tag"] == "listening" for event in dtmf)
    assert [e["digit"] for e in entries(timeline(switchboard, call_id), "dtmf")] == ["4", "*", "9"]
    assert one_disconnect(app)["cause"] == "hangup"


def test_start_gather_is_paused_while_a_gather_collects_digits(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    # startGather.mdx: digits pressed during a <Gather> are not duplicated as dtmf events.
    app.on(
        "/answer",
        Response(
            [
                StartGather(dtmf_url="/dtmf", dtmf_method="GET"),
                Gather(gather_url="/gather", terminating_digits="#"),
            ]
        ).to_bxml(),
    )
    app.on("/gather", Response([Pause(5)]).to_bxml())
    call_id = create_call(calls_api, app, PRESSES_1234)
    vserver.advance(3)  # the Gather has heard 1234#
    assert callee(switchboard, call_id, "press", digits="5").status_code == 204
    vserver.advance(30)

    (gathered,) = app.events("gather")
    assert gathered["digits"] == "1234"
    (dtmf,) = app.requests("/dtmf")
    assert dtmf.method == "GET"
    assert dtmf.query["digit"] == "5" and dtmf.query["eventType"] == "dtmf"


def test_a_key_pressed_as_the_prompt_ends_does_not_cut_the_next_verb(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    """On a real network a key and the prompt's end can reach the call together, the key
    first: the Gather ends on the key and stops the prompt, so the prompt's end, already
    queued, must not be taken for the end of the next verb ("Goodbye" plays whole). The two
    network events are handed to the call as a real network would deliver them."""
    number = "+15555550188"
    response = switchboard.put(f"/switchboard/v1/phones/{number}", json={"answer_after": 1.0})
    assert response.status_code == 200, response.text
    prompt = SpeakSentence("one two three four five")  # 2.0 s
    app.on(
        "/answer",
        Response([Gather(max_digits=1, audio_verbs=[prompt]), SpeakSentence("Goodbye")]).to_bxml(),
    )
    call_id = create_call(calls_api, app, number)
    vserver.advance(2.0)  # answered at 1.0 s; the prompt plays until 3.0 s

    async def key_then_prompt_end() -> None:
        runner = vserver.engine.runners[call_id]
        prompt_generation = runner.leg.media_generation
        runner.post(net.Digit("1"))
        runner.post(net.MediaFinished(prompt_generation))

    vserver.run(key_then_prompt_end())
    vserver.advance(30)

    spoken = entries(timeline(switchboard, call_id), "verb", verb="SpeakSentence")
    assert [(e.get("text"), e["event"]) for e in spoken][-2:] == [
        ("Goodbye", "started"),
        (None, "finished"),
    ]
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(at(disconnect["answerTime"]), disconnect["endTime"]) == 1.5  # 1.0 + 0.5
