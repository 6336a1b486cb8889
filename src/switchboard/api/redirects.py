"""Starlette's trailing-slash redirect (307) builds an absolute Location from the request's
Host header: any client could make the server hand out a link to a host of its choosing
(issue 23). Its Location is rewritten to the path alone, or to `[server] public_url` and the
path when one is set (a relative path would drop the proxy's path prefix)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REDIRECTS = frozenset((301, 302, 303, 307, 308))


class HostFreeRedirects:
    def __init__(self, app: ASGIApp, public_url: str | None) -> None:
        self.app = app
        self.public_url = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def rewriting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in _REDIRECTS:
                message = dict(message)
                message["headers"] = [
                    (name, self._location(value) if name == b"location" else value)
                    for name, value in message.get("headers", ())
                ]
            await send(message)

        await self.app(scope, receive, rewriting_send)

    def _location(self, value: bytes) -> bytes:
        target = urlsplit(value.decode("latin-1"))
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        if self.public_url is not None:
            return (self.public_url + path).encode("latin-1")
        return path.encode("latin-1")
