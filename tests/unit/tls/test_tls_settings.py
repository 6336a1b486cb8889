"""`[server.tls]` (issue 22): defaults, what a mistake says, and the listener it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, Settings, load_settings
from switchboard.server import uvicorn_config
from switchboard.tls.ca import tls_files
from switchboard.tls.listener import TlsListener


async def no_app(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is never called: only the listener's configuration is looked at."""


def settings_from(tmp_path: Path, text: str) -> Settings:
    config_file = tmp_path / "switchboard.toml"
    config_file.write_text(text)
    return load_settings(config_file)


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, text)
    return str(caught.value)


def test_off_by_default_and_port_443_when_on(tmp_path: Path) -> None:
    assert settings_from(tmp_path, "").tls.enabled is False
    tls = settings_from(tmp_path, "[server.tls]\nenabled = true\n").tls
    assert (tls.enabled, tls.host, tls.port, tls.cert_file) == (True, "127.0.0.1", 443, None)


def test_own_certificate_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    tls = settings_from(
        tmp_path, '[server.tls]\nenabled = true\ncert_file = "cert.pem"\nkey_file = "key.pem"\n'
    ).tls
    assert (tls.cert_file, tls.key_file) == (tmp_path / "cert.pem", tmp_path / "key.pem")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server.tls]\nport = 70000\n", "server.tls.port must be 0-65535"),
        ('[server.tls]\nport = "443"\n', "server.tls.port must be an integer"),
        ('[server.tls]\nenabled = "yes"\n', "server.tls.enabled must be true or false"),
        ("[server.tls]\naddress = '0.0.0.0'\n", "unknown key(s) address; known keys are enabled"),
        ('[server.tls]\ncert_file = "cert.pem"\n', "give both cert_file and key_file, or neither"),
        (
            '[server.tls]\ncert_file = "missing.pem"\nkey_file = "k.pem"\n',
            "server.tls.cert_file: ",
        ),
        ("[server]\ntls = 1\n", "[server.tls] must be a table"),
        (
            '[server]\nport = 8443\nhost = "0.0.0.0"\n[server.tls]\nenabled = true\nport = 8443\n',
            "server.tls.port 8443 is the plain HTTP listener's port",
        ),
    ],
)
def test_mistakes_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    assert message in config_error(tmp_path, text)


def test_the_listener_serves_the_ca_signed_leaf_and_binds_at_once(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "[server.tls]\nenabled = true\nport = 0\n")
    listener = TlsListener(uvicorn_config(no_app, settings), settings)
    try:
        assert listener.port > 0
        config = listener.server.config
        assert config.ssl_certfile == str(tls_files(settings.data_dir).leaf_cert)
        assert config.lifespan == "off" and config.app is no_app
        assert config.timeout_keep_alive == settings.keep_alive_seconds
    finally:
        listener.socket.close()
