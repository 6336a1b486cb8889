"""The `[webhooks]` table (docs/operations.md, "Nothing lost: the outbox"): what each setting
becomes, and the message for each mistake. That the settings reach delivery is checked on a
running server in tests/integration/webhooks/test_retry_settings.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, load_settings
from switchboard.webhooks.outbox import RetryPolicy


def settings_from(tmp_path: Path, text: str) -> RetryPolicy:
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    return load_settings(path).webhook_retries


def test_retries_are_off_by_default(tmp_path: Path) -> None:
    # Bandwidth's own behaviour: no extra rounds; the documented backoff if they are turned on.
    assert settings_from(tmp_path, "") == RetryPolicy(0, 1.0, 60.0)
    assert settings_from(tmp_path, "[webhooks]\n") == RetryPolicy(0, 1.0, 60.0)


def test_the_documented_example(tmp_path: Path) -> None:
    policy = settings_from(
        tmp_path,
        "[webhooks]\nretries = 5\nbackoff_seconds = 1.0\nmax_backoff_seconds = 60.0\n",
    )
    assert policy == RetryPolicy(5, 1.0, 60.0)
    assert [policy.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_each_setting_is_read(tmp_path: Path) -> None:
    policy = settings_from(
        tmp_path, "[webhooks]\nretries = 3\nbackoff_seconds = 2\nmax_backoff_seconds = 5\n"
    )
    assert policy == RetryPolicy(3, 2.0, 5.0)  # whole numbers of seconds are seconds too
    assert isinstance(policy.backoff_seconds, float)
    assert [policy.delay(n) for n in range(1, 4)] == [2.0, 4.0, 5.0]


def test_zero_seconds_of_backoff_is_allowed(tmp_path: Path) -> None:
    policy = settings_from(tmp_path, "[webhooks]\nretries = 2\nbackoff_seconds = 0\n")
    assert policy == RetryPolicy(2, 0.0, 60.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("retries = -1", "webhooks.retries must be 0 or more, got -1"),
        ("retries = 1.5", "webhooks.retries must be an integer, got 1.5"),
        ('retries = "5"', "webhooks.retries must be an integer, got '5'"),
        ("retries = true", "webhooks.retries must be an integer, got True"),
        (
            "backoff_seconds = -1",
            "webhooks.backoff_seconds must be a number of seconds >= 0, got -1",
        ),
        (
            'backoff_seconds = "1s"',
            "webhooks.backoff_seconds must be a number of seconds >= 0, got '1s'",
        ),
        (
            "backoff_seconds = nan",
            "webhooks.backoff_seconds must be a number of seconds >= 0, got nan",
        ),
        (
            "backoff_seconds = inf",
            "webhooks.backoff_seconds must be a number of seconds >= 0, got inf",
        ),
        (
            "max_backoff_seconds = -0.5",
            "webhooks.max_backoff_seconds must be a number of seconds >= 0, got -0.5",
        ),
        (
            "max_backoff_seconds = false",
            "webhooks.max_backoff_seconds must be a number of seconds >= 0, got False",
        ),
        ("retry = 5", "[webhooks]: unknown key(s) retry"),
        (
            "retries = 1\nbackof_seconds = 2\nmax_backoff = 9",
            "[webhooks]: unknown key(s) backof_seconds, max_backoff",
        ),
    ],
    ids=[
        "negative-retries",
        "fractional-retries",
        "retries-as-text",
        "retries-as-bool",
        "negative-backoff",
        "backoff-as-text",
        "backoff-nan",
        "backoff-inf",
        "negative-max-backoff",
        "max-backoff-as-bool",
        "unknown-key",
        "misspelt-keys",
    ],
)
def test_a_bad_setting_is_refused_with_its_name_and_value(
    tmp_path: Path, table: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, f"[webhooks]\n{table}\n")
    assert str(caught.value) == message


def test_webhooks_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, "webhooks = 5\n")
    assert str(caught.value) == "[webhooks] must be a table"
