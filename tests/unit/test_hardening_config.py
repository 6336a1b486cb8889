"""[http] and [auth] in the config file (issue 23): defaults, values, and refusals that say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, Settings, load_settings
from switchboard.hardening import HttpLimits, ThrottleSettings


def settings_of(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    return load_settings(path)


def test_defaults_without_the_tables(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, "[server]\n")
    assert settings.http == HttpLimits()
    assert settings.auth_throttle == ThrottleSettings()
    assert settings.http.max_header_bytes == 16384
    assert settings.http.header_timeout_seconds == 10.0
    assert settings.keep_alive_seconds >= 60  # the header timeout is not the keep-alive


def test_every_key_is_read(tmp_path: Path) -> None:
    settings = settings_of(
        tmp_path,
        "[http]\nmax_request_line_bytes = 4096\nmax_header_bytes = 8192\n"
        "header_timeout_seconds = 2.5\nmax_connections = 100\nreserved_connections = 0\n"
        "[auth]\nfailures_per_address = 7\nfailures_per_name = 3\n"
        "failure_window_seconds = 30\nhash_concurrency = 1\nthrottled_delay_seconds = 0\n",
    )
    assert settings.http == HttpLimits(4096, 8192, 2.5, 100, 0)
    assert settings.auth_throttle == ThrottleSettings(7, 3, 30.0, 1, 0.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[http]\nmax_headers = 1\n", "[http]: unknown key(s) max_headers"),
        ("[auth]\nlockout = 1\n", "[auth]: unknown key(s) lockout"),
        (
            "[http]\nmax_header_bytes = 100\n",
            "http.max_header_bytes must be a whole number >= 1024",
        ),
        ("[http]\nmax_connections = 0\n", "http.max_connections must be a whole number >= 1"),
        ("[http]\nheader_timeout_seconds = 0\n", "http.header_timeout_seconds must be a number"),
        ("[http]\nheader_timeout_seconds = true\n", "http.header_timeout_seconds must be"),
        ("[http]\nmax_connections = 10\nreserved_connections = 10\n", "less than"),
        ("[http]\nmax_request_line_bytes = 20000\n", "must not exceed http.max_header_bytes"),
        ("[auth]\nfailures_per_name = 0\n", "auth.failures_per_name must be a whole number >= 1"),
        ("[auth]\nhash_concurrency = 1.5\n", "auth.hash_concurrency must be a whole number"),
        (
            "[auth]\nthrottled_delay_seconds = -1\n",
            "auth.throttled_delay_seconds must be a number of seconds from 0 to 60",
        ),
        ("http = 3\n", "[http] must be a table"),
    ],
)
def test_wrong_values_fail_the_start_saying_why(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings_of(tmp_path, text)
    assert message in str(error.value)
