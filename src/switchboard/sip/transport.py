"""Moving SIP messages over UDP or TCP on the asyncio loop (the default loop or uvloop).

Both transports hand whole, parsed messages to a handler and report failures to send as
transport errors with the destination they concern (RFC 3261 18.4: the UA treats them as 503).
Malformed input is logged and dropped; nothing a peer sends can raise out of here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import socket
import struct
import sys
from abc import ABC, abstractmethod
from typing import Protocol

from sipmessage import Request, Response

from switchboard.sip.messages import SipParseError, is_keepalive, parse_message

log = logging.getLogger("switchboard.sip")

Address = tuple[str, int]
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
# <linux/in.h> IP_RECVERR; Python's socket module does not export it.
_IP_RECVERR = 11
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$", re.I | re.M)


class TransportHandler(Protocol):
    def on_message(self, message: Request | Response, source: Address) -> None: ...

    def on_transport_error(self, destination: Address, error: OSError) -> None: ...


class SipTransport(ABC):
    name: str  # as written in Via: "UDP" or "TCP"
    reliable: bool  # reliable transports get no retransmissions (RFC 3261 17.1.1.2)
    local_address: Address

    def __init__(self, handler: TransportHandler) -> None:
        self._handler = handler

    @abstractmethod
    def send(self, data: bytes, destination: Address) -> None:
        """Send to an IP address (not a name: resolution is the caller's, and asynchronous)."""

    @abstractmethod
    async def close(self) -> None: ...

    def _deliver(self, data: bytes, source: Address) -> None:
        if is_keepalive(data):
            return
        try:
            message = parse_message(data)
        except SipParseError as error:
            log.warning("dropped a malformed SIP message from %s:%d: %s", *source, error)
            return
        try:
            self._handler.on_message(message, source)
        except Exception:
            # A bug handling one message must not take the transport (and every call) down.
            log.exception("error handling a SIP message from %s:%d", *source)

    def _report(self, destination: Address, error: OSError) -> None:
        try:
            self._handler.on_transport_error(destination, error)
        except Exception:
            log.exception("error handling a transport error for %s:%d", *destination)


async def open_transport(
    kind: str, host: str, port: int, handler: TransportHandler
) -> SipTransport:
    if kind == "udp":
        return await UdpTransport.open(host, port, handler)
    if kind == "tcp":
        return await TcpTransport.open(host, port, handler)
    raise ValueError(f"unknown SIP transport {kind!r}")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _address(raw: tuple[str, int] | tuple[str, int, int, int]) -> Address:
    return raw[0], raw[1]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._owner._deliver(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self._owner._error_received(exc)


class UdpTransport(SipTransport):
    name = "UDP"
    reliable = False

    def __init__(self, handler: TransportHandler, sock: socket.socket) -> None:
        super().__init__(handler)
        self._sock = sock
        self._transport: asyncio.DatagramTransport | None = None
        self._sending_to: Address | None = None
        self.local_address = _address(sock.getsockname())

    @classmethod
    async def open(cls, host: str, port: int, handler: TransportHandler) -> UdpTransport:
        sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        try:
            if sys.platform == "linux" and sock.family == socket.AF_INET:
                # Linux reports ICMP errors (port unreachable: nobody listens there) on an
                # unconnected UDP socket only with IP_RECVERR; the error queue then names the
                # destination, so the right call fails fast with 503 instead of after Timer B.
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
            sock.setblocking(False)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self = cls(handler, sock)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=sock)
        self._transport = transport
        return self

    def send(self, data: bytes, destination: Address) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        # The default loop reports a failed sendto through error_received, synchronously and
        # without the address: remember whom we were sending to.
        self._sending_to = destination
        try:
            self._transport.sendto(data, destination)
        except OSError as error:
            self._report(destination, error)
        finally:
            self._sending_to = None

    def _error_received(self, error: OSError) -> None:
        if self._sending_to is not None:
            self._report(self._sending_to, error)
            return
        reported = False
        for destination, queued in self._drain_error_queue():
            self._report(destination, queued)
            reported = True
        if not reported:
            log.warning("SIP UDP socket error without a destination: %s", error)

    def _drain_error_queue(self) -> list[tuple[Address, OSError]]:
        if not hasattr(socket, "MSG_ERRQUEUE"):
            return []
        found: list[tuple[Address, OSError]] = []
        flags = socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
        # Bounded: the queue is short, and a loop here must never spin.
        for _ in range(64):
            try:
                _, ancillary, _, address = self._sock.recvmsg(1, 512, flags)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            code = errno.ECONNREFUSED
            for _level, _type, data in ancillary:
                if len(data) >= 4:
                    # struct sock_extended_err starts with the errno as a u32.
                    code = struct.unpack_from("=I", data)[0]
            found.append((_address(address), OSError(code, "ICMP error from the network")))
        return found

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            # Give the loop one turn to run connection_lost and release the socket.
            await asyncio.sleep(0)


class StreamFramer:
    """Split a TCP byte stream into SIP messages by Content-Length (RFC 3261 18.3)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        messages: list[bytes] = []
        while True:
            # CRLFs between messages are keep-alives (RFC 5626 3.5.1).
            while self._buffer[:2] == b"\r\n":
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise SipParseError("header section too long")
                return messages
            head = bytes(self._buffer[:end])
            match = _CONTENT_LENGTH.search(head)
            # A stream message must carry Content-Length; without one, assume no body.
            length = int(match.group(1)) if match else 0
            if length > MAX_BODY_BYTES:
                raise SipParseError("body too long")
            total = end + 4 + length
            if len(self._buffer) < total:
                return messages
            messages.append(bytes(self._buffer[:total]))
            del self._buffer[:total]


class _Stream(asyncio.Protocol):
    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self._framer = StreamFramer()
        self._transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.peer = _address(transport.get_extra_info("peername"))
        self._owner._connections[self.peer] = self

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except SipParseError as error:
            log.warning("closing SIP TCP connection from %s:%d: %s", *self.peer, error)
            self.close()
            return
        for message in messages:
            self._owner._deliver(message, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._owner._connections.get(self.peer) is self:
            del self._owner._connections[self.peer]

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class TcpTransport(SipTransport):
    name = "TCP"
    reliable = True

    def __init__(self, handler: TransportHandler) -> None:
        super().__init__(handler)
        self._server: asyncio.Server | None = None
        self._connections: dict[Address, _Stream] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self._connecting: set[asyncio.Task[None]] = set()
        self.local_address = ("", 0)

    @classmethod
    async def open(cls, host: str, port: int, handler: TransportHandler) -> TcpTransport:
        self = cls(handler)
        loop = asyncio.get_running_loop()
        # Listening lets peers send in-dialog requests (BYE, re-INVITE) to our Contact.
        self._server = await loop.create_server(lambda: _Stream(self), host, port)
        self.local_address = _address(self._server.sockets[0].getsockname())
        return self

    def send(self, data: bytes, destination: Address) -> None:
        connection = self._connections.get(destination)
        if connection is not None:
            connection.write(data)
            return
        first = destination not in self._pending
        self._pending.setdefault(destination, []).append(data)
        if first:
            task = asyncio.get_running_loop().create_task(self._connect(destination))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, destination: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: _Stream(self), destination[0], destination[1])
        except OSError as error:
            self._pending.pop(destination, None)
            self._report(destination, error)
            return
        for data in self._pending.pop(destination, []):
            self.send(data, destination)

    async def close(self) -> None:
        for task in list(self._connecting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for connection in list(self._connections.values()):
            connection.close()
        self._connections.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
