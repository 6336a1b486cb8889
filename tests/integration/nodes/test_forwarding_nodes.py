"""Any node serves any API request (issue 18): two real `switchboard serve` processes on one
PostgreSQL schema, a call created on node A, and updateCall, PUT .../bxml, GET and the callee
controls sent to node B with the official SDK. B does not run the call - on its own it could
only answer 409 to an update - so every effect seen (a redirect the owner's interpreter makes,
the call ending) shows the request reached the owner; and what B answers is what A, the node
that runs the call, answers to the same request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import ApiException
from bandwidth.models.call_state_enum import CallStateEnum
from bandwidth.models.create_call import CreateCall
from bandwidth.models.update_call import UpdateCall

from tests.integration.nodes.cluster import ACCOUNT, APPLICATION, AUTH, NUMBER, start_nodes
from tests.integration.reliability.process import ServerProcess, wait_until
from tests.support.postgres import drop_schema, fresh_schema
from tests.support.receiver import Receiver

pytestmark = pytest.mark.slow
WAIT_SECONDS = 20.0  # another process's callbacks, in real time (a scaled clock)
HOLD = "<Response><Pause duration='3600'/></Response>"


# One pair of nodes for the module (starting one costs seconds); each test has its own calls.
@pytest.fixture(scope="module")
def schema(postgres_url: str) -> Iterator[str]:
    name = fresh_schema(postgres_url)
    yield name
    drop_schema(postgres_url, name)


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, schema: str
) -> Iterator[list[ServerProcess]]:
    running = start_nodes(tmp_path_factory.mktemp("nodes"), postgres_url, schema, 2)
    yield running
    for node in running:
        node.stop()


@pytest.fixture(scope="module")
def app() -> Iterator[Receiver]:
    receiver = Receiver().start()
    for path in ("/answer", "/after-put", "/after-update"):
        receiver.on(path, HOLD)
    yield receiver
    receiver.stop()


def calls_api(node: ServerProcess, password: str = AUTH[1]) -> CallsApi:
    return CallsApi(
        ApiClient(
            Configuration(
                username=AUTH[0],
                password=password,
                host=f"{node.base_url}/api/v2",
                ignore_operation_servers=True,
            )
        )
    )


def create_live_call(node: ServerProcess, app: Receiver) -> str:
    call = calls_api(node).create_call(
        ACCOUNT,
        CreateCall(
            to="+15555550199",
            var_from=NUMBER,
            application_id=APPLICATION,
            answer_url=app.url("/answer"),
            disconnect_url=app.url("/disconnect"),
        ),
    )
    call_id = str(call.call_id)
    wait_until(lambda: callbacks(app, "/answer", call_id), WAIT_SECONDS, "the answer", server=node)
    return call_id


def callbacks(app: Receiver, path: str, call_id: str) -> list[dict[str, Any]]:
    return [r.event for r in app.requests(path) if r.event.get("callId") == call_id]


def content_type(headers: Any) -> str | None:
    found = [str(v) for k, v in dict(headers or {}).items() if k.lower() == "content-type"]
    return found[0] if found else None


def refusal(request: Any) -> tuple[int, str, str | None]:
    """What the SDK raises for a request that is refused: status, body, content type."""
    with pytest.raises(ApiException) as raised:
        request()
    error = raised.value
    return error.status, str(error.body), content_type(error.headers)


def same_state(a: ServerProcess, b: ServerProcess, call_id: str) -> dict[str, Any]:
    """GET of the call on both nodes through the SDK: the same status, headers and body."""
    on_a = calls_api(a).get_call_state_with_http_info(ACCOUNT, call_id)
    on_b = calls_api(b).get_call_state_with_http_info(ACCOUNT, call_id)
    assert (on_b.status_code, on_b.raw_data) == (on_a.status_code, on_a.raw_data)
    assert content_type(on_b.headers) == content_type(on_a.headers) is not None
    state: dict[str, Any] = on_b.data.to_dict()
    return state


def test_a_call_on_node_a_is_controlled_through_node_b_as_through_one_node(
    nodes: list[ServerProcess], app: Receiver
) -> None:
    a, b = nodes
    call_id = create_live_call(a, app)
    on_b = calls_api(b)

    state = same_state(a, b, call_id)
    assert (state["callId"], state["state"]) == (call_id, "answered")

    # PUT .../bxml through B: the owner's interpreter runs the new document (its redirect).
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Bxml><Redirect redirectUrl="{app.url("/after-put")}"/></Bxml>'
    )
    assert on_b.update_call_bxml_with_http_info(ACCOUNT, call_id, document).status_code == 204
    wait_until(lambda: callbacks(app, "/after-put", call_id), WAIT_SECONDS, "the PUT's redirect")

    # updateCall through B: a redirect, then the hangup.
    redirect = UpdateCall(redirect_url=app.url("/after-update"))
    assert on_b.update_call_with_http_info(ACCOUNT, call_id, redirect).status_code == 200
    wait_until(
        lambda: callbacks(app, "/after-update", call_id), WAIT_SECONDS, "updateCall's redirect"
    )
    [redirected] = callbacks(app, "/after-update", call_id)
    assert redirected["eventType"] == "redirect"

    # Refusals the owner gives, B gives the same, byte for byte.
    bad_bxml = "<Bxml><NoSuchVerb/></Bxml>"
    on_a_refused = refusal(lambda: calls_api(a).update_call_bxml(ACCOUNT, call_id, bad_bxml))
    assert on_a_refused[0] == 400
    assert refusal(lambda: on_b.update_call_bxml(ACCOUNT, call_id, bad_bxml)) == on_a_refused

    hangup = UpdateCall(state=CallStateEnum.COMPLETED)
    assert on_b.update_call_with_http_info(ACCOUNT, call_id, hangup).status_code == 200
    wait_until(lambda: callbacks(app, "/disconnect", call_id), WAIT_SECONDS, "the disconnect")
    [disconnect] = callbacks(app, "/disconnect", call_id)
    assert disconnect["cause"] == "hangup"

    # Ended: both nodes read it from the database alike; an update is refused alike.
    wait_until(
        lambda: calls_api(b).get_call_state(ACCOUNT, call_id).state == "disconnected",
        WAIT_SECONDS,
        "the stored end",
    )
    state = same_state(a, b, call_id)
    assert (state["state"], state["disconnectCause"]) == ("disconnected", "hangup")
    ended_on_a = refusal(lambda: calls_api(a).update_call(ACCOUNT, call_id, redirect))
    assert ended_on_a[0] == 409
    assert refusal(lambda: on_b.update_call(ACCOUNT, call_id, redirect)) == ended_on_a


def test_the_callee_hangs_up_through_node_b(nodes: list[ServerProcess], app: Receiver) -> None:
    a, b = nodes
    call_id = create_live_call(a, app)

    response = httpx.post(
        f"{b.base_url}/switchboard/v1/accounts/{ACCOUNT}/calls/{call_id}/callee",
        auth=AUTH,
        json={"action": "hangup"},
        timeout=10,
    )

    assert response.status_code == 204, response.text
    wait_until(lambda: callbacks(app, "/disconnect", call_id), WAIT_SECONDS, "the disconnect")
    [disconnect] = callbacks(app, "/disconnect", call_id)
    assert disconnect["cause"] == "hangup"


def test_node_b_refuses_strangers_itself_as_one_node(
    nodes: list[ServerProcess], app: Receiver
) -> None:
    a, b = nodes
    call_id = create_live_call(a, app)
    hangup = UpdateCall(state=CallStateEnum.COMPLETED)

    for node in (a, b):
        status, body, _ = refusal(
            lambda node=node: calls_api(node, "wrong-password").update_call(
                ACCOUNT, call_id, hangup
            )
        )
        assert status == 401, body
        status, body, _ = refusal(
            lambda node=node: calls_api(node).update_call(ACCOUNT, "c-no-such-call", hangup)
        )
        assert status == 404, body

    # The call lives on.
    assert calls_api(b).get_call_state(ACCOUNT, call_id).state == "answered"
    assert callbacks(app, "/disconnect", call_id) == []
