"""One call cannot grow without bound (issue 23): a BXML loop ends the call, a timeline keeps a
bounded number of entries and pages, the WAL stays bounded, and a full disk refuses new calls.

A real server on 127.0.0.1 on a virtual clock, a real webhook app, a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.receiver import Receiver
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

CALLEE = "+15555550160"
INBOUND_NUMBER = "+15555550177"
LOOP_MAX = 20
TIMELINE_MAX = 60
BOUNDS = f"""
[calls]
loop_max_documents = {LOOP_MAX}
loop_window_seconds = 10.0
timeline_max_entries = {TIMELINE_MAX}

[[simulator.phones]]
number = "{CALLEE}"
answer_after = 1.0

[[accounts]]
id = "9900003"
numbers = ["{INBOUND_NUMBER}"]
  [[accounts.users]]
  username = "carol"
  password = "carol-secret-password"
  [[accounts.applications]]
  id = "3c0e5f4a-0000-4000-8000-000000000003"
  numbers = ["{INBOUND_NUMBER}"]
  # Port 9 (discard): nothing answers, and the disk floor test needs no initiate answered.
  call_initiated_callback_url = "http://127.0.0.1:9/initiate"
"""
CALLS = f"/api/v2/accounts/{ACCOUNT_ID}/calls"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("bounds"), CONFIG + BOUNDS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def app() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def api(server: VirtualTimeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD), timeout=10) as client:
        yield client


def create(api: httpx.Client, app: Receiver, answer_path: str) -> str:
    created = api.post(
        CALLS,
        json={
            "from": FROM_NUMBER,
            "to": CALLEE,
            "applicationId": APPLICATION_ID,
            "answerUrl": app.url(answer_path),
            "disconnectUrl": app.url("/disconnect"),
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["callId"])


def test_a_redirect_to_itself_ends_with_application_error_naming_the_loop(
    server: VirtualTimeServer, api: httpx.Client, app: Receiver
) -> None:
    app.on("/loop", f'<Response><Redirect redirectUrl="{app.url("/loop")}"/></Response>')
    call_id = create(api, app, "/loop")
    server.advance(5)  # unbounded, this never settles: the loop fetches with no time passing

    call = api.get(f"{CALLS}/{call_id}").json()
    assert call["state"] == "disconnected"
    assert call["disconnectCause"] == "application-error"
    assert "BXML loop" in call["errorMessage"] and "Redirect" in call["errorMessage"]
    fetched = len(app.requests("/loop"))
    assert fetched == LOOP_MAX + 1, fetched  # the answer and its redirects, then no more
    (disconnect,) = app.events("disconnect")
    assert disconnect["cause"] == "application-error"
    assert "BXML loop" in disconnect["errorMessage"]


def test_documents_with_a_verb_that_takes_time_between_them_are_no_loop(
    server: VirtualTimeServer, api: httpx.Client, app: Receiver
) -> None:
    app.on(
        "/slow",
        f'<Response><Pause duration="1"/><Redirect redirectUrl="{app.url("/slow")}"/></Response>',
    )
    call_id = create(api, app, "/slow")
    server.advance(3 * LOOP_MAX)  # three times as many documents as the guard allows at once

    assert len(app.requests("/slow")) > 2 * LOOP_MAX
    assert api.get(f"{CALLS}/{call_id}").json()["state"] == "answered"
    assert api.post(f"{CALLS}/{call_id}", json={"state": "completed"}).status_code == 200
    server.advance(1)
    assert api.get(f"{CALLS}/{call_id}").json()["disconnectCause"] == "hangup"


def test_bounds_are_settings(tmp_path: Path) -> None:
    from switchboard.config import ConfigError, load_settings

    path = tmp_path / "switchboard.toml"
    path.write_text(CONFIG + "\n[calls]\nloop_max_documents = 0\n")
    with pytest.raises(ConfigError, match="loop_max_documents"):
        load_settings(path)
    path.write_text(CONFIG + "\n[calls]\nloop_window = 3\n")
    with pytest.raises(ConfigError, match="loop_window"):
        load_settings(path)


def timeline_pages(api: httpx.Client, call_id: str, page_size: int) -> list[list[dict[str, Any]]]:
    url = f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline?pageSize={page_size}"
    pages = []
    while True:
        answer = api.get(url)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json()["timeline"])
        if "next" not in answer.links:
            return pages
        url = answer.links["next"]["url"]


def test_a_long_call_keeps_a_bounded_timeline_that_pages(
    server: VirtualTimeServer, api: httpx.Client, app: Receiver
) -> None:
    app.on(
        "/again",
        f'<Response><Pause duration="1"/><Redirect redirectUrl="{app.url("/again")}"/></Response>',
    )
    call_id = create(api, app, "/again")
    server.advance(2 * TIMELINE_MAX)  # a document a second, each several entries
    assert api.post(f"{CALLS}/{call_id}", json={"state": "completed"}).status_code == 200
    server.advance(1)

    (whole,) = timeline_pages(api, call_id, 1000)
    assert len(whole) == TIMELINE_MAX + 1  # the first 59, the summary, then the end's state
    sequences = [entry["sequence"] for entry in whole]
    assert sequences == sorted(set(sequences))
    (summary,) = [entry for entry in whole if entry["kind"] == "entries-dropped"]
    assert summary["sequence"] == TIMELINE_MAX
    assert summary["dropped"] > TIMELINE_MAX
    assert summary["description"] == f"{summary['dropped']} entries dropped"
    assert whole[-1]["kind"] == "state" and whole[-1]["state"] == "disconnected"

    pages = timeline_pages(api, call_id, 7)
    assert [len(page) for page in pages[:-1]] == [7] * (len(pages) - 1)
    assert [entry for page in pages for entry in page] == whole
    bad = api.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline?pageSize=0")
    assert bad.status_code == 400 and "pageSize" in bad.json()["description"]


def test_new_calls_get_503_saying_why_while_the_disk_is_nearly_full(
    server: VirtualTimeServer, api: httpx.Client, app: Receiver
) -> None:
    app.on("/hold", '<Response><Pause duration="30"/></Response>')
    running = create(api, app, "/hold")
    disk = server.server.config.app.state.context.disk
    real = disk.free_bytes
    disk.free_bytes = lambda: 10 * 1024 * 1024  # 10 MB left, under the default 256 MB
    try:
        server.advance(1)  # the free space is read at most once a second
        refused = api.post(
            CALLS,
            json={
                "from": FROM_NUMBER,
                "to": CALLEE,
                "applicationId": APPLICATION_ID,
                "answerUrl": app.url("/hold"),
            },
        )
        assert refused.status_code == 503
        body = refused.json()
        assert set(body) == {"type", "description", "id"}
        assert "10.0 MB free" in body["description"]
        assert "min_free_disk_bytes" in body["description"]
        # The calls already running go on.
        assert api.get(f"{CALLS}/{running}").json()["state"] == "answered"
    finally:
        disk.free_bytes = real
    server.advance(1)
    create(api, app, "/hold")  # room again: accepted


def test_new_inbound_calls_get_503_saying_why_while_the_disk_is_nearly_full(
    server: VirtualTimeServer, api: httpx.Client
) -> None:
    disk = server.server.config.app.state.context.disk
    real = disk.free_bytes
    disk.free_bytes = lambda: 10 * 1024 * 1024  # 10 MB left, under the default 256 MB
    dial = f"/switchboard/v1/phones/{CALLEE}/calls"
    try:
        server.advance(1)  # the free space is read at most once a second
        refused = api.post(dial, json={"to": INBOUND_NUMBER})
        # The dial API's 503 is the SIP 503 a real caller gets: the same CallRefused.
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert set(body) == {"type", "description", "id"}
        assert "10.0 MB free" in body["description"]
        assert "min_free_disk_bytes" in body["description"]
    finally:
        disk.free_bytes = real
    server.advance(1)
    accepted = api.post(dial, json={"to": INBOUND_NUMBER})  # room again: the call comes in
    assert accepted.status_code == 201, accepted.text
