"""The recordings API through the official SDK's RecordingsApi (issue 13).

The engine does not record yet (the lead's part), so each test stores recordings the way the
engine will: rows through the running server's store, media through its storage, on the
server's own event loop. The clock is virtual and never moved (its wall clock reads
2026-01-01T00:00:00Z), so nothing else writes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.api.recordings_api import RecordingsApi
from bandwidth.exceptions import (
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from bandwidth.models.create_call import CreateCall
from bandwidth.models.recording_state_enum import RecordingStateEnum
from bandwidth.models.update_call_recording import UpdateCallRecording

from switchboard.api.context import ApiContext
from switchboard.recordings.model import Recording
from tests.e2e.control import header, sdk_error
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4  # not audio: bytes to compare
MP3 = b"ID3\x04\x00" + bytes(reversed(range(256))) * 3
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("recordings"))
    yield running
    running.stop()


def context_of(server: VirtualTimeServer) -> ApiContext:
    context: ApiContext = server.server.config.app.state.context
    return context


def store_recording(
    server: VirtualTimeServer,
    *,
    account_id: str = ACCOUNT_ID,
    call_id: str | None = None,
    media: bytes | None = WAV,
    **fields: Any,
) -> Recording:
    """A finished recording stored as the engine stores one: media first, then the row."""
    number = next(_numbers)
    recording = Recording(
        recording_id=f"r-{number:08x}-1111-4000-8000-000000000000",
        account_id=account_id,
        call_id=call_id or f"c-{number:08x}-00000000-0000-4000-8000-000000000000",
        application_id=APPLICATION_ID,
        from_=FROM_NUMBER,
        to="+15555550200",
        direction="outbound",
        file_format="wav",
        channels=1,
        start_time="2025-12-31T10:00:00.000Z",
        end_time="2025-12-31T10:00:13.670Z",
        duration="PT13.67S",
        status="complete",
    ).evolve(**fields)
    context = context_of(server)
    assert context.recordings is not None and context.media is not None
    media_storage = context.media
    if media is not None:
        key = f"{recording.recording_id}.{recording.file_format}"
        size = server.run(asyncio.to_thread(media_storage.write, key, media))
        recording = recording.evolve(media_key=key, media_bytes=size)
    server.run(context.recordings.save_recording(recording))
    return recording


def conflict(operation: Callable[[], Any]) -> str:
    """`operation` is refused with 409 and Bandwidth's body ("id": "" as its 409 examples); the
    description. (The SDK declares no 409 for these operations, so it parses no VoiceApiError.)"""
    with pytest.raises(ConflictException) as raised:
        operation()
    assert raised.value.status == 409
    body = orjson.loads(raised.value.body)
    assert body["type"] == "validation" and body["id"] == "", body
    assert set(body) == {"type", "description", "id"}
    return str(body["description"])


def media_file(server: VirtualTimeServer, recording: Recording) -> Path:
    assert recording.media_key is not None
    return server.data_dir / "recordings" / recording.media_key


@pytest.fixture
def alice(server: VirtualTimeServer) -> Iterator[RecordingsApi]:
    with ApiClient(configuration(server, USERNAME, PASSWORD)) as client:
        yield RecordingsApi(client)


@pytest.fixture
def bob(server: VirtualTimeServer) -> Iterator[RecordingsApi]:
    with ApiClient(configuration(server, OTHER_USERNAME, OTHER_PASSWORD)) as client:
        yield RecordingsApi(client)


def configuration(server: VirtualTimeServer, username: str, password: str) -> Configuration:
    return Configuration(
        username=username, password=password, host=server.api_url, ignore_operation_servers=True
    )


def media_url(server: VirtualTimeServer, recording: Recording) -> str:
    return (
        f"{server.base_url}/api/v2/accounts/{recording.account_id}/calls/{recording.call_id}"
        f"/recordings/{recording.recording_id}/media"
    )


# -- listing ------------------------------------------------------------------------------------
def test_an_accounts_recordings_are_listed_oldest_first_with_their_metadata(
    server: VirtualTimeServer, alice: RecordingsApi, bob: RecordingsApi
) -> None:
    # A day of its own: the other tests add recordings on other days.
    first = store_recording(server, start_time="2025-12-30T09:00:00.000Z")
    second = store_recording(
        server,
        call_id=first.call_id,
        start_time="2025-12-30T09:01:00.000Z",
        end_time="2025-12-30T09:02:00.000Z",
        file_format="mp3",
        media=MP3,
        channels=2,
        recording_name="voicemail",
    )
    theirs = store_recording(server, account_id=OTHER_ACCOUNT_ID)

    listed = alice.list_account_call_recordings(
        ACCOUNT_ID, min_start_time="2025-12-30T00:00:00Z", max_start_time="2025-12-30T23:59:59Z"
    )
    assert [r.recording_id for r in listed] == [first.recording_id, second.recording_id]
    got = listed[1]
    assert got.account_id == ACCOUNT_ID and got.call_id == first.call_id
    assert got.application_id == APPLICATION_ID
    assert (got.to, got.var_from, got.direction) == ("+15555550200", FROM_NUMBER, "outbound")
    assert got.start_time == datetime(2025, 12, 30, 9, 1, tzinfo=UTC)
    assert got.end_time == datetime(2025, 12, 30, 9, 2, tzinfo=UTC)
    assert (got.duration, got.channels, got.file_format, got.status) == (
        "PT13.67S",
        2,
        "mp3",
        "complete",
    )
    assert got.recording_name == "voicemail"
    assert got.media_url == media_url(server, second)
    # Never another account's.
    everything = alice.list_account_call_recordings(ACCOUNT_ID)
    assert theirs.recording_id not in {r.recording_id for r in everything}
    assert [r.recording_id for r in bob.list_account_call_recordings(OTHER_ACCOUNT_ID)] == [
        theirs.recording_id
    ]


def test_account_listing_filters(server: VirtualTimeServer, alice: RecordingsApi) -> None:
    day = "2025-12-29T"
    early = store_recording(server, start_time=day + "08:00:00.000Z", to="+15555550301")
    middle = store_recording(server, start_time=day + "09:00:00.000Z", from_="+15555550302")
    late = store_recording(server, start_time=day + "10:00:00.000Z")

    def ids(**query: Any) -> list[str]:
        listed = alice.list_account_call_recordings(
            ACCOUNT_ID,
            min_start_time=query.pop("min_start_time", day + "00:00:00Z"),
            max_start_time=query.pop("max_start_time", day + "23:59:59Z"),
            **query,
        )
        return [r.recording_id for r in listed]

    assert ids() == [early.recording_id, middle.recording_id, late.recording_id]
    assert ids(to="+15555550301") == [early.recording_id]
    assert ids(var_from="+15555550302") == [middle.recording_id]
    assert ids(min_start_time=day + "09:00:00Z") == [middle.recording_id, late.recording_id]
    # A time with an offset means the same instant as in UTC; maxStartTime includes it, as
    # listCalls' does.
    assert ids(max_start_time="2025-12-29T10:00:00+01:00") == [
        early.recording_id,
        middle.recording_id,
    ]
    sdk_error(
        lambda: alice.list_account_call_recordings(ACCOUNT_ID, min_start_time="yesterday"),
        BadRequestException,
        400,
        "validation",
        "Invalid minStartTime: must be an ISO 8601 time like 2022-06-21T19:13:21Z, got 'yesterday'",
    )


def test_a_recording_past_the_30_day_retention_is_gone(
    server: VirtualTimeServer, alice: RecordingsApi
) -> None:
    # The server's clock reads 2026-01-01T00:00:00Z: this one ended 31 days before.
    old = store_recording(
        server, start_time="2025-12-01T00:00:00.000Z", end_time="2025-12-01T00:01:00.000Z"
    )
    listed = alice.list_account_call_recordings(ACCOUNT_ID)
    assert old.recording_id not in {r.recording_id for r in listed}
    sdk_error(
        lambda: alice.get_call_recording(ACCOUNT_ID, old.call_id, old.recording_id),
        NotFoundException,
        404,
        "validation",
    )


def test_a_calls_recordings(
    server: VirtualTimeServer, alice: RecordingsApi, bob: RecordingsApi
) -> None:
    first = store_recording(server)
    second = store_recording(server, call_id=first.call_id, start_time="2025-12-31T10:05:00.000Z")
    store_recording(server)  # another call's
    listed = alice.list_call_recordings(ACCOUNT_ID, first.call_id)
    assert [r.recording_id for r in listed] == [first.recording_id, second.recording_id]

    # A call of the account that recorded nothing lists nothing.
    with ApiClient(configuration(server, USERNAME, PASSWORD)) as client:
        call = CallsApi(client).create_call(
            ACCOUNT_ID,
            CreateCall(
                to="+15555551313",
                var_from=FROM_NUMBER,
                application_id=APPLICATION_ID,
                answer_url="http://127.0.0.1:9/answer",  # never asked: the clock stays still
            ),
        )
    assert alice.list_call_recordings(ACCOUNT_ID, call.call_id) == []
    # An unknown call, and another account's (with recordings), read the same: 404.
    for call_id in ("c-00000000-unknown", first.call_id):
        account, api = (
            (ACCOUNT_ID, alice) if call_id.endswith("unknown") else (OTHER_ACCOUNT_ID, bob)
        )
        sdk_error(
            lambda api=api, account=account, call_id=call_id: api.list_call_recordings(
                account, call_id
            ),
            NotFoundException,
            404,
            "validation",
            f"Call [{call_id}] not found",
        )


# -- one recording ------------------------------------------------------------------------------
def test_get_one_recording(server: VirtualTimeServer, alice: RecordingsApi) -> None:
    recording = store_recording(server, parent_call_id="c-parent", transfer_to="+15555550777")
    got = alice.get_call_recording(ACCOUNT_ID, recording.call_id, recording.recording_id)
    assert got.recording_id == recording.recording_id
    assert (got.parent_call_id, got.transfer_to) == ("c-parent", "+15555550777")
    assert got.media_url == media_url(server, recording)
    # Under another call's path it does not exist.
    other = store_recording(server)
    sdk_error(
        lambda: alice.get_call_recording(ACCOUNT_ID, other.call_id, recording.recording_id),
        NotFoundException,
        404,
        "validation",
        f"Recording [{recording.recording_id}] not found",
    )


def test_media_url_follows_public_url_logic_host_header(
    server: VirtualTimeServer,
) -> None:
    recording = store_recording(server)
    with httpx.Client(auth=(USERNAME, PASSWORD), timeout=10) as client:
        response = client.get(
            f"{server.api_url}/accounts/{ACCOUNT_ID}/calls/{recording.call_id}"
            f"/recordings/{recording.recording_id}",
            headers={"Host": "voice.example.test:8443"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["mediaUrl"] == (
        f"http://voice.example.test:8443/api/v2/accounts/{ACCOUNT_ID}/calls/"
        f"{recording.call_id}/recordings/{recording.recording_id}/media"
    )


@pytest.mark.parametrize(
    ("file_format", "data", "content_type"),
    [("wav", WAV, "audio/vnd.wave"), ("mp3", MP3, "audio/mpeg")],
)
def test_download_gives_the_exact_bytes_with_the_sdks_default_accept(
    server: VirtualTimeServer,
    alice: RecordingsApi,
    file_format: str,
    data: bytes,
    content_type: str,
) -> None:
    recording = store_recording(server, file_format=file_format, media=data)
    # The SDK asks for JSON first (issue 24): the audio comes anyway.
    assert (
        alice.api_client.select_header_accept(["audio/vnd.wave", "audio/mpeg", "application/json"])
        == "application/json"
    )
    response = alice.download_call_recording_with_http_info(
        ACCOUNT_ID, recording.call_id, recording.recording_id
    )
    assert response.status_code == 200
    assert bytes(response.data) == data
    assert header(response.headers, "Content-Type") == content_type
    assert header(response.headers, "Content-Length") == str(len(data))


def test_delete_media_keeps_the_recording_as_deleted(
    server: VirtualTimeServer, alice: RecordingsApi
) -> None:
    recording = store_recording(server)
    path = media_file(server, recording)
    assert path.read_bytes() == WAV
    response = alice.delete_recording_media_with_http_info(
        ACCOUNT_ID, recording.call_id, recording.recording_id
    )
    assert response.status_code == 204
    assert not path.exists()
    got = alice.get_call_recording(ACCOUNT_ID, recording.call_id, recording.recording_id)
    assert (got.status, got.media_url) == ("deleted", None)
    sdk_error(
        lambda: alice.download_call_recording(
            ACCOUNT_ID, recording.call_id, recording.recording_id
        ),
        NotFoundException,
        404,
        "validation",
        f"Recording [{recording.recording_id}] has no media",
    )
    # Again: nothing left to delete, still 204.
    alice.delete_recording_media(ACCOUNT_ID, recording.call_id, recording.recording_id)


def test_delete_recording_removes_row_and_media(
    server: VirtualTimeServer, alice: RecordingsApi
) -> None:
    recording = store_recording(server)
    path = media_file(server, recording)
    response = alice.delete_recording_with_http_info(
        ACCOUNT_ID, recording.call_id, recording.recording_id
    )
    assert response.status_code == 204
    assert not path.exists()
    for attempt in (
        lambda: alice.get_call_recording(ACCOUNT_ID, recording.call_id, recording.recording_id),
        lambda: alice.delete_recording(ACCOUNT_ID, recording.call_id, recording.recording_id),
        lambda: alice.download_call_recording(
            ACCOUNT_ID, recording.call_id, recording.recording_id
        ),
    ):
        sdk_error(attempt, NotFoundException, 404, "validation")
    listed = alice.list_account_call_recordings(ACCOUNT_ID)
    assert recording.recording_id not in {r.recording_id for r in listed}


def test_a_recording_in_progress_cannot_be_deleted(
    server: VirtualTimeServer, alice: RecordingsApi
) -> None:
    live = store_recording(server, status="processing", end_time=None, duration=None, media=None)
    got = alice.get_call_recording(ACCOUNT_ID, live.call_id, live.recording_id)
    assert (got.status, got.media_url, got.end_time) == ("processing", None, None)
    for attempt in (alice.delete_recording, alice.delete_recording_media):
        assert conflict(
            lambda attempt=attempt: attempt(ACCOUNT_ID, live.call_id, live.recording_id)
        ) == (f"Recording [{live.recording_id}] is still in progress; stop it first")
    assert alice.get_call_recording(ACCOUNT_ID, live.call_id, live.recording_id).status == (
        "processing"
    )


# -- isolation ----------------------------------------------------------------------------------
def test_another_account_never_reads_or_deletes_a_recording(
    server: VirtualTimeServer, alice: RecordingsApi, bob: RecordingsApi
) -> None:
    recording = store_recording(server)
    ids = (recording.call_id, recording.recording_id)
    operations = (
        bob.get_call_recording,
        bob.download_call_recording,
        bob.delete_recording_media,
        bob.delete_recording,
    )
    for operation in operations:
        # Under Alice's account: Bob's credentials are not valid there.
        sdk_error(
            lambda operation=operation: operation(ACCOUNT_ID, *ids),
            ForbiddenException,
            403,
            "authorization-error",
            f"Access is denied: these credentials are not valid for account {ACCOUNT_ID}",
        )
        # Under his own: it does not exist.
        sdk_error(
            lambda operation=operation: operation(OTHER_ACCOUNT_ID, *ids),
            NotFoundException,
            404,
            "validation",
            f"Recording [{recording.recording_id}] not found",
        )
    sdk_error(
        lambda: bob.list_account_call_recordings(ACCOUNT_ID),
        ForbiddenException,
        403,
        "authorization-error",
    )
    assert recording.recording_id not in {
        r.recording_id for r in bob.list_account_call_recordings(OTHER_ACCOUNT_ID)
    }
    # All of it still there for Alice.
    assert bytes(alice.download_call_recording(ACCOUNT_ID, *ids)) == WAV
    assert alice.get_call_recording(ACCOUNT_ID, *ids).status == "complete"


def test_bad_credentials_are_401_on_every_recordings_path(server: VirtualTimeServer) -> None:
    recording = store_recording(server)
    ids = (recording.call_id, recording.recording_id)
    with ApiClient(configuration(server, USERNAME, "wrong-password")) as client:
        api = RecordingsApi(client)
        for operation in (
            lambda: api.list_account_call_recordings(ACCOUNT_ID),
            lambda: api.list_call_recordings(ACCOUNT_ID, recording.call_id),
            lambda: api.get_call_recording(ACCOUNT_ID, *ids),
            lambda: api.download_call_recording(ACCOUNT_ID, *ids),
            lambda: api.delete_recording_media(ACCOUNT_ID, *ids),
            lambda: api.delete_recording(ACCOUNT_ID, *ids),
            lambda: api.update_call_recording_state(
                ACCOUNT_ID,
                recording.call_id,
                UpdateCallRecording(state=RecordingStateEnum.PAUSED),
            ),
        ):
            error = sdk_error(operation, UnauthorizedException, 401, "authentication-error")
            assert header(error.headers, "WWW-Authenticate") is not None
    assert media_file(server, recording).read_bytes() == WAV


# -- PUT .../recording ----------------------------------------------------------------------------
def test_update_recording_state(
    server: VirtualTimeServer, alice: RecordingsApi, bob: RecordingsApi
) -> None:
    with ApiClient(configuration(server, USERNAME, PASSWORD)) as client:
        call = CallsApi(client).create_call(
            ACCOUNT_ID,
            CreateCall(
                to="+15555551313",
                var_from=FROM_NUMBER,
                application_id=APPLICATION_ID,
                answer_url="http://127.0.0.1:9/answer",
            ),
        )
    paused = UpdateCallRecording(state=RecordingStateEnum.PAUSED)
    # The call records nothing: refused as Bandwidth refuses it (the engine's answer).
    assert (
        conflict(lambda: alice.update_call_recording_state(ACCOUNT_ID, call.call_id, paused))
        == f"Call [{call.call_id}] has no active recording"
    )
    sdk_error(
        lambda: bob.update_call_recording_state(OTHER_ACCOUNT_ID, call.call_id, paused),
        NotFoundException,
        404,
        "validation",
        f"Call [{call.call_id}] not found",
    )
    sdk_error(
        lambda: bob.update_call_recording_state(ACCOUNT_ID, call.call_id, paused),
        ForbiddenException,
        403,
        "authorization-error",
    )
    # The SDK only sends the enum's values; any other body is a 400 naming them.
    url = f"{server.api_url}/accounts/{ACCOUNT_ID}/calls/{call.call_id}/recording"
    with httpx.Client(auth=(USERNAME, PASSWORD), timeout=10) as client:
        for body, shown in ((b'{"state": "stopped"}', "'stopped'"), (b"{}", "nothing")):
            response = client.put(url, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, response.text
            assert orjson.loads(response.content) == {
                "type": "validation",
                "description": f"Invalid state: must be one of paused, recording, got {shown}",
                "id": None,
            }


# -- restart ------------------------------------------------------------------------------------
def test_a_restart_marks_interrupted_recordings_error_and_sweeps_torn_files(
    tmp_path: Path,
) -> None:
    first = start_virtual_server(tmp_path)
    try:
        interrupted = store_recording(
            first, status="processing", end_time=None, duration=None, media=None
        )
        complete = store_recording(first)
    finally:
        first.stop()
    # What a SIGKILL in the middle of writing a file leaves (storage.py's temporary name).
    torn = first.data_dir / "recordings" / ".partial-k2j3h4"
    torn.write_bytes(b"RIFF torn")

    second = start_virtual_server(tmp_path)
    try:
        with ApiClient(configuration(second, USERNAME, PASSWORD)) as client:
            api = RecordingsApi(client)
            got = api.get_call_recording(ACCOUNT_ID, interrupted.call_id, interrupted.recording_id)
            assert (got.status, got.media_url) == ("error", None)
            assert (
                bytes(
                    api.download_call_recording(ACCOUNT_ID, complete.call_id, complete.recording_id)
                )
                == WAV
            )
        assert not torn.exists()
        assert sorted(path.name for path in (second.data_dir / "recordings").iterdir()) == [
            complete.media_key
        ]
    finally:
        second.stop()
