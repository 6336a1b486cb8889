"""Logging set-up: one line per API request and per webhook delivery, as text or JSON."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

# Fields a log record may carry (logger.info(..., extra={...})) and a JSON line shows.
CONTEXT_FIELDS = (
    "event",
    "method",
    "path",
    "route",
    "status",
    "latency_ms",
    "account_id",
    "call_id",
    "event_type",
    "url",
    "outcome",
    "error",
    "error_id",
)


# Control characters (C0, DEL, C1) and Unicode's line and paragraph separators, as escapes: a
# request path is decoded (%0a becomes a newline), and written raw it could forge a log line.
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def escape_controls(text: str) -> str:
    """`text` on one line: every control character as its \\xNN escape."""
    return text.translate(_CONTROL_ESCAPES)


class TextFormatter(logging.Formatter):
    """One line per record whatever the values in it carry; a traceback, appended after the
    line by Formatter.format, keeps its own line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_logging(level: str = "info", log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("switchboard")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    if log_format == "json":
        # uvicorn's own lines (started, listening, shutting down) too: JSON means every line.
        # serve() then keeps uvicorn from installing its text handlers (log_config=None).
        server = logging.getLogger("uvicorn")
        server.handlers[:] = [handler]
        server.propagate = False
