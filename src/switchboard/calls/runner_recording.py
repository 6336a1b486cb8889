"""The runner's recordings: <Record>, <StartRecording> and the verbs that pause, resume and
stop it, their saving, transcription, and the recordingAvailable / transcriptionAvailable
callbacks.

Separate from calls/runner.py because recording is a role of its own: it listens to the call
through a Tap (DESIGN.md, "Calls with many legs") and owes its own events, and it touches the
rest of the runner only through the few attributes and methods RecordingRole declares below.
CallRunner inherits it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchboard.bxml import actions as act
from switchboard.bxml import events as bxml_events
from switchboard.bxml.interpreter import Interpreter
from switchboard.bxml.verbs import Record
from switchboard.calls import state
from switchboard.calls.model import DISCONNECTED, Call
from switchboard.calls.runner_messages import (
    EngineServices,
    RunnerEvent,
    SilenceCheck,
    VoiceHeard,
    _id,
)
from switchboard.clock import Clock, TimerHandle
from switchboard.network import base as net
from switchboard.recordings import active as rec
from switchboard.recordings import transcription
from switchboard.recordings.model import Recording
from switchboard.recordings.recorder import RecordedAudio, Recorder
from switchboard.speech.stt import Transcriber
from switchboard.speech.worker import ProcessTranscriber


class RecordingRole:
    """A call's recordings: the <Record> verb's and the call's (<StartRecording>), one of each."""

    # The runner's, set by CallRunner.__init__: what this role reads and changes.
    call: Call
    services: EngineServices
    interpreter: Interpreter | None
    record: rec.ActiveRecording | None
    call_recording: rec.ActiveRecording | None
    _silence_timer: TimerHandle | None

    if TYPE_CHECKING:
        # The runner's own methods this role calls (CallRunner defines them).
        @property
        def clock(self) -> Clock: ...

        def post(self, event: RunnerEvent) -> None: ...

        def note(self, kind: str, **data: Any) -> None: ...

        async def _end(self, end: state.End) -> None: ...

        async def _interpret(self, event: bxml_events.Event) -> None: ...

        async def _flush_timeline(self) -> None: ...

        async def _send_callback(self, action: act.SendCallback) -> None: ...

    # -- recordings: <Record>, <StartRecording> and friends ------------------------------------
    async def _start_recording(self, verb: rec.RecordingVerb) -> None:
        backend = self.services.recordings
        if backend is None:
            await self._end(
                state.End("application-error", "This server keeps no recordings", _id())
            )
            return
        recording = rec.new_recording(self.call, verb, self.clock.wall())
        multichannel = recording.channels == 2
        active = rec.ActiveRecording(
            verb, recording, Recorder(self.clock.monotonic(), multichannel=multichannel)
        )
        active.last_voice_end = self.clock.monotonic()
        try:
            active.tap = self.services.network.open_tap(
                self.call.call_id, active.sink(lambda voice: self.post(VoiceHeard(voice)))
            )
        except net.TapsUnsupported as error:
            await self._end(
                state.End("application-error", f"Verb <{type(verb).__name__}>: {error}", _id())
            )
            return
        await backend[0].save_recording(recording)  # `processing` until its file is whole
        if isinstance(verb, Record):
            self.record = active
            if verb.silence_timeout > 0:
                self._silence_timer = self.clock.call_later(
                    verb.silence_timeout, lambda: self.post(SilenceCheck())
                )
        else:
            self.call_recording = active
        self.note(
            "recording",
            event="started",
            recordingId=recording.recording_id,
            verb=type(verb).__name__,
        )

    async def _check_silence(self) -> None:
        """<Record silenceTimeout>: ended when nobody spoke for that long (record.mdx)."""
        self._silence_timer = None
        record = self.record
        if record is None or not isinstance(record.verb, Record):
            return
        due = record.last_voice_end + record.verb.silence_timeout
        now = self.clock.monotonic()
        if now + 1e-9 >= due:
            await self._interpret(bxml_events.RecordSilence())
        else:
            self._silence_timer = self.clock.call_later(
                due - now, lambda: self.post(SilenceCheck())
            )

    async def _stop_record(self, reason: str) -> None:
        record = self.record
        self.record = None
        if self._silence_timer is not None:
            self._silence_timer.cancel()
            self._silence_timer = None
        if record is None:
            return
        saved = await self._save_recording(record)
        if reason != "interrupted" and saved is not None:
            await self._interpret(bxml_events.RecordFinished(rec.event_fields(saved)))

    def _pause_or_resume(self, pause: bool, *, by: str) -> None:
        recording = self.call_recording
        if recording is None:
            return  # pauseRecording.mdx: "it has no effect"
        now = self.clock.monotonic()
        changed = recording.recorder.pause(now) if pause else recording.recorder.resume(now)
        if changed:
            self.note("recording", event="paused" if pause else "resumed", by=by)

    async def _save_recording(self, active: rec.ActiveRecording) -> Recording | None:
        backend = self.services.recordings
        if backend is None:
            return None
        ended_at = self.clock.monotonic()
        saved, audio = await rec.save(active, self.clock.wall(), ended_at, backend[0], backend[1])
        self.note(
            "recording",
            event="saved",
            recordingId=saved.recording_id,
            status=saved.status,
            duration=saved.duration,
        )
        await self._recording_available(active.verb, saved)
        if active.verb.transcribe and saved.status == "complete":
            # In the background: the speech engine takes about 0.3 CPU s per second of audio,
            # and the call does not wait for it (recordComplete, the next verbs, a hangup), as
            # on Bandwidth, where transcriptionAvailable comes when the text is ready.
            self.services.activity.spawn(self._transcribe(active, saved, audio, ended_at))
        if self.call.state == DISCONNECTED:
            await self._flush_timeline()  # saved after the end: nobody else will write it
        return saved

    async def _transcribe(
        self, active: rec.ActiveRecording, saved: Recording, audio: RecordedAudio, ended_at: float
    ) -> None:
        backend = self.services.recordings
        assert backend is not None  # (it saved the recording)
        known = None
        if self.services.network.knows_speech:
            known = transcription.known_transcripts(
                active.voices, active.recorder.started_at, ended_at, audio.channels
            )
        transcribed = await transcription.transcribe(
            saved,
            audio,
            known,
            None if known is not None else speech_engine(),
            backend[0],
            backend[1],
            self.clock.wall(),
        )
        assert transcribed.transcription is not None
        self.note(
            "recording",
            event="transcribed",
            recordingId=saved.recording_id,
            status=transcribed.transcription.status,
        )
        await self._transcription_available(active.verb, transcribed)
        if self.call.state == DISCONNECTED:
            await self._flush_timeline()  # transcribed after the end: nobody else will write it

    async def _transcription_available(self, verb: rec.RecordingVerb, done: Recording) -> None:
        if verb.transcription_available_url is None or done.transcription is None:
            return
        fields: dict[str, object] = {
            **rec.event_fields(done),
            "transcription": done.transcription.to_json(),
        }
        fields.pop("channels", None)  # transcriptionAvailable.mdx lists no channels
        await self._recording_event(
            "transcriptionAvailable",
            verb.transcription_available_url,
            verb.transcription_available_method,
            verb,
            fields,
        )

    async def _recording_available(self, verb: rec.RecordingVerb, saved: Recording) -> None:
        if verb.recording_available_url is None:
            return
        await self._recording_event(
            "recordingAvailable",
            verb.recording_available_url,
            verb.recording_available_method,
            verb,
            {**rec.event_fields(saved), "status": saved.status},
        )

    async def _recording_event(
        self,
        event_type: str,
        url: str,
        method: str,
        verb: rec.RecordingVerb,
        fields: dict[str, object],
    ) -> None:
        """recordingAvailable / transcriptionAvailable: asynchronous, no BXML, with the
        verb's credentials and the call's tag."""
        if self.interpreter is not None:
            fields = self.interpreter.fields(**fields)
        await self._send_callback(
            act.SendCallback(
                event_type=event_type,
                url=url,
                method=method,
                fallback_url=None,
                fallback_method="POST",
                username=verb.username,
                password=verb.password,
                fallback_username=None,
                fallback_password=None,
                fields=fields,
                expects_bxml=False,
            )
        )

    def _finish_recordings_at_end(self) -> None:
        """The call ends: what was recorded is saved (recordingAvailable is sent; recordComplete
        is not, record.mdx: "not sent if the recording ended due to the call hanging up")."""
        for active in (self.record, self.call_recording):
            if active is not None:
                self.services.activity.spawn(self._save_recording(active))
        self.record = None
        self.call_recording = None


_speech_engines: list[Transcriber] = []


def speech_engine() -> Transcriber:
    """The speech engine, made once and only when first needed: PocketSphinx in a process of
    its own (speech/worker.py: it holds the GIL while it decodes), its model loaded there."""
    if not _speech_engines:
        _speech_engines.append(ProcessTranscriber())
    return _speech_engines[0]
