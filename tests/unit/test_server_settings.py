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
