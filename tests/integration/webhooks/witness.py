"""Helpers for the destination tests: a listener nobody may reach, and a small WAV file."""

from __future__ import annotations

import io
import socket
import wave


class Witness:
    """A listening socket nobody should reach. Connecting completes in the kernel and waits in
    the backlog, so `connections()` tells afterwards, without timing, whether anyone did."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.socket = socket.socket()
        self.socket.bind((host, 0))
        self.socket.listen()
        self.socket.setblocking(False)
        self.port: int = self.socket.getsockname()[1]

    def url(self, path: str, host: str | None = None) -> str:
        """A URL to this listener, by its address or by another name for it ("localhost")."""
        return f"http://{host or self.host}:{self.port}{path}"

    def connections(self) -> int:
        count = 0
        while True:
            try:
                accepted, _ = self.socket.accept()
            except BlockingIOError:
                return count
            accepted.close()
            count += 1

    def close(self) -> None:
        self.socket.close()


def wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()
