"""An application under test, as an app author would write it: a tiny IVR answering BXML over
real HTTP (stdlib only). It greets, asks for a digit, says where the caller is sent, hangs up.
Every webhook it receives is kept, as an app's own log would."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

MENU = "Press 1 for sales, 2 for support."
DESTINATIONS = {"1": "sales", "2": "support"}


class IvrApp:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                event = json.loads(self.rfile.read(length) or b"{}")
                app.received.append(event)
                document = app.answer(self.path, event)
                body = document.encode()
                self.send_response(200 if body else 204)
                if body:
                    self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def answer(self, path: str, event: dict[str, Any]) -> str:
        if path in ("/answer", "/inbound"):
            return (
                f'<Response><Gather gatherUrl="{self.url("/menu")}" maxDigits="1" '
                f'firstDigitTimeout="5"><SpeakSentence>{MENU}</SpeakSentence></Gather>'
                "<SpeakSentence>We did not get your choice. Goodbye.</SpeakSentence>"
                "</Response>"
            )
        if path == "/menu":
            where = DESTINATIONS.get(event.get("digits", ""), "nowhere")
            return (
                f"<Response><SpeakSentence>{escape(where)}, please hold.</SpeakSentence>"
                "<Hangup/></Response>"
            )
        return ""  # status events: nothing to run

    def events(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e.get("eventType") == event_type]

    def __enter__(self) -> IvrApp:
        # A short poll interval: shutdown() waits for the serving loop to notice.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
