"""Unauthenticated clients cannot hold the server (issue 23): the request head is capped, a
slow or incomplete head times out (apart from idle keep-alive), and past a cap on connections
new ones are refused cleanly, with a reserve that still serves authenticated API requests."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.security.conftest import (
    GuardedServer,
    assert_bandwidth_error,
    closed_by_server,
    guarded_server,
    read_response,
)
from tests.support.server import ACCOUNT_ID, PASSWORD, USERNAME

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
AUTH = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
LIST_CALLS = (
    f"GET /api/v2/accounts/{ACCOUNT_ID}/calls HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    f"Authorization: {AUTH}\r\n\r\n"
).encode()


@pytest.fixture
def server(tmp_path: Path) -> GuardedServer:  # type: ignore[misc]
    with guarded_server(tmp_path) as running:
        yield running


def test_a_huge_header_is_refused_431_before_it_ends(server: GuardedServer) -> None:
    with server.connect() as client:
        # 1 MB of one header, never finished: the server must answer without reading it all.
        client.sendall(HEALTHZ + b"X-Big: ")
        sent = 0
        status = None
        while sent < 1_000_000:
            try:
                client.sendall(b"a" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 65536
        status, headers, body = read_response(client)
        assert status == 431
        assert headers["connection"] == "close"
        assert_bandwidth_error(body, "request-header-fields-too-large")
        assert closed_by_server(client)
    with server.connect() as client:  # and the server serves the next client at once
        client.sendall(HEALTHZ + b"\r\n")
        assert read_response(client)[0] == 200


def test_many_headers_adding_up_past_the_cap_are_refused(server: GuardedServer) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(200))  # ~22 KB
    with server.connect() as client:
        client.sendall(HEALTHZ + headers + b"\r\n")
        status, _, body = read_response(client)
        assert status == 431
        assert_bandwidth_error(body, "request-header-fields-too-large")


def test_a_head_just_under_the_cap_is_served(server: GuardedServer) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(140))  # ~15.6 KB
    assert len(HEALTHZ + headers) < 16 * 1024
    with server.connect() as client:
        client.sendall(HEALTHZ + headers + b"\r\n")
        assert read_response(client)[0] == 200


def test_a_request_line_of_exactly_the_cap_is_served(server: GuardedServer) -> None:
    target = b"/healthz?" + b"q" * (8192 - len(b"GET /healthz? HTTP/1.1"))
    line = b"GET " + target + b" HTTP/1.1"
    assert len(line) == 8192
    with server.connect() as client:
        client.sendall(line + b"\r\nHost: x\r\n\r\n")
        assert read_response(client)[0] == 200
    with server.connect() as client:
        client.sendall(b"GET " + target + b"q HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(client)[0] == 400


def test_an_overlong_request_line_is_refused_400(server: GuardedServer) -> None:
    with server.connect() as client:
        client.sendall(b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(client)
        assert status == 400
        parsed = assert_bandwidth_error(body, "validation")
        assert "request line" in str(parsed["description"])


def test_unparseable_http_gets_a_bandwidth_style_400(server: GuardedServer) -> None:
    with server.connect() as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost x\x00\r\n\r\n")
        status, _, body = read_response(client)
        assert status == 400
        assert_bandwidth_error(body, "validation")


def test_an_incomplete_head_is_closed_408_after_the_header_timeout(server: GuardedServer) -> None:
    with server.connect() as client:
        client.sendall(HEALTHZ)  # never the blank line that ends the head
        server.idle(11)  # header_timeout_seconds defaults to 10
        status, _, body = read_response(client)
        assert status == 408
        assert_bandwidth_error(body, "request-timeout")
        assert closed_by_server(client)
    server.until(lambda: server.open_connections() == 0)


def test_a_slow_head_within_the_timeout_is_served(server: GuardedServer) -> None:
    with server.connect() as client:
        client.sendall(HEALTHZ)
        server.idle(9)
        client.sendall(b"\r\n")
        assert read_response(client)[0] == 200


def test_a_head_dribbled_byte_by_byte_gets_no_more_time(server: GuardedServer) -> None:
    with server.connect() as client:
        for byte in HEALTHZ[:20]:  # slowloris: each byte in time, the head never done
            client.sendall(bytes([byte]))
            server.idle(1)
        status, _, body = read_response(client)
        assert status == 408
        assert_bandwidth_error(body, "request-timeout")


def test_a_silent_new_connection_is_closed_after_the_header_timeout(
    server: GuardedServer,
) -> None:
    with server.connect() as client:
        server.until(lambda: server.open_connections() == 1)
        server.idle(11)
        assert read_response(client)[0] == 408


def test_the_next_request_on_a_connection_gets_its_own_header_timeout(
    server: GuardedServer,
) -> None:
    with server.connect() as client:
        client.sendall(HEALTHZ + b"\r\n")  # at 0 s, on a new connection: served
        assert read_response(client)[0] == 200
        server.idle(5)
        client.sendall(HEALTHZ)  # at 5 s, the next head starts and stalls
        server.idle(6)  # 11 s after the connection opened, 6 s into this head
        client.setblocking(False)
        with pytest.raises(BlockingIOError):
            client.recv(1)  # nothing yet: this head has 4 s left
        client.setblocking(True)
        client.settimeout(10)
        server.idle(5)  # 11 s into this head
        status, _, body = read_response(client)
        assert status == 408
        assert_bandwidth_error(body, "request-timeout")


def test_idle_keep_alive_between_requests_is_not_the_header_timeout(
    server: GuardedServer,
) -> None:
    with server.connect() as client:
        client.sendall(HEALTHZ + b"\r\n")
        assert read_response(client)[0] == 200
        server.idle(60)  # idle after a complete request: keep-alive (75 s), not 10 s
        client.sendall(HEALTHZ + b"\r\n")
        assert read_response(client)[0] == 200


def test_past_the_connection_cap_a_new_connection_is_refused_503(tmp_path: Path) -> None:
    config = "\n[http]\nmax_connections = 4\nreserved_connections = 0\n"
    with guarded_server(tmp_path, config) as server:
        holders = [server.connect() for _ in range(4)]
        try:
            for holder in holders:  # each has made a request and idles, kept alive
                holder.sendall(HEALTHZ + b"\r\n")
                assert read_response(holder)[0] == 200
            with server.connect(counted=False) as refused:
                status, _, body = read_response(refused)
                assert status == 503
                assert_bandwidth_error(body, "system-overloaded")
                assert closed_by_server(refused)
            assert server.open_connections() == 4
            for holder in holders:  # and the kept-alive ones were left alone
                holder.sendall(HEALTHZ + b"\r\n")
                assert read_response(holder)[0] == 200
        finally:
            for holder in holders:
                holder.close()
        server.until(lambda: server.open_connections() == 0)
        with server.connect() as client:  # the slots came back
            client.sendall(HEALTHZ + b"\r\n")
            assert read_response(client)[0] == 200


def test_at_the_cap_the_oldest_half_open_connection_makes_room(tmp_path: Path) -> None:
    config = "\n[http]\nmax_connections = 4\nreserved_connections = 0\n"
    with guarded_server(tmp_path, config) as server:
        holders = [server.connect() for _ in range(4)]  # half-open: a head that never ends
        try:
            for holder in holders:
                holder.sendall(b"GET /healthz HTTP/1.1\r\n")
            first = server.connect()
            status, _, body = read_response(holders[0])  # the oldest made room
            assert status == 503
            assert_bandwidth_error(body, "system-overloaded")
            assert closed_by_server(holders[0])
            first.sendall(HEALTHZ + b"\r\n")
            assert read_response(first)[0] == 200  # and stays, kept alive: it sent a request
            holders.append(first)
            with server.connect() as second:
                assert read_response(holders[1])[0] == 503  # then the next oldest half-open
                second.sendall(HEALTHZ + b"\r\n")
                assert read_response(second)[0] == 200
            holders[2].sendall(b"Host: x\r\n\r\n")  # the others are still there
            assert read_response(holders[2])[0] == 200
        finally:
            for holder in holders:
                holder.close()


def test_half_open_connections_never_push_a_new_client_into_the_reserve(
    tmp_path: Path,
) -> None:
    config = "\n[http]\nmax_connections = 4\nreserved_connections = 2\n"
    with guarded_server(tmp_path, config) as server:
        holders = [server.connect() for _ in range(2)]  # half-open, up to the reserve
        try:
            for holder in holders:
                holder.sendall(b"GET /healthz HTTP/1.1\r\n")
            with server.connect() as client:  # makes room: the oldest half-open one goes
                assert read_response(holders[0])[0] == 503
                client.sendall(HEALTHZ + b"\r\n")  # anonymous, and served: not in the reserve
                status, headers, _ = read_response(client)
                assert status == 200
                assert headers.get("connection") != "close"
        finally:
            for holder in holders:
                holder.close()


def test_the_reserve_serves_authenticated_requests_only(tmp_path: Path) -> None:
    config = "\n[http]\nmax_connections = 4\nreserved_connections = 2\n"
    with guarded_server(tmp_path, config) as server:
        holders = [server.connect() for _ in range(2)]  # anonymous, kept alive
        try:
            for holder in holders:
                holder.sendall(HEALTHZ + b"\r\n")
                assert read_response(holder)[0] == 200
            server.until(lambda: server.open_connections() == 2)
            with server.connect() as anonymous:  # into the reserve, without credentials
                anonymous.sendall(HEALTHZ + b"\r\n")
                status, headers, body = read_response(anonymous)
                assert status == 503
                assert_bandwidth_error(body, "system-overloaded")
                assert closed_by_server(anonymous)
            server.until(lambda: server.open_connections() == 2)
            with server.connect() as api_client:  # into the reserve, with credentials
                api_client.sendall(LIST_CALLS)
                status, headers, body = read_response(api_client)
                assert status == 200, body
                assert body == b"[]"
                assert headers["connection"] == "close"  # the reserved slot frees itself
        finally:
            for holder in holders:
                holder.close()
