"""The web console's server side (issue 14), through a real server on 127.0.0.1:

- `/` serves the console page and `/console/...` its files, with a strict CSP; nothing else of
  the file system is reachable; Bandwidth's paths are untouched.
- the live feed (Server-Sent Events under /switchboard/v1): a call's state changes, verbs and
  webhooks reach a signed-in stream as they happen, with the call's callState and tag;
  another account's stream sees none of it.
- stream tokens: issued only with the account's credentials, good only for that account's
  stream, refused with Bandwidth's error body otherwise.
- the account overview: numbers, applications and limits, and no secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import assert_error, calls_path
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_ACCOUNT_NUMBER,
    OTHER_APPLICATION_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

EVENTS = f"/switchboard/v1/accounts/{ACCOUNT_ID}/events"
GATHER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather gatherUrl="/gather" maxDigits="1">'
    "<SpeakSentence>Press one</SpeakSentence></Gather></Response>"
)
HANGUP = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><SpeakSentence>Bye</SpeakSentence></Response>'
)


@pytest.fixture
def virtual(tmp_path: Path) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def client(virtual: VirtualTimeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=virtual.base_url, auth=(USERNAME, PASSWORD), timeout=10) as c:
        yield c


def sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(event name, parsed data) of each event; comment lines (keep-alives) skipped."""
    name, data = "message", ""
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line == "" and data:
            yield name, json.loads(data)
            name, data = "message", ""


def test_the_page_and_its_files_are_served_at_the_root_with_a_strict_policy(
    client: httpx.Client,
) -> None:
    page = client.get("/", auth=None)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/console/console.js"' in page.text and "Sign in" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/console/console.js", auth=None)
    assert script.status_code == 200 and "EventSource" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/console/console.css", auth=None).status_code == 200
    for path in ("/console/routes.py", "/console/..%2Froutes.py", "/console/nothing.js"):
        assert_error(client.get(path, auth=None), 404, "validation")


def test_a_stream_token_needs_the_accounts_credentials_and_opens_only_its_stream(
    virtual: VirtualTimeServer, client: httpx.Client
) -> None:
    assert_error(client.post(EVENTS + "/tokens", auth=None), 401, "authentication-error")
    assert_error(
        client.post(EVENTS + "/tokens", auth=(OTHER_USERNAME, OTHER_PASSWORD)),
        403,
        "authorization-error",
    )
    issued = client.post(EVENTS + "/tokens")
    assert issued.status_code == 201 and issued.json()["expiresIn"] == 60
    token = issued.json()["token"]
    other = f"/switchboard/v1/accounts/{OTHER_ACCOUNT_ID}/events"
    assert_error(client.get(other, params={"token": token}, auth=None), 401, "authentication-error")
    assert_error(
        client.get(EVENTS, params={"token": "x" + token}, auth=None), 401, "authentication-error"
    )
    assert_error(client.get(EVENTS, auth=None), 401, "authentication-error")
    with client.stream("GET", EVENTS, params={"token": token}, auth=None) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert next(sse_events(response)) == ("ready", {"accountId": ACCOUNT_ID})


def test_a_calls_life_reaches_the_stream_as_it_happens_and_no_other_accounts(
    virtual: VirtualTimeServer, client: httpx.Client, app: Receiver
) -> None:
    app.on("/answer", GATHER)
    app.on("/gather", HANGUP)
    virtual_phone = "+15555550142"
    put = client.put(
        f"/switchboard/v1/phones/{virtual_phone}", json={"outcome": "answer", "digits": "1"}
    )
    assert put.status_code == 200, put.text
    token = client.post(EVENTS + "/tokens").json()["token"]
    other = httpx.Client(
        base_url=virtual.base_url, auth=(OTHER_USERNAME, OTHER_PASSWORD), timeout=10
    )
    with (
        other,
        client.stream("GET", EVENTS, params={"token": token}, auth=None) as mine,
        other.stream("GET", f"/switchboard/v1/accounts/{OTHER_ACCOUNT_ID}/events") as theirs,
    ):
        events = sse_events(mine)
        assert next(events)[0] == "ready"
        their_events = sse_events(theirs)
        assert next(their_events)[0] == "ready"
        created = client.post(
            calls_path(),
            json={
                "from": FROM_NUMBER,
                "to": virtual_phone,
                "applicationId": APPLICATION_ID,
                "answerUrl": app.url("/answer"),
                "tag": "console-test",
            },
        )
        assert created.status_code == 201, created.text
        call_id = created.json()["callId"]
        virtual.advance(30)
        seen: list[dict[str, Any]] = []
        while not any(
            i["entry"] == {**i["entry"], "kind": "state", "state": "disconnected"} for i in seen
        ):
            name, batch = next(events)
            assert name == "calls"
            seen += batch
        assert {item["callId"] for item in seen} == {call_id}
        entries = [item["entry"] for item in seen]
        assert [e["sequence"] for e in entries] == sorted(e["sequence"] for e in entries)
        states = [e["state"] for e in entries if e["kind"] == "state"]
        assert states == ["initiated", "answered", "disconnected"]
        webhooks = [e for e in entries if e["kind"] == "webhook"]
        assert [w["eventType"] for w in webhooks][:2] == ["answer", "gather"]
        assert webhooks[1]["request"]["digits"] == "1" and webhooks[1]["status"] == 200
        spoken = [e["text"] for e in entries if e["kind"] == "verb" and "text" in e]
        assert spoken == ["Press one", "Bye"]
        last = seen[-1]["call"]
        assert last["callId"] == call_id and last["tag"] == "console-test"
        assert last["state"] == "disconnected" and last["direction"] == "outbound"
        # The stream's entries are the timeline API's, one for one.
        timeline = client.get(
            f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline"
        ).json()["timeline"]
        assert [e["sequence"] for e in timeline] == [e["sequence"] for e in entries]
        # Bob's stream got none of it: the first event it sees is about Bob's own call.
        app.on("/bob", HANGUP)
        bobs = other.post(
            calls_path(OTHER_ACCOUNT_ID),
            json={
                "from": OTHER_ACCOUNT_NUMBER,
                "to": virtual_phone,
                "applicationId": OTHER_APPLICATION_ID,
                "answerUrl": app.url("/bob"),
            },
        ).json()["callId"]
        virtual.advance(30)
        name, batch = next(their_events)
        assert name == "calls" and {item["callId"] for item in batch} == {bobs}


def test_the_overview_lists_numbers_applications_and_limits_and_no_secret(
    client: httpx.Client,
) -> None:
    path = f"/switchboard/v1/accounts/{ACCOUNT_ID}/overview"
    assert_error(client.get(path, auth=None), 401, "authentication-error")
    assert_error(
        client.get(path, auth=(OTHER_USERNAME, OTHER_PASSWORD)), 403, "authorization-error"
    )
    overview = client.get(path).json()
    assert overview["accountId"] == ACCOUNT_ID and overview["name"] == "Alice's company"
    assert [n["number"] for n in overview["numbers"]] == [FROM_NUMBER, "+15555551213"]
    assert [a["applicationId"] for a in overview["applications"]] == [APPLICATION_ID]
    assert overview["limits"] == {
        "callsPerSecond": 5.0,
        "concurrentCalls": 100,
        "queueEnabled": True,
        "maxQueueSize": 1500,
    }
    assert overview["simulatedNetwork"] is True
    text = json.dumps(overview)
    assert PASSWORD not in text and "secret" not in text and "hash" not in text
