"""Shared helpers for the BXML unit tests: build documents and drive an interpreter."""

from __future__ import annotations

from switchboard.bxml import Document, Interpreter, actions, parse_bxml

BASE_URL = "https://app.example/voice/answer"


def document(body: str) -> Document:
    """A <Response> around `body`, served from BASE_URL."""
    return parse_bxml(f"<Response>{body}</Response>", base_url=BASE_URL)


def started(
    body: str, *, tag: str | None = None, answered: bool = True
) -> tuple[Interpreter, list[actions.Action]]:
    interpreter = Interpreter(document(body), tag=tag, answered=answered)
    return interpreter, interpreter.start()


def callback(
    event_type: str,
    url: str,
    fields: dict[str, object],
    *,
    expects_bxml: bool = True,
    method: str = "POST",
) -> actions.SendCallback:
    """A SendCallback without credentials or fallback, as most tests expect."""
    return actions.SendCallback(
        event_type=event_type,
        url=url,
        method=method,
        fallback_url=None,
        fallback_method="POST",
        username=None,
        password=None,
        fallback_username=None,
        fallback_password=None,
        fields=fields,
        expects_bxml=expects_bxml,
    )


def speak(text: str) -> actions.Speak:
    """The Speak action for a plain <SpeakSentence> with default voice settings."""
    return actions.Speak(text, text, None, "female", "en_US")


HANGUP = actions.Hangup("hangup", None)
