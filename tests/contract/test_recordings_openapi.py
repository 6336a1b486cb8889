"""Contract and fuzz test of the recordings operations (issue 13), as test_bandwidth_openapi.py
does for the calls': schemathesis sends Bandwidth's spec's examples, valid and invalid, to a
real server; every answer must be no 5xx, conform to the spec, and every error be Bandwidth's
{"type", "description", "id"}.

The path's callId and recordingId are those of a real recording (stored through the server's
store and storage, as the engine stores one) of a call still ringing: otherwise every case would
only ever see 404. A case that deletes it gets a new one for the next case.
updateCallRecordingState is left out: with no recording running (the clock never moves), its
answer is 409, which the spec does not list for it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
import schemathesis

from switchboard.api.context import ApiContext
from switchboard.recordings.model import Recording
from tests.contract.test_bandwidth_openapi import (
    CHECKS,
    CONFIG,
    EXAMPLES,
    SPEC,
    Target,
    assert_bandwidth_error,
)
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    PASSWORD,
    USERNAME,
    start_virtual_server,
)

OPERATIONS = [
    "listAccountCallRecordings",
    "listCallRecordings",
    "getCallRecording",
    "downloadCallRecording",
    "deleteRecordingMedia",
    "deleteRecording",
]
schema = schemathesis.openapi.from_path(SPEC).include(operation_id=OPERATIONS)
schema.config.update(parameters={"accountId": ACCOUNT_ID}, basic_auth=(USERNAME, PASSWORD))
schema.config.generation.update(max_examples=EXAMPLES, deterministic=True, database="none")
_numbers = itertools.count(1)


class RecordingTarget(Target):
    def recording(self) -> tuple[str, str]:
        """(callId, recordingId) of a recording with its media, of a call ringing now."""
        call_id = self.ringing_call()
        context: ApiContext = self.server.server.config.app.state.context
        assert context.recordings is not None and context.media is not None
        current = self.server.run(context.recordings.list_recordings(ACCOUNT_ID, call_id=call_id))
        live = [r for r in current if r.status == "complete"]
        if live:
            return call_id, live[-1].recording_id
        number = next(_numbers)
        recording = Recording(
            recording_id=f"r-{number:08x}-2222-4000-8000-000000000000",
            account_id=ACCOUNT_ID,
            call_id=call_id,
            application_id=APPLICATION_ID,
            from_="+15555551212",
            to="+15555550100",
            direction="outbound",
            file_format="wav",
            channels=1,
            start_time="2025-12-31T10:00:00.000Z",
            end_time="2025-12-31T10:00:01.000Z",
            duration="PT1S",
            status="complete",
            media_key=f"r-{number:08x}-2222-4000-8000-000000000000.wav",
            media_bytes=4,
        )
        media = context.media
        assert recording.media_key is not None
        self.server.run(asyncio.to_thread(media.write, recording.media_key, b"RIFF"))
        self.server.run(context.recordings.save_recording(recording))
        return call_id, recording.recording_id


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingTarget]:
    server = start_virtual_server(tmp_path_factory.mktemp("contract-recordings"), CONFIG)
    target = RecordingTarget(server)
    yield target
    target.client.close()
    try:
        assert server.clock.monotonic() == 0.0, "the virtual clock must never move"
    finally:
        server.stop()


@schema.parametrize()
def test_recordings_spec(case: schemathesis.Case, target: RecordingTarget) -> None:
    if "callId" in case.path_parameters:
        call_id, recording_id = target.recording()
        case.path_parameters["callId"] = call_id
        if "recordingId" in case.path_parameters:
            case.path_parameters["recordingId"] = recording_id
    response = case.call(base_url=target.server.api_url)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        assert_bandwidth_error(response.content)
