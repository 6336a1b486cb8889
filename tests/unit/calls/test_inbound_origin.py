"""An inbound call's webhook settings come from its application (calls/inbound.py), with any
user:password@ split off the URLs (issue 23): an application stored before the config file and
the CLI refused them still never shows or stores a password inside a URL."""

from __future__ import annotations

from pathlib import Path

from switchboard.calls.inbound import origin_request
from switchboard.network.base import InboundOffer
from switchboard.provisioning.models import Application
from switchboard.provisioning.vault import Vault
from switchboard.provisioning.voice_settings import VoiceSettings

PASSWORD = "p@ss:w/rd%é"
ENCODED = "p%40ss%3Aw%2Frd%25%C3%A9"


def test_credentials_are_split_off_each_url_and_sent_to_that_url_only(tmp_path: Path) -> None:
    application = Application(
        "7fc9698a-b04a-468b-9e8f-91238c0d0086",
        "9900001",
        "IVR",
        VoiceSettings(
            call_initiated_callback_url=f"https://hook:{ENCODED}@app.example/initiate",
            call_initiated_fallback_url="https://backup:b@backup.example/initiate",
            call_status_callback_url="https://status.example/status",
        ),
    )
    request = origin_request(
        InboundOffer(to="+15555551212", from_="+15555550100"),
        application,
        Vault.in_directory(tmp_path),
    )
    assert request.answer_url == "https://app.example/initiate"
    assert request.answer_fallback_url == "https://backup.example/initiate"
    assert request.disconnect_url == "https://status.example/status"
    assert request.credentials_for("answerUrl") == ("hook", PASSWORD)
    assert request.credentials_for("answerFallbackUrl") == ("backup", "b")
    assert request.credentials_for("disconnectUrl") == (None, None)
    assert PASSWORD not in repr(request) and ENCODED not in repr(request)


def test_the_application_s_callback_credentials_win_over_a_url_s(tmp_path: Path) -> None:
    vault = Vault.in_directory(tmp_path)
    application = Application(
        "7fc9698a-b04a-468b-9e8f-91238c0d0086",
        "9900001",
        "IVR",
        VoiceSettings(
            call_initiated_callback_url="https://old:old@app.example/initiate",
            callback_username="hook",
            callback_password=vault.seal("new"),
        ),
    )
    request = origin_request(
        InboundOffer(to="+15555551212", from_="+15555550100"), application, vault
    )
    assert request.answer_url == "https://app.example/initiate"
    assert request.credentials_for("answerUrl") == ("hook", "new")


def test_a_stored_url_s_credentials_are_not_shown() -> None:
    voice = VoiceSettings(
        call_initiated_callback_url=f"https://hook:{ENCODED}@app.example/initiate",
        callback_password="sealed",
    )
    assert voice.described() == {
        "call_initiated_callback_url": "https://app.example/initiate",
        "call_initiated_method": "POST",
        "call_initiated_fallback_method": "POST",
        "call_status_method": "POST",
        "callback_password": "(set)",
        "callback_timeout": 15.0,
    }
