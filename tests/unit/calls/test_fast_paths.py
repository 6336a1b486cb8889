"""The per-call fast paths (issue 3 tuning) give exactly what the plain code gave."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from switchboard.bxml import BxmlError
from switchboard.calls import runner
from switchboard.calls.create_request import OPTIONAL_FIELDS, REQUIRED_FIELDS, parse_create_call
from switchboard.calls.ids import format_new_time, format_time
from switchboard.calls.validation import url
from switchboard.errors import ValidationError
from tests.support.create_call_cases import seed_body


def reference(moment: datetime) -> str:
    """format_time as it was: strftime of every moment."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def test_format_time_matches_strftime_for_any_moment_and_zone() -> None:
    rng = random.Random(7)
    start = datetime(1990, 1, 1, tzinfo=UTC)
    for index in range(20_000):
        moment = start + timedelta(microseconds=rng.randrange(10**15))
        if index % 3 == 0:
            moment = moment.astimezone(timezone(timedelta(hours=rng.randrange(-12, 13))))
        expected = reference(moment)
        assert format_time(moment) == expected
        assert format_time(moment) == expected  # cached
        assert format_new_time(moment) == expected


def test_format_time_walks_across_seconds() -> None:
    moment = datetime(2026, 12, 31, 23, 59, 59, 998_000, tzinfo=UTC)
    for _ in range(5):
        assert format_new_time(moment) == reference(moment)
        assert format_time(moment) == reference(moment)
        moment += timedelta(microseconds=700)


def test_format_time_of_a_naive_moment_is_unchanged() -> None:
    moment = datetime(2024, 2, 29, 12, 0, 0, 5_000)
    assert format_time(moment) == reference(moment)


def test_parsed_bxml_is_shared_per_body_and_base_url() -> None:
    body = b'<Response><Gather gatherUrl="gather" maxDigits="1"/></Response>'
    first = runner._parse_cached(body, "http://app.example/answer")
    assert runner._parse_cached(body, "http://app.example/answer") is first
    other = runner._parse_cached(body, "http://other.example/answer")
    assert other is not first and other.base_url == "http://other.example/answer"


def test_invalid_bxml_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(BxmlError):
            runner._parse_cached(b"<Response><Nope/></Response>", "http://app.example/a")


def test_bxml_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "BXML_CACHE_SIZE", 3)
    monkeypatch.setattr(runner, "_bxml_cache", {})
    documents = [f"<Response><Pause duration='{n}'/></Response>".encode() for n in range(1, 6)]
    for document in documents:
        runner._parse_cached(document, None)
    assert len(runner._bxml_cache) == 3
    assert [key[0] for key in runner._bxml_cache] == documents[2:]


def test_url_check_is_the_same_when_cached() -> None:
    for _ in range(2):
        assert url({"u": "https://example.com/a"}, "u") == "https://example.com/a"
        with pytest.raises(ValidationError, match="Invalid u: must not contain spaces"):
            url({"u": "https://example.com/a b"}, "u")
        with pytest.raises(ValidationError, match="Invalid v: must be an absolute http"):
            url({"v": "ftp://example.com/"}, "v")
        with pytest.raises(ValidationError, match="is not a valid URL"):
            url({"u": "http://example.com:99999/"}, "u")


class RecordingBody(dict[str, object]):
    """A createCall body that notes every key the parser reads."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> object:
        self.read.add(key)
        return super().__getitem__(key)


def test_the_minimal_body_fast_path_knows_every_optional_field_the_parser_reads() -> None:
    """parse_create_call skips its optional checks when the body has none of OPTIONAL_FIELDS:
    a field the full path reads but that set forgot would go unchecked."""
    body = RecordingBody(seed_body(), tag="forces the full path")
    parse_create_call(body)
    assert body.read - set(REQUIRED_FIELDS) == set(OPTIONAL_FIELDS)
