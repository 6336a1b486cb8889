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
from .parser import check_bxml, find_bxml_problems, parse_bxml
from .verbs import NONE_ATTRIBUTE_WARNING, Document, NoneAttribute

__all__ = [
    "NONE_ATTRIBUTE_WARNING",
    "BxmlError",
    "Document",
    "Interpreter",
    "NoneAttribute",
    "State",
    "actions",
    "check_bxml",
    "events",
    "find_bxml_problems",
    "parse_bxml",
    "verbs",
]
