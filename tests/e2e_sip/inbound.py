"""Calls into Switchboard over SIP: a server whose application answers one of the account's
numbers (its webhooks at a Receiver on 127.0.0.1), and sipp dialing that number."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support.receiver import Receiver
from tests.support.server import CONFIG, RunningServer
from tests.support.sipp import HOST, SippProcess, free_port, require_sipp, sipp_args

OUR_NUMBER = "+15555551212"  # the account's number that rings the application
OTHER_NUMBER = "+15555551213"  # the account's other number: it rings no application
CALLER = "+15555550123"  # who the sipp scenarios say they are (From)
APPLICATION_TABLE = '  name = "IVR"\n'


def inbound_config(app: Receiver, **sip: str | list[str]) -> str:
    """tests/support/server.py's accounts, with the IVR application answering OUR_NUMBER
    (docs/configuration.md "Applications"), on the SIP network with `sip` added to its table."""
    assert CONFIG.count(APPLICATION_TABLE) == 1
    voice = (
        APPLICATION_TABLE
        + f'  call_initiated_callback_url = "{app.url("/initiate")}"\n'
        + f'  call_status_callback_url = "{app.url("/status")}"\n'
        + f'  numbers = ["{OUR_NUMBER}"]\n'
    )
    table = {"local_address": "127.0.0.1:0", "rtp_ports": "25000-25999", **sip}
    lines = "".join(f"{key} = {_toml(value)}\n" for key, value in table.items())
    return (
        CONFIG.replace(APPLICATION_TABLE, voice)
        + f'\n[network]\nkind = "sip"\n\n[network.sip]\n{lines}'
    )


def _toml(value: str | list[str]) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    return f'"{value}"'


def sip_port(server: RunningServer) -> int:
    """Where the server's SIP user agent listens (it bound port 0)."""
    engine = server.server.config.app.state.context.engine
    return int(engine.services.network.agent.local_address[1])


def dial_with_sipp(
    scenario: str, workdir: Path, port: int, number: str, extra: Sequence[str] = ()
) -> SippProcess:
    """sipp as the caller: tests/sip_scenarios/`scenario` dials `number` at 127.0.0.1:`port`
    once, bounded by sipp's own 30 s timeout; its messages are logged (-trace_msg)."""
    sipp = require_sipp()
    own_port, media_port = free_port(), free_port()
    args = [
        sipp,
        *sipp_args(scenario, own_port, media_port, "udp", extra),
        f"{HOST}:{port}",
        "-s",
        number,
        "-trace_msg",
    ]
    with (workdir / "stdout.txt").open("wb") as stdout, (workdir / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(
            args, cwd=workdir, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err
        )
    return SippProcess(process, own_port, media_port, workdir)


def sipp_messages(caller: SippProcess) -> str:
    """Every message sipp sent and received (its -trace_msg log)."""
    return "".join(p.read_text(errors="replace") for p in caller.workdir.glob("*_messages.log"))


def received_response(caller: SippProcess, status: int) -> str:
    """The first response with `status` sipp received, headers and body, as text."""
    log = sipp_messages(caller)
    start = log.find(f"SIP/2.0 {status} ")
    assert start >= 0, f"sipp received no {status}:\n{log[-3000:]}"
    end = log.find("\n-----", start)  # sipp's line between two logged messages
    return log[start : end if end >= 0 else None]
