"""The tag across a call's callbacks (createCall's `tag`, tag.mdx, the verbs' tag attribute):
set at creation, carried until changed, and absent once cleared with ""."""

from __future__ import annotations

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import (
    Gather,
    Hangup,
    Pause,
    Redirect,
    Response,
    SpeakSentence,
    Tag,
)

from tests.e2e.flow import check_event, create_call, entries, one_disconnect, timeline
from tests.e2e.phones import HANGS_UP, PRESSES_1234
from tests.support.receiver import Receiver
from tests.support.server import VirtualTimeServer


def tags(app: Receiver) -> list[tuple[str, str | None]]:
    """(eventType, tag or None when absent) for every callback, in order."""
    return [(event["eventType"], event.get("tag")) for event in app.events()]


def test_tag_set_at_creation_is_carried_on_every_callback(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Gather(gather_url="/gather", terminating_digits="#")]).to_bxml())
    app.on("/gather", Response([Redirect("/redirect")]).to_bxml())
    app.on("/redirect", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, PRESSES_1234, tag="order-1234")
    vserver.advance(30)

    assert tags(app) == [
        ("answer", "order-1234"),
        ("gather", "order-1234"),
        ("redirect", "order-1234"),
        ("disconnect", "order-1234"),
    ]
    for event in app.events():
        own = {"tag", "answerTime"} if event["eventType"] == "disconnect" else {"tag"}
        check_event(event, event["eventType"], call_id, PRESSES_1234, optional=own)


def test_tag_verb_and_tag_attributes_change_it_and_empty_clears_it(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on(
        "/answer",
        Response(
            [Tag("  menu  "), Gather(gather_url="/gather", terminating_digits="#", tag="gathering")]
        ).to_bxml(),
    )
    app.on("/gather", Response([Tag("after-gather"), Redirect("/first")]).to_bxml())
    app.on("/first", Response([Redirect("/second", tag="")]).to_bxml())
    app.on("/second", Response([Redirect("/third", tag="back")]).to_bxml())
    app.on("/third", Response([Tag(), Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, PRESSES_1234, tag="created")
    vserver.advance(30)

    assert tags(app) == [
        ("answer", "created"),
        ("gather", "gathering"),  # the Gather's own attribute counts for its event
        ("redirect", "after-gather"),
        ("redirect", None),  # tag="" cleared it: the field is absent, not null or ""
        ("redirect", "back"),
        ("disconnect", None),  # <Tag/> with no text cleared it
    ]
    (second,) = app.requests("/second")
    assert "tag" not in second.event
    changes = [entry["tag"] for entry in entries(timeline(switchboard, call_id), "tag")]
    assert changes == ["menu", "gathering", "after-gather", None, "back", None]


def test_no_tag_at_creation_until_bxml_sets_one(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Redirect("/next", tag="from-redirect")]).to_bxml())
    app.on("/next", Response([Hangup()]).to_bxml())
    create_call(calls_api, app, PRESSES_1234)
    vserver.advance(30)

    assert tags(app) == [
        ("answer", None),
        ("redirect", "from-redirect"),
        ("disconnect", "from-redirect"),
    ]


def test_disconnect_carries_the_tag_current_when_the_callee_hung_up(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    # tag.mdx's own example: the tag tells the app how far the call got.
    app.on(
        "/answer",
        Response(
            [
                Tag("greeting"),
                SpeakSentence("Hello"),
                Tag("waiting"),
                Pause(60),
                Tag("done"),
            ]
        ).to_bxml(),
    )
    create_call(calls_api, app, HANGS_UP, tag="created")
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert disconnect["tag"] == "waiting"
