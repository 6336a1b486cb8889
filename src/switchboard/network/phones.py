"""Virtual phones: how each simulated callee behaves, read from the `[simulator]` config table.

[simulator]
time_scale = 1.0              # 0.01 runs call flows 100x faster than real time
words_per_minute = 150        # how long SpeakSentence takes
[simulator.default]           # every number not listed below
answer_after = 2.0
[[simulator.phones]]
number = "+15555550101"
outcome = "busy"              # answer | busy | no-answer | reject | fail
[[simulator.phones]]
number = "+15555550102"
hangup_after = 20.0
digits = "1234#"              # pressed each time a Gather listens
# digits = ["1", "2#"]        # one entry per Gather, in order
# digits = [{at = 3.0, digits = "5"}]   # at seconds after answer, whatever is running
speech = "Hi, this is Ann"    # said right after answering (rendered with espeak-ng for taps)
# speech = [{at = 1.5, text = "Hi"}, {at = 4, text = "Bye"}]   # at seconds after answering
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

OUTCOMES = ("answer", "busy", "no-answer", "reject", "fail")


class PhoneConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TimedDigits:
    at: float
    digits: str


@dataclass(frozen=True, slots=True)
class SpokenLine:
    """Something the phone says, `at` seconds after the call is answered."""

    at: float
    text: str


MAX_SPEECH_CHARS = 20_000  # what media/tts.py synthesises at most
# Every key is bounded (issue 23): 20,000 PUTs of a phone with 60 KB of digits once added
# 1.07 GB of memory. A phone's keys for one Gather (BXML's maxDigits is at most 50), entries
# of a list (digits per Gather, timed digits, lines of speech), seconds (Bandwidth's calls last
# at most 4 hours), and its speech in all.
MAX_DIGITS = 64
MAX_ENTRIES = 32
MAX_SECONDS = 4 * 3600.0
MAX_SPEECH_TOTAL_CHARS = MAX_SPEECH_CHARS


@dataclass(frozen=True, slots=True)
class PhoneBehaviour:
    outcome: str = "answer"
    answer_after: float = 2.0  # seconds until the phone answers, rejects or signals busy
    hangup_after: float | None = None  # seconds after answering
    gather_digits: tuple[str, ...] = ()  # one per Gather; a single entry repeats forever
    repeat_gather_digits: bool = True
    timed_digits: tuple[TimedDigits, ...] = ()
    digit_delay: float = 1.0  # after a Gather starts listening, before the first key
    digit_interval: float = 0.25  # between keys
    speech: tuple[SpokenLine, ...] = ()  # what the phone says once answered

    def digits_for_gather(self, index: int) -> str:
        if not self.gather_digits:
            return ""
        if self.repeat_gather_digits:
            return self.gather_digits[0]
        return self.gather_digits[index] if index < len(self.gather_digits) else ""


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """`[[simulator.calls]]`: a virtual phone dials one of our numbers `at` seconds (engine
    time) after the server starts."""

    at: float
    from_: str
    to: str


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    time_scale: float = 1.0
    words_per_minute: float = 150.0
    default: PhoneBehaviour = PhoneBehaviour()
    phones: dict[str, PhoneBehaviour] = field(default_factory=dict)
    calls: tuple[ScriptedCall, ...] = ()
    # Transcripts of recordings: "known" (the scripted speech's text) or "engine" (PocketSphinx
    # on the recorded audio).
    transcription: str = "known"


_DIGIT_CHARS = set("0123456789*#ABCD")


def parse_behaviour(raw: dict[str, Any], base: PhoneBehaviour, where: str) -> PhoneBehaviour:
    """Apply the keys of one `[simulator.default]` / `[[simulator.phones]]` table (or a JSON
    body of the control API) on top of `base`."""
    known = {
        "number",
        "outcome",
        "answer_after",
        "hangup_after",
        "digits",
        "digit_delay",
        "digit_interval",
        "speech",
    }
    unknown = set(raw) - known
    if unknown:
        raise PhoneConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    behaviour = base
    if "outcome" in raw:
        if raw["outcome"] not in OUTCOMES:
            raise PhoneConfigError(
                f"{where}.outcome must be one of {', '.join(OUTCOMES)}, "
                f"got {_shown(raw['outcome'])}"
            )
        behaviour = replace(behaviour, outcome=raw["outcome"])
    if "answer_after" in raw:
        behaviour = replace(
            behaviour, answer_after=_seconds(raw["answer_after"], f"{where}.answer_after")
        )
    if "digit_delay" in raw:
        behaviour = replace(
            behaviour, digit_delay=_seconds(raw["digit_delay"], f"{where}.digit_delay")
        )
    if "digit_interval" in raw:
        behaviour = replace(
            behaviour, digit_interval=_seconds(raw["digit_interval"], f"{where}.digit_interval")
        )
    if "hangup_after" in raw:
        value = raw["hangup_after"]
        behaviour = replace(
            behaviour,
            hangup_after=None if value is None else _seconds(value, f"{where}.hangup_after"),
        )
    if "digits" in raw:
        behaviour = _digits(behaviour, raw["digits"], f"{where}.digits")
    if "speech" in raw:
        behaviour = replace(behaviour, speech=_speech(raw["speech"], f"{where}.speech"))
    return behaviour


def _speech(value: object, where: str) -> tuple[SpokenLine, ...]:
    if isinstance(value, str):
        return (SpokenLine(0.0, _text(value, where)),) if value.strip() else ()
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        _at_most(value, where)
        if sum(len(str(item.get("text", ""))) for item in value) > MAX_SPEECH_TOTAL_CHARS:
            raise PhoneConfigError(
                f"{where}: its lines hold more than {MAX_SPEECH_TOTAL_CHARS} characters in all"
            )
        lines = []
        for index, item in enumerate(value):
            unknown = set(item) - {"at", "text"}
            if unknown:
                raise PhoneConfigError(
                    f"{where}[{index}]: unknown key(s) {', '.join(sorted(unknown))}; "
                    "known keys are at, text"
                )
            at = _seconds(item.get("at", 0.0), f"{where}[{index}].at")
            lines.append(SpokenLine(at, _text(item.get("text"), f"{where}[{index}].text")))
        return tuple(lines)
    raise PhoneConfigError(f"{where} must be a string or a list of {{at, text}} tables")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PhoneConfigError(f"{where} must be some text to say, got {_shown(value)}")
    if len(value) > MAX_SPEECH_CHARS:
        raise PhoneConfigError(f"{where} is {len(value)} characters; at most {MAX_SPEECH_CHARS}")
    return value


def _digits(behaviour: PhoneBehaviour, value: object, where: str) -> PhoneBehaviour:
    if isinstance(value, str):
        return replace(
            behaviour,
            gather_digits=(_keys(value, where),) if value else (),
            repeat_gather_digits=True,
            timed_digits=(),
        )
    if isinstance(value, list):
        _at_most(value, where)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return replace(
            behaviour,
            gather_digits=tuple(_keys(item, where) for item in value),
            repeat_gather_digits=False,
            timed_digits=(),
        )
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        timed = tuple(
            TimedDigits(
                at=_seconds(item.get("at"), f"{where}[{i}].at"),
                digits=_keys(item.get("digits"), f"{where}[{i}].digits"),
            )
            for i, item in enumerate(value)
        )
        return replace(behaviour, gather_digits=(), timed_digits=timed)
    raise PhoneConfigError(
        f"{where} must be a string of keys, a list of strings, or a list of {{at, digits}} tables"
    )


def _keys(value: object, where: str) -> str:
    if not isinstance(value, str) or not set(value) <= _DIGIT_CHARS:
        raise PhoneConfigError(f"{where} must contain only 0-9 * # A-D, got {_shown(value)}")
    if len(value) > MAX_DIGITS:
        raise PhoneConfigError(f"{where} is {len(value)} keys; at most {MAX_DIGITS}")
    return value


def _seconds(value: object, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_SECONDS  # NaN fails this too
    ):
        raise PhoneConfigError(
            f"{where} must be a number of seconds from 0 to {MAX_SECONDS:g}, got {_shown(value)}"
        )
    return float(value)


def _at_most(items: list[Any], where: str) -> None:
    if len(items) > MAX_ENTRIES:
        raise PhoneConfigError(f"{where} has {len(items)} entries; at most {MAX_ENTRIES}")


def _shown(value: object) -> str:
    """A value for an error sentence, cut short: an error must not echo 60 KB back."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_simulator(raw: dict[str, Any]) -> SimulatorSettings:
    table = raw.get("simulator", {})
    if not isinstance(table, dict):
        raise PhoneConfigError("[simulator] must be a table")
    time_scale = table.get("time_scale", 1.0)
    if isinstance(time_scale, bool) or not isinstance(time_scale, int | float) or time_scale <= 0:
        raise PhoneConfigError(
            f"simulator.time_scale must be a positive number, got {time_scale!r}"
        )
    words_per_minute = table.get("words_per_minute", 150.0)
    if (
        isinstance(words_per_minute, bool)
        or not isinstance(words_per_minute, int | float)
        or words_per_minute <= 0
    ):
        raise PhoneConfigError("simulator.words_per_minute must be a positive number")
    default = parse_behaviour(table.get("default", {}), PhoneBehaviour(), "simulator.default")
    phones: dict[str, PhoneBehaviour] = {}
    for index, entry in enumerate(table.get("phones", [])):
        where = f"simulator.phones[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("number"), str):
            raise PhoneConfigError(f"{where} needs a number")
        phones[dialable(entry["number"])] = parse_behaviour(entry, default, where)
    calls = _scripted_calls(table.get("calls", []))
    transcription = table.get("transcription", "known")
    if transcription not in ("known", "engine"):
        raise PhoneConfigError(
            f'simulator.transcription must be "known" or "engine", got {transcription!r}'
        )
    return SimulatorSettings(
        float(time_scale), float(words_per_minute), default, phones, calls, transcription
    )


