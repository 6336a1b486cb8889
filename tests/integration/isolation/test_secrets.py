"""Secrets never appear in responses, logs or timelines.

One call uses a credential everywhere Bandwidth takes one (createCall's password and
fallbackPassword, machineDetection's, a Gather's, a Redirect's and its fallback's, a PlayAudio's,
updateCall's, a Redirect's in a PUT /bxml document, and user:password in a webhook URL), against
a real webhook app that checks them; one request on the way fails with a 500. Then every API
answer, the timeline (over the API and from `switchboard calls show`), and every record of every
server logger at DEBUG are searched for each secret, plain and as the Basic credential carrying it.
"""

from __future__ import annotations

import base64
import io
import logging
import subprocess
import sys
import traceback
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bandwidth.models.bxml import (
    Bxml,
    Gather,
    Pause,
    PlayAudio,
    Redirect,
    Response,
    SpeakSentence,
)

from switchboard.calls.create_request import parse_create_call
from switchboard.calls.model import Call
from tests.support.receiver import Raw, Received, Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

CALLEE = "+15555550150"  # answers after 1 s and presses 1 when a Gather listens
PHONES = f"""
[[simulator.phones]]
number = "{CALLEE}"
answer_after = 1.0
digits = "1"
"""
# user -> password, one pair per place a credential can be given, by where it is given.
GROUPS = {
    "request": {  # createCall and updateCall fields
        "answer-user": "answer-pw-4b1e",
        "fallback-user": "fallback-pw-9c7d",
        "update-user": "update-pw-7a5f",
        "update-fallback-user": "update-fallback-pw-0e4c",
    },
    "machineDetection": {
        "md-user": "md-pw-2a6f",
        "md-fallback-user": "md-fallback-pw-5e3b",
    },
    "bxml": {  # verb attributes in BXML the webhook app returns, or PUT /bxml sends
        "gather-user": "gather-pw-8d0c",
        "redirect-user": "redirect-pw-1f9a",
        "redirect-fallback-user": "redirect-fallback-pw-6b2e",
        "audio-user": "audio-pw-3c8d",
        "bxml-user": "bxml-pw-2d7b",
    },
    "url": {  # user:password@ in a webhook URL (the username/password fields win over it)
        "url-user": "url-pw-9f1d",
    },
}
CREDENTIALS = {user: password for group in GROUPS.values() for user, password in group.items()}
# Credentials never sent: no machine detection, no failed update, and answerUrl's own
# user:password@ gives way to the call's username/password fields.
NEVER_SENT = {"md-user", "md-fallback-user", "update-fallback-user", "url-user"}
# The test's own HTTP client logs in this process too; only the server's records count.
CLIENT_LOGGERS = ("httpx", "httpcore")


def basic(user: str) -> str:
    return base64.b64encode(f"{user}:{CREDENTIALS[user]}".encode()).decode()


def wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(1)
        file.setframerate(rate)
        file.writeframes(b"\x80" * int(seconds * rate))
    return buffer.getvalue()


