"""Real calls: a Switchboard server on the SIP network, real peers (sipp, baresip) as callees,
a webhook application on 127.0.0.1 and the official SDK. Time is real here: a SIP peer cannot
run on a virtual clock, so every wait is bounded and waits for an event, not a duration."""

from __future__ import annotations

import math
import shutil
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi

from tests.e2e.control import calls_api_for
from tests.support.baresip import BaresipPhone, start_baresip
from tests.support.server import CONFIG, PASSWORD, USERNAME, RunningServer, start_server

SIP_NETWORK = """
[network]
kind = "sip"

[network.sip]
local_address = "127.0.0.1:0"
rtp_ports = "21000-21999"  # below the ephemeral ports sipp and baresip are given
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [tool for tool in ("sipp", "baresip", "espeak-ng") if shutil.which(tool) is None]
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"not installed: {', '.join(missing)} (make test installs them)")
    for item in items:
        if "e2e_sip" in str(item.path):
            item.add_marker(skip)


PEER_RATE = 8000


def write_peer_audio(path: Path, seconds: float = 90.0) -> Path:
    """What the phone says: a quiet 300 Hz hum (baresip hangs up when its file ends)."""
    samples = int(seconds * PEER_RATE)
    hum = [int(600 * math.sin(2 * math.pi * 300 * n / PEER_RATE)) for n in range(PEER_RATE)]
    one_second = struct.pack(f"<{PEER_RATE}h", *hum)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(PEER_RATE)
        out.writeframes(one_second * (samples // PEER_RATE))
    return path


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[BaresipPhone]:
    running = start_baresip(tmp_path / "baresip", write_peer_audio(tmp_path / "peer.wav"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("sip")
    running = start_server(directory, CONFIG + SIP_NETWORK)
    yield running
    running.stop()


@pytest.fixture
def calls_api(sip_server: RunningServer) -> Iterator[CallsApi]:
    with calls_api_for(sip_server, USERNAME, PASSWORD) as calls_api:
        yield calls_api


@pytest.fixture
def switchboard(sip_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sip_server.base_url, auth=(USERNAME, PASSWORD)) as client:
        yield client
