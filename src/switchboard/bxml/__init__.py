"""BXML: parse (hardened) into typed verbs, and interpret them (pure: events in, actions out).

    document = parse_bxml(body, base_url=callback_url)
    interpreter = Interpreter(document, tag=call.tag)
    actions = interpreter.start()
    actions = interpreter.handle(events.MediaFinished())

The actions and events live in their own modules (`actions.Hangup` is not `verbs.Hangup`).
"""

from __future__ import annotations

from . import actions, events, verbs
from .errors import BxmlError
from .interpreter import Interpreter, State
from .parser import find_bxml_problems, parse_bxml
from .verbs import Document

__all__ = [
    "BxmlError",
    "Document",
    "Interpreter",
    "State",
    "actions",
    "events",
    "find_bxml_problems",
    "parse_bxml",
    "verbs",
]
