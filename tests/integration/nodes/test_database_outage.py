"""A node outlives its database's restart (issue 18): while it cannot renew its lease it says
so on /readyz and refuses new calls with a 503 a client can act on; when the database is back,
it reconnects, renews the lease it never lost to anyone, and takes calls again."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.nodes.cluster import post_call, start_nodes
from tests.integration.reliability.process import wait_until
from tests.support.postgres import Cluster, start_cluster, stop_cluster
from tests.support.receiver import Receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own: it is stopped and started again under a running node.
    (In a directory the cluster's user can enter: pytest's tmp_path is mode 0700.)"""
    directory = Path(tempfile.mkdtemp(prefix="switchboard-pg-outage-"))
    directory.chmod(0o755)
    cluster = start_cluster(directory)
    try:
        yield cluster
    finally:
        stop_cluster(directory)
        shutil.rmtree(directory, ignore_errors=True)  # nothing left behind in /tmp


def test_a_node_refuses_calls_while_its_database_is_away_and_recovers(
    tmp_path: Path, own_cluster: Cluster
) -> None:
    app = Receiver().start()
    app.on("/answer", "<Response><Hangup/></Response>")
    (node,) = start_nodes(tmp_path, own_cluster.url, "outage", 1)
    try:
        assert post_call(node, app, "+15555591000").status_code == 201
        stop_cluster(own_cluster.directory)
        wait_until(
            lambda: httpx.get(f"{node.base_url}/readyz", timeout=5).status_code == 503,
            15,
            "/readyz to say the node lost its lease",
            server=node,
        )
        ready = httpx.get(f"{node.base_url}/readyz", timeout=5).json()
        assert ready["description"] == (
            "Switchboard is not holding its node lease (the database is unreachable)"
        )
        refused = post_call(node, app, "+15555591001")
        assert refused.status_code == 503
        assert set(refused.json()) == {"type", "description", "id"}
        assert "lost touch with the database" in refused.json()["description"]

        assert start_cluster(own_cluster.directory).url == own_cluster.url  # the same port
        wait_until(
            lambda: httpx.get(f"{node.base_url}/readyz", timeout=5).status_code == 200,
            30,
            "the node ready again",
            server=node,
        )
        assert post_call(node, app, "+15555591002").status_code == 201
        wait_until(lambda: len(app.events("disconnect")) == 2, 30, "both calls ended", server=node)
    finally:
        node.stop()
        app.stop()
