"""Secrets never appear where they don't belong (issue 23): `answerUrl=http://user:S3cret@host/`
put the password in errorMessage (GET and list), the timeline, `switchboard calls show` and the
disconnect event. A credential is now split off a URL where the URL comes in (createCall,
updateCall, BXML); each URL still authenticates with its own. Generated secrets with `@ : % /`
and non-ASCII letters; a real server on 127.0.0.1, a real webhook app, the real CLI.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import orjson
import pytest

from tests.integration.isolation.test_secrets import every_logger_at_debug
from tests.support.receiver import Received, Receiver
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

CALLEE = "+15555550170"
PHONES = f"""
[[simulator.phones]]
number = "{CALLEE}"
answer_after = 1.0
"""
CALLS = f"/api/v2/accounts/{ACCOUNT_ID}/calls"


def secret(label: str) -> str:
    """A password with every character that trips URL handling, and a random core."""
    return f"{label}-{secrets.token_hex(4)}@:%/ü€-{secrets.token_hex(4)}"


USERS = ["answer-user", "disconnect-user", "redirect-user", "update-user"]
SECRETS = {user: secret(user.split("-")[0]) for user in USERS}
EXCERPT_SECRET = "Zq9x" + secrets.token_hex(12)  # a BXML password cut at the excerpt's end


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def with_credentials(app: Receiver, user: str, path: str) -> str:
    host = app.base_url.removeprefix("http://")
    return f"http://{quote(user, safe='')}:{quote(SECRETS[user], safe='')}@{host}{path}"


@dataclass
class Run:
    surfaces: dict[str, list[str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)


def forms(password: str) -> list[str]:
    """Every way a password could show: itself, percent-encoded, and as JSON writes it."""
    return [
        password,
        quote(password, safe=""),
        orjson.dumps(password).decode().strip('"'),
        password.encode("utf-8").decode("latin-1"),
    ]


def run_calls(server: VirtualTimeServer, app: Receiver) -> Run:
    run = Run()
    # Call 1: the answer URL (with credentials) fails, so the error names it.
    app.on("/answer", (500, "down"))
    # Call 2: answered with BXML whose Redirect carries credentials and whose last attribute,
    # a password, straddles the 500-byte excerpt of the response the timeline keeps.
    redirect = with_credentials(app, "redirect-user", "/next").replace("&", "&amp;")
    head = f'<Response><Redirect redirectUrl="{redirect}"/><SpeakSentence>'
    tail = '</SpeakSentence><Redirect redirectUrl="/never" username="u" password="'
    pad = "x" * (490 - len(head.encode()) - len(tail.encode()))
    app.on("/bxml", f'{head}{pad}{tail}{EXCERPT_SECRET}"/></Response>')
    app.on("/next", '<Response><Pause duration="60"/></Response>')
    app.on("/update", (500, "down"))
    app.on("/disconnect", (200, ""))
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD), timeout=10) as api:
        for answer_path in ("/answer", "/bxml"):
            created = api.post(
                CALLS,
                json={
                    "from": FROM_NUMBER,
                    "to": CALLEE,
                    "applicationId": APPLICATION_ID,
                    "answerUrl": with_credentials(app, "answer-user", answer_path),
                    "disconnectUrl": with_credentials(app, "disconnect-user", "/disconnect"),
                },
            )
            assert created.status_code == 201, created.text
            answers.append(created)
            run.call_ids.append(created.json()["callId"])
        server.advance(5)
        second = f"{CALLS}/{run.call_ids[1]}"
        assert api.get(second).json()["state"] == "answered"
        update = {"redirectUrl": with_credentials(app, "update-user", "/update")}
        answers.append(api.post(second, json=update))
        assert answers[-1].status_code == 200, answers[-1].text
        server.advance(5)
        for call_id in run.call_ids:
            answers.append(api.get(f"{CALLS}/{call_id}"))
            assert answers[-1].json()["state"] == "disconnected", answers[-1].text
            timeline = api.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline")
            run.surfaces.setdefault("timeline", []).append(timeline.text)
        answers.append(api.get(CALLS))
        # A URL with credentials that fails validation: the 400 names it without them.
        bad = with_credentials(app, "answer-user", "/a b")
        answers.append(
            api.post(
                CALLS,
                json={
                    "from": FROM_NUMBER,
                    "to": CALLEE,
                    "applicationId": APPLICATION_ID,
                    "answerUrl": bad,
                },
            )
        )
        assert answers[-1].status_code == 400
    run.surfaces["API answers"] = [answer.text for answer in answers]
    for call_id in run.call_ids:
        for options in ([], ["--json"]):
            shown = subprocess.run(
                [
                    sys.executable,
                    *("-m", "switchboard.cli", "calls", "show", call_id, *options),
                    *("--data-dir", str(server.data_dir)),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert shown.returncode == 0 and call_id in shown.stdout, shown.stderr
            run.surfaces.setdefault("calls show", []).extend([shown.stdout, shown.stderr])
    run.received = list(app.received)
    run.surfaces["webhook bodies"] = [orjson.dumps(r.event).decode() for r in run.received]
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    server = start_virtual_server(tmp_path_factory.mktemp("url-secrets"), CONFIG + PHONES)
    app = Receiver().start()
    try:
        with every_logger_at_debug() as logs:
            result = run_calls(server, app)
        result.surfaces["logs"] = logs.lines
        yield result
    finally:
        app.stop()
        server.stop()


def test_each_url_still_authenticates_with_its_own_credentials(run: Run) -> None:
    sent = {(r.path, r.headers.get("Authorization")) for r in run.received}
    for user, path in (
        ("answer-user", "/answer"),
        ("answer-user", "/bxml"),
        ("redirect-user", "/next"),
        ("update-user", "/update"),
        ("disconnect-user", "/disconnect"),
    ):
        assert (path, basic(user, SECRETS[user])) in sent, (path, sent)
    # The answer's credentials never went to the disconnect URL, nor the other way round.
    assert {auth for path, auth in sent if path == "/disconnect"} == {
        basic("disconnect-user", SECRETS["disconnect-user"])
    }


def test_the_errors_name_the_url_without_its_credentials(run: Run) -> None:
    first = orjson.loads(run.surfaces["API answers"][-4])  # GET of the first call
    assert first["disconnectCause"] == "callback-error"
    assert "/answer" in first["errorMessage"] and "answer-user" not in first["errorMessage"]
    created = orjson.loads(run.surfaces["API answers"][0])  # the 201 echoes the request
    assert created["answerUrl"].startswith("http://127.0.0.1:")
    assert created["answerUrl"].endswith("/answer")
    disconnects = [r.event for r in run.received if r.path == "/disconnect"]
    assert len(disconnects) == 2
    assert any("/update" in (event.get("errorMessage") or "") for event in disconnects)


@pytest.mark.parametrize("user", USERS)
def test_no_password_appears_anywhere(run: Run, user: str) -> None:
    for surface, texts in run.surfaces.items():
        for text in texts:
            for form in forms(SECRETS[user]):
                assert form not in text, f"{user}'s password in {surface}"


def test_a_password_cut_at_the_excerpt_boundary_shows_none_of_it(run: Run) -> None:
    bodies = [text for text in run.surfaces["timeline"] if "responseBody" in text]
    assert bodies and any("*****" in text for text in bodies)
    for surface, texts in run.surfaces.items():
        for text in texts:
            assert EXCERPT_SECRET[:4] not in text, surface


def test_production_refuses_credentials_in_an_http_url(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.integration.api.test_profiles import with_server_settings

    server = start_virtual_server(
        tmp_path_factory.mktemp("production"), with_server_settings('profile = "production"')
    )
    try:
        with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD)) as api:
            body = {
                "from": FROM_NUMBER,
                "to": CALLEE,
                "applicationId": APPLICATION_ID,
                "answerUrl": f"http://me:{quote(SECRETS['answer-user'], safe='')}@app.example/a",
            }
            refused = api.post(CALLS, json=body)
            assert refused.status_code == 400
            assert "answerUrl: must use https" in refused.json()["description"]
            assert "me:" not in refused.text
    finally:
        server.stop()
