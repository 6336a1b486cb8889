from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from switchboard.sip import SipSettings, SipUserAgent, Timers
from tests.support.sipp import require_sipp

# T1 of 50 ms: retransmissions and Timer B (64*T1 = 3.2 s) stay quick on loopback.
FAST = Timers(t1=0.05, t2=0.4, t4=0.5)
USERNAME = "trunk-user"
PASSWORD = "trunk-secret"


@pytest.fixture
def sipp() -> None:
    require_sipp()


@pytest.fixture
async def ua() -> AsyncIterator[SipUserAgent]:
    agent = await SipUserAgent.start(
        SipSettings(local_port=0, username=USERNAME, password=PASSWORD), timers=FAST
    )
    yield agent
    await agent.close(grace=0.5)
