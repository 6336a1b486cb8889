"""BXML URLs lose their user:password@ as they are parsed (issue 23, DESIGN.md rule 7): the
verb's username/password take it, and URLs sharing one pair must agree."""

from __future__ import annotations

import pytest

from switchboard.bxml import BxmlError, parse_bxml
from switchboard.bxml.verbs import Record, Redirect
from switchboard.url_credentials import split_credentials

SECRET = "p%40ss%3Aw%2F%C3%BC"  # p@ss:w/ü, percent-encoded as a URL must carry it


def test_a_redirect_url_gives_its_credentials_to_the_verb() -> None:
    document = parse_bxml(
        f'<Response><Redirect redirectUrl="https://me:{SECRET}@app.example/next" '
        f'redirectFallbackUrl="https://fb:{SECRET}@other.example/fb"/></Response>'
    )
    (verb,) = document.verbs
    assert isinstance(verb, Redirect)
    assert verb.redirect_url == "https://app.example/next"
    assert (verb.username, verb.password) == ("me", "p@ss:w/ü")
    assert verb.redirect_fallback_url == "https://other.example/fb"
    assert (verb.fallback_username, verb.fallback_password) == ("fb", "p@ss:w/ü")


def test_given_attributes_win_and_the_url_is_still_bare() -> None:
    document = parse_bxml(
        f'<Response><Redirect redirectUrl="https://me:{SECRET}@app.example:8443/next" '
        'username="given" password="pw"/></Response>'
    )
    (verb,) = document.verbs
    assert isinstance(verb, Redirect)
    assert verb.redirect_url == "https://app.example:8443/next"
    assert (verb.username, verb.password) == ("given", "pw")


def test_urls_sharing_one_pair_must_carry_the_same_credentials() -> None:
    with pytest.raises(BxmlError) as caught:
        parse_bxml(
            f'<Response><Record recordCompleteUrl="https://me:{SECRET}@a.example/done" '
            'recordingAvailableUrl="https://b.example/avail"/></Response>'
        )
    message = str(caught.value)
    assert "recordCompleteUrl" in message and "recordingAvailableUrl" in message
    assert "p@ss" not in message and SECRET not in message
    document = parse_bxml(
        f'<Response><Record recordCompleteUrl="https://me:{SECRET}@a.example/done" '
        f'recordingAvailableUrl="https://me:{SECRET}@a.example/avail"/></Response>'
    )
    (verb,) = document.verbs
    assert isinstance(verb, Record)
    assert verb.recording_available_url == "https://a.example/avail"
    assert (verb.username, verb.password) == ("me", "p@ss:w/ü")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://app.example/x", ("https://app.example/x", None, None)),
        ("https://u:p@app.example/x?q=a@b", ("https://app.example/x?q=a@b", "u", "p")),
        ("http://u@[::1]:8080/", ("http://[::1]:8080/", "u", None)),
        ("http://u:a%40b@h/", ("http://h/", "u", "a@b")),
    ],
)
def test_split_credentials(url: str, expected: tuple[str, str | None, str | None]) -> None:
    assert split_credentials(url) == expected


def test_log_redaction_takes_a_password_holding_a_raw_at_sign() -> None:
    from switchboard.redact import redact_text

    assert (
        redact_text("GET http://u:p@ss@host.example/x failed") == "GET http://host.example/x failed"
    )
    assert redact_text("http://host.example/x?to=a@b") == "http://host.example/x?to=a@b"
