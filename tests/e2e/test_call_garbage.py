"""A finished call is freed by reference counting alone: nothing of it waits for the collector.

The server freezes every object that survives a young collection (switchboard/collector.py), so
a call's objects caught in a reference cycle would stay in memory until the next full
collection, minutes later. These tests run whole calls with the collector off and then look for
anything of Switchboard's among what only a collection could free.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Gather, Hangup, Response, SpeakSentence
from bandwidth.models.create_call import CreateCall

from tests.e2e.phones import ANSWERS, PRESSES_1234
from tests.e2e.test_call_flow import create
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, APPLICATION_ID, FROM_NUMBER, VirtualTimeServer


@contextmanager
def collector_off() -> Iterator[set[str]]:
    """Collector off inside; afterwards, the set holds the type names of Switchboard's objects
    that had become unreachable garbage in a cycle."""
    gc.collect()
    gc.disable()
    leftovers: set[str] = set()
    try:
        yield leftovers
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        leftovers.update(
            type(thing).__qualname__
            for thing in gc.garbage
            if type(thing).__module__.startswith("switchboard.")
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def run_to_the_end(vserver: VirtualTimeServer) -> None:
    vserver.advance(120)
    vserver.settle()
    assert vserver.engine.runners == {}


def test_a_whole_ivr_call_leaves_no_cycle(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on(
        "/answer",
        Response(
            [SpeakSentence("Enter your code"), Gather(gather_url="/gather", max_digits=4)]
        ).to_bxml(),
    )
    app.on("/gather", Response([Hangup()]).to_bxml())
    with collector_off() as leftovers:
        create(calls_api, app, PRESSES_1234)
        run_to_the_end(vserver)
        (gather,) = app.events("gather")
        assert gather["digits"] == "1234"
        (disconnect,) = app.events("disconnect")
        assert disconnect["cause"] == "hangup"
    assert leftovers == set()


def test_a_call_ended_by_invalid_bxml_leaves_no_cycle(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", "<Response><SpeakSentence>unclosed")
    with collector_off() as leftovers:
        create(calls_api, app, ANSWERS)
        run_to_the_end(vserver)
        (disconnect,) = app.events("disconnect")
        assert disconnect["cause"] == "invalid-bxml"
    assert leftovers == set()


def test_a_call_whose_answer_callback_is_refused_leaves_no_cycle(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    """aiohttp's connection error keeps its own frames in its traceback: a cycle holding the
    webhook request and its payload, unless Switchboard drops it (webhooks/delivery.py)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with collector_off() as leftovers:
        calls_api.create_call(
            ACCOUNT_ID,
            CreateCall(
                to=ANSWERS,
                var_from=FROM_NUMBER,
                application_id=APPLICATION_ID,
                answer_url=f"http://127.0.0.1:{closed_port}/answer",
                disconnect_url=app.url("/disconnect"),
            ),
        )
        run_to_the_end(vserver)
        (disconnect,) = app.events("disconnect")
        assert disconnect["cause"] == "callback-error"
    assert leftovers == set()
