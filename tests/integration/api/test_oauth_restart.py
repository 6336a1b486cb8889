"""OAuth bearer tokens across restarts of a real `switchboard serve` (docs/operations.md, "Data"):
they are signed with `token-signing.key`, which the first start creates with mode 0600; they
survive a restart; deleting the key revokes every one of them, at once, without a restart."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from tests.integration.reliability.process import ServerProcess, free_port
from tests.support.http import assert_error
from tests.support.server import ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, CONFIG

TOKEN_PATH = "/api/v1/oauth2/token"


def token(server: ServerProcess) -> str:
    response = httpx.post(
        f"{server.base_url}{TOKEN_PATH}",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def list_calls(server: ServerProcess, bearer: str) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/api/v2/accounts/{ACCOUNT_ID}/calls",
        headers={"Authorization": f"Bearer {bearer}"},
    )


def restart(server: ServerProcess) -> ServerProcess:
    server.terminate()
    assert server.wait(30) == 0
    server.stop()
    return ServerProcess(server.config, server.port).start()


def test_tokens_survive_a_restart_and_deleting_the_signing_key_revokes_them(
    tmp_path: Path,
) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(CONFIG)
    key = tmp_path / "data" / "token-signing.key"
    # With no umask to narrow it, a key written with the usual 0666 would come out readable by
    # everyone: 0600 can only come from the server asking for it.
    umask = os.umask(0)
    try:
        server = ServerProcess(config, free_port()).start()
    finally:
        os.umask(umask)
    try:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        signing_key = key.read_bytes()
        issued = token(server)
        assert list_calls(server, issued).status_code == 200

        server = restart(server)
        assert list_calls(server, issued).status_code == 200  # the same key signs and checks
        assert key.read_bytes() == signing_key

        key.unlink()
        # The running server notices at once: no restart needed (issue 23).
        refused = list_calls(server, issued)
        assert_error(refused, 401, "authentication-error", "The credentials provided were invalid")
        # A new key, private again, and tokens signed with it work.
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_bytes() != signing_key
        assert list_calls(server, token(server)).status_code == 200
    finally:
        server.stop()
