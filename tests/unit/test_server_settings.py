"""[server] settings for running behind load balancers and proxies: what they default to, what
a mistake in them says, and that `switchboard serve` hands them to uvicorn."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, Settings, load_settings
from switchboard.server import uvicorn_config


async def no_app(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is never called: only the uvicorn configuration is looked at."""


def settings_from(tmp_path: Path, server: str) -> Settings:
    config_file = tmp_path / "switchboard.toml"
    config_file.write_text(f"[server]\n{server}\n")
    return load_settings(config_file)


def config_error(tmp_path: Path, server: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, server)
    return str(caught.value)


class TestKeepAlive:
    def test_idle_connections_stay_open_75_s_by_default(self, tmp_path: Path) -> None:
        settings = settings_from(tmp_path, "")
        assert settings.keep_alive_seconds == 75
        assert uvicorn_config(no_app, settings).timeout_keep_alive == 75

    def test_keep_alive_seconds_is_what_uvicorn_runs_with(self, tmp_path: Path) -> None:
        settings = settings_from(tmp_path, "keep_alive_seconds = 650")
        assert uvicorn_config(no_app, settings).timeout_keep_alive == 650

    @pytest.mark.parametrize("value", ["0", "-5", '"75"', "true"])
    def test_anything_but_a_positive_whole_number_is_refused(
        self, tmp_path: Path, value: str
    ) -> None:
        assert "server.keep_alive_seconds must be" in config_error(
            tmp_path, f"keep_alive_seconds = {value}"
        )


class TestPublicUrl:
    def test_unset_by_default(self, tmp_path: Path) -> None:
        assert settings_from(tmp_path, "").public_url is None

    @pytest.mark.parametrize(
        ("value", "kept"),
        [
            ("https://voice.example.com", "https://voice.example.com"),
            ("https://voice.example.com/", "https://voice.example.com"),
            ("http://10.0.0.7:8080", "http://10.0.0.7:8080"),
            ("https://example.com/voice/", "https://example.com/voice"),  # behind a path prefix
        ],
    )
    def test_kept_without_a_trailing_slash(self, tmp_path: Path, value: str, kept: str) -> None:
        assert settings_from(tmp_path, f'public_url = "{value}"').public_url == kept

    @pytest.mark.parametrize(
        ("value", "why"),
        [
            ('"voice.example.com"', "it needs http:// or https:// and a host"),
            ('"ftp://voice.example.com"', "it needs http:// or https:// and a host"),
            ('"https://"', "it needs http:// or https:// and a host"),
            ('"https://user:secret@voice.example.com"', "it must not hold credentials"),
            ('"https://voice.example.com/?x=1"', "it must not have a query or a fragment"),
            ('"https://voice.example.com#top"', "it must not have a query or a fragment"),
            ('"https://voice.example.com:99999"', "Port out of range 0-65535"),
            ('"https://voice.example.com/my app"', "it must not contain spaces"),
            ("true", "it is not a string"),
        ],
    )
    def test_a_bad_value_stops_the_server_with_the_reason(
        self, tmp_path: Path, value: str, why: str
    ) -> None:
        message = config_error(tmp_path, f"public_url = {value}")
        assert message.startswith(
            "server.public_url must be the absolute http(s) URL clients reach Switchboard at, "
            f'like "https://voice.example.com" ({why}), got '
        ), message
