"""/metrics is not open to anyone who reaches the API port (issue 23): its labels carry account
ids. A real server on 127.0.0.1 per case."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from switchboard.config import ConfigError, load_settings
from tests.integration.api.test_profiles import with_server_settings
from tests.support.server import CONFIG, start_server

TOKEN = "scrape-token-0123456789abcdef"


def scrape(directory: Path, config: str, **headers: str) -> httpx.Response:
    running = start_server(directory, config)
    try:
        return httpx.get(running.base_url + "/metrics", headers=headers, timeout=10)
    finally:
        running.stop()


def test_with_a_token_a_scrape_needs_it(tmp_path: Path) -> None:
    config = CONFIG + f'\n[metrics]\ntoken = "{TOKEN}"\n'
    running = start_server(tmp_path, config)
    try:
        url = running.base_url + "/metrics"
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Bearer \u00e9".encode("latin-1")},
        ):
            refused = httpx.get(url, headers=headers, timeout=10)
            assert refused.status_code == 401, refused.text
            assert set(refused.json()) == {"type", "description", "id"}
            assert "switchboard_" not in refused.text
        served = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert served.status_code == 200
        assert "switchboard_api_requests_total" in served.text
    finally:
        running.stop()


def test_production_without_a_token_serves_no_metrics(tmp_path: Path) -> None:
    refused = scrape(tmp_path, with_server_settings('profile = "production"'))
    assert refused.status_code == 404
    assert "[metrics] token" in refused.json()["description"]


def test_development_without_a_token_serves_them(tmp_path: Path) -> None:
    assert scrape(tmp_path, CONFIG).status_code == 200


@pytest.mark.parametrize("token", ["short", 12345678901234567890, "has a space in it here"])
def test_a_weak_or_malformed_token_stops_the_start(tmp_path: Path, token: object) -> None:
    path = tmp_path / "switchboard.toml"
    value = f'"{token}"' if isinstance(token, str) else str(token)
    path.write_text(CONFIG + f"\n[metrics]\ntoken = {value}\n")
    with pytest.raises(ConfigError, match=r"metrics\.token"):
        load_settings(path)
