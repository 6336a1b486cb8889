"""A newcomer's first call (issue 14): the curl command the demo banner prints, run as printed,
creates a call that Switchboard's own example app answers, and the call runs to its end with
nothing else listening."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from switchboard.api.routes_examples import (
    ANSWER_PATH,
    DISCONNECT_PATH,
    GATHER_PATH,
    GREETING,
    answer_url,
)
from switchboard.bxml.parser import parse_bxml
from switchboard.bxml.verbs import Gather, Hangup, SpeakSentence
from switchboard.config import load_settings
from switchboard.provisioning.setup import DemoAccount
from switchboard.server import demo_banner, prepare_data_dir
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

DEMO_CONFIG = """
[server]
data_dir = "data"
"""


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[VirtualTimeServer, str, DemoAccount]]:
    """A server with only the demo account, as `make run` starts, and the banner it prints."""
    config_file = tmp_path / "switchboard.toml"
    config_file.write_text(DEMO_CONFIG)
    settings = load_settings(config_file)
    account = prepare_data_dir(settings)  # the first start: the password is shown once
    assert account is not None and account.password is not None
    server = start_virtual_server(tmp_path, DEMO_CONFIG)
    try:
        # The banner as `serve` prints it for the address the server listens on.
        port = urlsplit(server.base_url).port
        assert port is not None
        yield server, demo_banner(account, replace(settings, port=port)), account
    finally:
        server.stop()


def printed_curl(banner: str) -> list[str]:
    """The banner's curl command, split the way a shell splits it when pasted."""
    command = re.search(r"^  curl .*?'\n\n", banner, re.MULTILINE | re.DOTALL)
    assert command is not None, banner
    return shlex.split(command.group(0).replace("\\\n", " "))


def test_the_printed_curl_creates_a_call_that_the_example_app_runs_to_its_end(
    demo: tuple[VirtualTimeServer, str, DemoAccount],
) -> None:
    server, banner, account = demo
    words = printed_curl(banner)
    assert words[:3] == ["curl", "-X", "POST"]
    user, password = words[words.index("-u") + 1].split(":", 1)
    name, value = words[words.index("-H") + 1].split(":", 1)
    body = words[words.index("--data-raw") + 1]
    assert json.loads(body)["answerUrl"].startswith(server.base_url)  # nothing else to run

    created = httpx.post(
        words[3], auth=(user, password), headers={name: value.strip()}, content=body
    )
    assert created.status_code == 201, created.text
    call_id = created.json()["callId"]
    server.advance(60)

    with httpx.Client(base_url=server.base_url, auth=(user, password)) as client:
        call = client.get(f"/api/v2/accounts/{account.account_id}/calls/{call_id}").json()
        path = f"/switchboard/v1/accounts/{account.account_id}/calls/{call_id}/timeline"
        items = client.get(path).json()["timeline"]
    assert (call["state"], call["disconnectCause"]) == ("disconnected", "hangup")
    assert [(e["eventType"], e["status"]) for e in items if e["kind"] == "webhook"] == [
        ("answer", 200),
        ("gather", 200),
        ("disconnect", 204),
    ]
    said = [
        e["text"]
        for e in items
        if (e["kind"], e.get("verb"), e.get("event")) == ("verb", "SpeakSentence", "started")
    ]
    assert said == [GREETING, "You pressed nothing. Goodbye."]  # the default phone presses none
    assert f"{server.base_url}/" in banner  # and where to watch it: the web console


PRODUCTION = CONFIG.replace('data_dir = "data"', 'data_dir = "data"\nprofile = "production"', 1)


@pytest.mark.parametrize(
    ("config", "cause"),
    [
        # The server's own address is loopback: a private destination, refused in production...
        (PRODUCTION, "callback-error"),
        # ...unless the operator lists it, as for any webhook app of theirs on a private network.
        (
            PRODUCTION.replace(
                'profile = "production"',
                'profile = "production"\nallowed_destinations = ["127.0.0.1"]',
                1,
            ),
            "hangup",
        ),
    ],
    ids=["refused", "allowed"],
)
def test_in_production_the_example_app_is_a_private_destination_like_any_other(
    tmp_path: Path, config: str, cause: str
) -> None:
    server = start_virtual_server(tmp_path, config)
    try:
        with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD)) as client:
            created = client.post(
                f"/api/v2/accounts/{ACCOUNT_ID}/calls",
                json={
                    "from": FROM_NUMBER,
                    "to": "+15555551313",
                    "applicationId": APPLICATION_ID,
                    "answerUrl": answer_url(server.base_url),
                },
            )
            assert created.status_code == 201, created.text
            call_id = created.json()["callId"]
            server.advance(60)
            call = client.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}").json()
    finally:
        server.stop()
    assert (call["state"], call["disconnectCause"]) == ("disconnected", cause)
    if cause == "callback-error":
        assert "server.allow_private_destinations" in call["errorMessage"], call


@pytest.mark.parametrize(
    ("request_args", "said"),
    [
        ({"method": "POST", "json": {"eventType": "gather", "digits": "7"}}, "You pressed 7."),
        ({"method": "GET", "params": {"digits": "#"}}, "You pressed #."),  # gatherMethod GET
        ({"method": "POST", "json": {"digits": ""}}, "You pressed nothing."),
        # Anyone can call these paths: what is not a gather event's digits is never echoed.
        ({"method": "POST", "json": {"digits": "</SpeakSentence><Hangup/>"}}, "nothing"),
        ({"method": "POST", "json": {"digits": 7}}, "You pressed nothing."),
        ({"method": "POST", "content": b"not json"}, "You pressed nothing."),
        ({"method": "POST", "json": ["7"]}, "You pressed nothing."),
        ({"method": "POST", "content": b'{"digits": "1"}' + b" " * 20_000}, "nothing"),
    ],
    ids=["post", "get", "none", "markup", "number", "not-json", "array", "too-big"],
)
def test_the_example_gather_answers_valid_bxml_whatever_it_is_sent(
    anonymous: httpx.Client, request_args: dict[str, Any], said: str
) -> None:
    method = request_args.pop("method")
    response = anonymous.request(method, GATHER_PATH, **request_args)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    document = parse_bxml(response.content, base_url=str(anonymous.base_url.join(GATHER_PATH)))
    speak, hangup = document.verbs
    assert isinstance(speak, SpeakSentence) and isinstance(hangup, Hangup)
    assert said in speak.plain_text and speak.plain_text.endswith("Goodbye.")


def test_the_example_answer_gathers_one_key_at_a_relative_url(anonymous: httpx.Client) -> None:
    for method in ("GET", "POST"):
        response = anonymous.request(method, ANSWER_PATH, json={"eventType": "answer"})
        assert response.status_code == 200, response.text
        base = str(anonymous.base_url.join(ANSWER_PATH))
        (gather,) = parse_bxml(response.content, base_url=base).verbs
        assert isinstance(gather, Gather)
        assert gather.gather_url == str(anonymous.base_url.join(GATHER_PATH))
        assert gather.max_digits == 1
    assert anonymous.post(DISCONNECT_PATH, json={"eventType": "disconnect"}).status_code == 204