class Records(logging.Handler):
    """Every record, rendered with its arguments, extra fields and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(CLIENT_LOGGERS):
            return
        rendered = [record.name, record.levelname, record.getMessage(), repr(record.__dict__)]
        if record.exc_info and record.exc_info[1] is not None:
            rendered.append("".join(traceback.format_exception(record.exc_info[1])))
        self.lines.append(" | ".join(rendered))


@contextmanager
def every_logger_at_debug() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger()] + [
        item
        for item in logging.root.manager.loggerDict.values()
        if isinstance(item, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if logger is logging.getLogger() or not logger.propagate:
            logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in levels.items():
            logger.setLevel(level)
            logger.removeHandler(handler)


def webhook_app(app: Receiver) -> None:
    """Each URL wants its own credential (401 otherwise); some fail on purpose so that their
    fallbacks are used."""

    def guarded(user: str, reply: Any) -> Any:
        def handler(request: Received) -> Any:
            if request.headers.get("Authorization") != f"Basic {basic(user)}":
                return 401, "wrong credentials"
            return reply

        return handler

    gather = Gather(
        gather_url=app.url("/gather"),
        username="gather-user",
        password=CREDENTIALS["gather-user"],
        max_digits=1,
        audio_verbs=[SpeakSentence("Press one")],
    )
    audio = PlayAudio(
        app.url("/audio.wav"), username="audio-user", password=CREDENTIALS["audio-user"]
    )
    redirect = Redirect(
        redirect_url=app.url("/redirect"),
        username="redirect-user",
        password=CREDENTIALS["redirect-user"],
        redirect_fallback_url=app.url("/redirect-fallback"),
        fallback_username="redirect-fallback-user",
        fallback_password=CREDENTIALS["redirect-fallback-user"],
    )
    hold = Response([Pause(duration=60)]).to_bxml()
    app.on("/answer", guarded("answer-user", (500, "down")))
    app.on("/answer-fallback", guarded("fallback-user", Response([audio, gather]).to_bxml()))
    app.on("/audio.wav", guarded("audio-user", Raw(wav(1.0), "audio/wav")))
    app.on("/gather", guarded("gather-user", Response([redirect]).to_bxml()))
    app.on("/redirect", guarded("redirect-user", (500, "down")))
    app.on("/redirect-fallback", guarded("redirect-fallback-user", hold))
    app.on("/update", guarded("update-user", hold))
    app.on("/bxml-redirect", guarded("bxml-user", Response([SpeakSentence("Bye")]).to_bxml()))
    app.on("/disconnect", guarded("answer-user", ""))


@dataclass
class Run:
    """Everything a user or an operator can see of the call, and what the webhook app got."""

    surfaces: dict[str, list[str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)


def call_with_secrets_everywhere(server: VirtualTimeServer, app: Receiver) -> Run:
    run = Run()
    answers: list[httpx.Response] = []
    calls = f"/api/v2/accounts/{ACCOUNT_ID}/calls"
    host = app.base_url.removeprefix("http://")
    with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD), timeout=10) as api:
        created = api.post(
            calls,
            json={
                "from": FROM_NUMBER,
                "to": CALLEE,
                "applicationId": APPLICATION_ID,
                # Fails on purpose (HTTP 500): its error sentence names this URL.
                "answerUrl": f"http://url-user:{CREDENTIALS['url-user']}@{host}/answer",
                "username": "answer-user",
                "password": CREDENTIALS["answer-user"],
                "answerFallbackUrl": app.url("/answer-fallback"),
                "fallbackUsername": "fallback-user",
                "fallbackPassword": CREDENTIALS["fallback-user"],
                "disconnectUrl": app.url("/disconnect"),
                "machineDetection": {
                    "mode": "async",
                    "callbackUrl": app.url("/machine"),
                    "username": "md-user",
                    "password": CREDENTIALS["md-user"],
                    "fallbackUrl": app.url("/machine-fallback"),
                    "fallbackUsername": "md-fallback-user",
                    "fallbackPassword": CREDENTIALS["md-fallback-user"],
                },
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["password"] == created.json()["fallbackPassword"] == "*****"
        call_id = created.json()["callId"]
        call = f"{calls}/{call_id}"
        answers.append(created)

        server.advance(20)  # answered; audio, gather "1", redirect to its fallback, then hold
        assert api.get(call).json()["state"] == "answered"
        update = {
            "redirectUrl": app.url("/update"),
            "username": "update-user",
            "password": CREDENTIALS["update-user"],
            "redirectFallbackUrl": app.url("/update-fallback"),
            "fallbackUsername": "update-fallback-user",
            "fallbackPassword": CREDENTIALS["update-fallback-user"],
        }
        answers.append(api.post(call, json=update))
        assert answers[-1].status_code == 200, answers[-1].text
        server.advance(1)

        # A bug meets a request full of secrets: a 500, and a traceback in the log.
        def broken(*args: Any) -> None:
            raise RuntimeError("the engine broke while updating a call")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(server.engine, "update_call", broken)
            answers.append(api.post(call, json=update))
        assert answers[-1].status_code == 500, answers[-1].text

        document = Bxml(
            [
                Redirect(
                    redirect_url=app.url("/bxml-redirect"),
                    username="bxml-user",
                    password=CREDENTIALS["bxml-user"],
                )
            ]
        ).to_bxml()
        answers.append(
            api.put(f"{call}/bxml", content=document, headers={"Content-Type": "application/xml"})
        )
        assert answers[-1].status_code == 204, answers[-1].text
        server.advance(30)

        answers.append(api.get(call))
        assert answers[-1].json()["state"] == "disconnected", answers[-1].text
        answers.append(api.get(calls))
        timeline = api.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline")
    assert timeline.status_code == 200, timeline.text
    run.surfaces["API answers"] = [answer.text for answer in answers]
    run.surfaces["timeline"] = [timeline.text]
    for name, options in (("calls show", []), ("calls show --json", ["--json"])):
        shown = subprocess.run(
            [
                sys.executable,
                "-m",
                "switchboard.cli",
                "calls",
                "show",
                call_id,
                *options,
                "--data-dir",
                str(server.data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0 and call_id in shown.stdout, shown.stderr
        run.surfaces[name] = [shown.stdout, shown.stderr]
    run.received = list(app.received)
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    server = start_virtual_server(tmp_path_factory.mktemp("secrets"), CONFIG + PHONES)
    app = Receiver().start()
    try:
        webhook_app(app)
        with every_logger_at_debug() as logs:  # after uvicorn has configured its loggers
            result = call_with_secrets_everywhere(server, app)
        result.surfaces["logs"] = logs.lines
        return result
    finally:
        app.stop()
        server.stop()


def test_the_secrets_were_in_play(run: Run) -> None:
    """Each guarded URL was called with its own credential, so the checks below mean something."""
    used = {
        base64.b64decode(r.headers["Authorization"].split()[1]).decode().split(":")[0]
        for r in run.received
        if r.headers.get("Authorization", "").startswith("Basic ")
    }
    assert used == set(CREDENTIALS) - NEVER_SENT
    paths = [r.path for r in run.received]
    for path in ("/answer-fallback", "/gather", "/redirect-fallback", "/update", "/disconnect"):
        assert path in paths
    logs = run.surfaces["logs"]
    assert any("the engine broke" in line for line in logs), "the 500 was not logged"
    assert any("switchboard.webhooks" in line for line in logs), "no webhook was logged"
    assert any('"kind":"webhook"' in text for text in run.surfaces["timeline"])


SURFACES = ("API answers", "timeline", "calls show", "calls show --json", "logs")
# A webhook URL is the developer's own text, echoed as given (as Bandwidth does) in the API and
# the timeline; only logs promise to redact the user:password@ in it.
CHECKED = [(surface, group) for surface in SURFACES for group in GROUPS if group != "url"]
CHECKED.append(("logs", "url"))


@pytest.mark.parametrize(
    ("surface", "group"),
    CHECKED,
)
def test_no_secret_shows(run: Run, surface: str, group: str) -> None:
    forbidden = [*GROUPS[group].values(), *(basic(user) for user in GROUPS[group])]
    for text in run.surfaces[surface]:
        for secret in forbidden:
            assert secret not in text, f"{secret!r} appears in the {surface}: {text[:3000]}"


def test_a_logged_call_shows_no_password() -> None:
    """Whatever logs or prints a call or its request (`%r`) shows no password."""
    request = parse_create_call(
        {
            "from": FROM_NUMBER,
            "to": CALLEE,
            "applicationId": APPLICATION_ID,
            "answerUrl": "http://127.0.0.1:9/answer",
            "username": "answer-user",
            "password": CREDENTIALS["answer-user"],
            "fallbackUsername": "fallback-user",
            "fallbackPassword": CREDENTIALS["fallback-user"],
            "machineDetection": {
                "username": "md-user",
                "password": CREDENTIALS["md-user"],
                "fallbackUsername": "md-fallback-user",
                "fallbackPassword": CREDENTIALS["md-fallback-user"],
            },
        }
    )
    call = Call("c-1", ACCOUNT_ID, request, "http://127.0.0.1/c-1", datetime.now(UTC))
    assert request.password == CREDENTIALS["answer-user"]  # kept, for the webhooks
    for shown in (repr(request), repr(call), str(call)):
        assert "answer-user" in shown and "md-user" in shown
        for user in ("answer-user", "fallback-user", "md-user", "md-fallback-user"):
            assert CREDENTIALS[user] not in shown