def _scripted_calls(entries: object) -> tuple[ScriptedCall, ...]:
    from switchboard.calls.validation import E164  # local: avoid an import cycle

    if not isinstance(entries, list):
        raise PhoneConfigError("simulator.calls must be an array of tables ([[simulator.calls]])")
    calls = []
    for index, entry in enumerate(entries):
        where = f"simulator.calls[{index}]"
        if not isinstance(entry, dict):
            raise PhoneConfigError(f"{where} must be a table")
        unknown = set(entry) - {"at", "from", "to", "count", "every"}
        if unknown:
            raise PhoneConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                "known keys are at, from, to, count, every"
            )
        for key in ("from", "to"):
            if not isinstance(entry.get(key), str) or not E164.match(entry[key]):
                raise PhoneConfigError(
                    f"{where}.{key} must be an E.164 number like +15555551212, "
                    f"got {entry.get(key)!r}"
                )
        at = _seconds(entry.get("at", 0.0), f"{where}.at")
        count = entry.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
            raise PhoneConfigError(f"{where}.count must be a whole number 1-100000, got {count!r}")
        every = _seconds(entry.get("every", 1.0), f"{where}.every")
        calls += [ScriptedCall(at + n * every, entry["from"], entry["to"]) for n in range(count)]
    return tuple(calls)


def dialable(destination: str) -> str:
    """The number a destination reaches: E.164 as is; the user part of a sip: URI."""
    lowered = destination.lower()
    if lowered.startswith(("sip:", "sips:")):
        rest = destination.split(":", 1)[1]
        user = rest.split("@", 1)[0] if "@" in rest else rest
        return user.split(";", 1)[0]
    return destination
