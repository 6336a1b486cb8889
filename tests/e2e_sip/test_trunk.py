"""Numbers (not SIP URIs) go to the configured trunk: the INVITE for +15551234567 is sent to
`[network.sip] proxy`, which challenges it with 407; Switchboard answers the challenge with the
configured digest credentials and the call goes on (sipp checks the credentials and the
request URI, and exits 0 only if the whole exchange, our BYE included, happened)."""

from __future__ import annotations

from pathlib import Path

from bandwidth.models.bxml import Hangup, Response, SpeakSentence

from tests.e2e.control import calls_api_for
from tests.e2e.flow import create_call
from tests.support.receiver import Receiver
from tests.support.server import CONFIG, PASSWORD, USERNAME, start_server
from tests.support.sipp import start_sipp


def test_a_number_goes_through_the_trunk_with_digest_credentials(
    tmp_path: Path, app: Receiver
) -> None:
    trunk = start_sipp("uas_auth_407.xml", tmp_path)
    server = start_server(
        tmp_path,
        CONFIG
        + f"""
[network.sip]
local_address = "127.0.0.1:0"
rtp_ports = "22000-22999"
proxy = "127.0.0.1:{trunk.port}"
username = "trunk-user"
password = "trunk-secret"
""",
    )
    try:
        app.on("/answer", Response([SpeakSentence("Hello trunk"), Hangup()]).to_bxml())
        with calls_api_for(server, USERNAME, PASSWORD) as calls_api:
            create_call(calls_api, app, "+15551234567")

        (answer,) = app.wait_events("answer")
        (disconnect,) = app.wait_events("disconnect")
        assert answer["to"] == "+15551234567" and answer["sipCallId"]
        assert disconnect["cause"] == "hangup"
        assert trunk.wait() == 0, trunk.errors()
    finally:
        trunk.stop()
        server.stop()


def test_bound_to_every_interface_the_sdp_names_a_reachable_address(
    tmp_path: Path, app: Receiver
) -> None:
    """local_address 0.0.0.0: Via, Contact and the SDP's c= line carry the address of the
    interface the call leaves from, never 0.0.0.0 (which SDP reads as "on hold")."""
    callee = start_sipp("uas_busy.xml", tmp_path, extra=["-trace_msg"])
    server = start_server(
        tmp_path,
        CONFIG + '[network.sip]\nlocal_address = "0.0.0.0:0"\nrtp_ports = "22000-22999"\n',
    )
    try:
        with calls_api_for(server, USERNAME, PASSWORD) as calls_api:
            create_call(calls_api, app, callee.uri())
        (disconnect,) = app.wait_events("disconnect")
        assert disconnect["cause"] == "busy"
        assert callee.wait() == 0, callee.errors()
        log = "".join(p.read_text() for p in callee.workdir.glob("*_messages.log"))
        invite = log[log.index("INVITE sip:") :]
        connection = next(line for line in invite.splitlines() if line.startswith("c="))
        assert "0.0.0.0" not in connection and "0.0.0.0" not in invite.split("\n\n")[0]
    finally:
        callee.stop()
        server.stop()
