"""BXML to a typed Document: parse_bxml raises the first problem, find_bxml_problems lists all.

Reading is strict, because a developer learns more from an error at line 3, column 5 than from a
call that silently does something else: unknown elements and attributes, misspelt or wrongly cased
names, and out-of-range values are all problems, each with a hint when one helps.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any, Literal

from switchboard.url_credentials import split_credentials

from . import attributes as a
from .errors import BxmlError
from .schema import (
    MAX_GATHER_PROMPT_PLAYS,
    MAX_TRANSFER_TARGETS,
    NESTED_ONLY,
    PROMPT_VERBS,
    SCHEMAS,
    SEND_DTMF_MAX_DIGITS,
    TRANSFER_TARGETS,
    UNSUPPORTED_VERBS,
    VerbSchema,
)
from .speech import SSML_TAGS, render
from .verbs import (
    Document,
    NoneAttribute,
    PlayAudio,
    Prompt,
    SpeakSentence,
    TransferTarget,
    UnsupportedVerb,
    Verb,
)
from .xmltree import Element, Text, read_xml

Root = Literal["Response", "Bxml"]

_ROOT_PURPOSE = {
    "Response": "<Response> is what callbacks answer with",
    "Bxml": "<Bxml> is the body of PUT .../calls/{callId}/bxml",
}
# The roots each kind of document may have, the first the one Bandwidth's spec shows. A PUT
# .../bxml body may also be a <Response>: the spec's examples use <Bxml>, but Bandwidth's own
# SDKs (their smoke tests build `Bxml.Response(...)`) and its samples send <Response> there, and
# Bandwidth's cloud takes both. The verbs are the same either way.
_ACCEPTED_ROOTS: dict[Root, tuple[Root, ...]] = {
    "Response": ("Response",),
    "Bxml": ("Bxml", "Response"),
}
_ROOT_OF: dict[str, Root] = {"Response": "Response", "Bxml": "Bxml"}
# bandwidth-sdk 15.0.0 to 16.0.0 writes an unset numeric or boolean attribute as str(None).
# Bandwidth's cloud runs those documents, so an attribute with exactly this value is read as
# absent (its default applies) and reported as a warning, not refused.
UNSET = "None"
_SEND_DTMF_DIGITS = a.dtmf_digits(
    allow_pauses=True, max_length=SEND_DTMF_MAX_DIGITS, allow_empty=False
)


def parse_bxml(
    data: bytes | str, *, root: Root = "Response", base_url: str | None = None
) -> Document:
    """Parse a BXML document, resolving relative URLs against `base_url` (the URL that served
    it). `root` says what the document is for: "Response" a callback's answer (<Response>
    only), "Bxml" a PUT .../bxml body (<Bxml> or <Response>); the Document's `root` is the one
    it has. Raises BxmlError for the first problem found."""
    document, problems = _read(data, root, base_url)
    if problems:
        # Taken out of the list: a local that held the error would tie it, its traceback and
        # every frame on it (the caller's too) into a cycle (see switchboard/collector.py).
        raise problems.pop(0)
    return document


def find_bxml_problems(
    data: bytes | str, *, root: Root = "Response", base_url: str | None = None
) -> list[BxmlError]:
    """Every problem in a BXML document, in document order; empty when it would run.

    Malformed XML stops the reading, so only what came before it is checked.
    """
    return _read(data, root, base_url)[1]


def check_bxml(
    data: bytes | str, *, root: Root = "Response"
) -> tuple[list[BxmlError], tuple[NoneAttribute, ...]]:
    """What `switchboard bxml check` reports: every problem (as find_bxml_problems), and the
    attributes written as "None" that a call would read as unset."""
    document, problems = _read(data, root, None)
    return problems, document.none_attributes


def _read(data: bytes | str, root: Root, base_url: str | None) -> tuple[Document, list[BxmlError]]:
    try:
        tree = read_xml(data)
    except BxmlError as error:
        return Document((), root, base_url), [error]
    reader = _DocumentReader(base_url)
    document = reader.read(tree, root)
    problems = sorted(reader.problems, key=lambda error: (error.line or 0, error.column or 0))
    return document, problems


class _DocumentReader:
    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self.problems: list[BxmlError] = []
        self.none_attributes: list[NoneAttribute] = []

    def problem(self, message: str, node: Element | Text) -> None:
        self.problems.append(BxmlError(message, node.line, node.column))

    def read(self, tree: Element, root: Root) -> Document:
        accepted = _ACCEPTED_ROOTS[root]
        if tree.name not in accepted:
            names = " or ".join(f"<{name}>" for name in accepted)
            message = f"the root element must be {names}, got <{tree.name}>"
            if tree.name in _ROOT_PURPOSE:
                message += f" ({_ROOT_PURPOSE[root]}; {_ROOT_PURPOSE[tree.name]})"
            self.problem(message, tree)
        else:
            root = _ROOT_OF[tree.name]
        for name in tree.attributes:
            self.problem(f"<{tree.name}> takes no attributes, got {name!r}", tree)
        self._no_text(tree)
        verbs: list[Verb] = []
        for element in tree.elements():
            verb = self._verb(element)
            if verb is not None:
                verbs.append(verb)
        return Document(tuple(verbs), root, self.base_url, tuple(self.none_attributes))

    def _verb(self, element: Element) -> Verb | None:
        schema = SCHEMAS.get(element.name)
        if schema is None:
            known_attributes = UNSUPPORTED_VERBS.get(element.name)
            if known_attributes is None:
                self._unknown_element(element)
                return None
            for name, raw in element.attributes.items():
                if name not in known_attributes:
                    self._unknown_attribute(element, name, known_attributes)
                elif raw == UNSET:
                    self._none_attribute(element, name)
            # Its content (PhoneNumber, StreamParam...) is left alone until we run the verb.
            return UnsupportedVerb(element.name, element.line, element.column)

        problems_before = len(self.problems)
        fields = self._attributes(element, schema)
        _CONTENT_READERS[schema.content](self, element, fields)
        self._split_credentials(element, fields)
        if len(self.problems) > problems_before:
            return None
        verb = schema.verb(**fields, line=element.line, column=element.column)
        assert not isinstance(verb, TransferTarget)  # only ever built by _read_targets
        return verb

    def _attributes(self, element: Element, schema: VerbSchema) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        unset: set[str] = set()
        for name, raw in element.attributes.items():
            coerce = schema.attributes.get(name)
            if coerce is None:
                self._unknown_attribute(element, name, schema.attributes.keys())
                continue
            if raw == UNSET:
                self._none_attribute(element, name)
                unset.add(name)
                continue
            try:
                fields[_snake_case(name)] = coerce(raw, self.base_url)
            except a.InvalidValue as error:
                self.problem(f"<{element.name}> attribute {name} {error}, got {raw!r}", element)
        for name in sorted(schema.required - (element.attributes.keys() - unset)):
            hint = f' ({name}="{UNSET}" is read as unset)' if name in unset else ""
            self.problem(f"<{element.name}> needs the attribute {name}{hint}", element)
        return fields

    def _split_credentials(self, element: Element, fields: dict[str, Any]) -> None:
        """user:password@ off every URL attribute (DESIGN.md rule 7): from here on no URL
        that is stored, shown or sent carries it. The verb's username/password (or
        fallbackUsername/fallbackPassword, for the fallback URLs) take it unless they were
        given (then they win, as they did over the URL's own). The URLs sharing one pair must
        carry the same credentials or none; otherwise, which went where would be a guess."""
        carried: dict[str, list[tuple[str, tuple[str | None, str | None] | None]]] = {}
        for name, value in list(fields.items()):
            if not name.endswith("url") or not isinstance(value, str):
                continue
            bare, user, password = split_credentials(value)
            fields[name] = bare
            group = "fallback_" if "fallback" in name else ""
            pair = (user, password) if user is not None or password is not None else None
            carried.setdefault(group, []).append((name, pair))
        for group, urls in carried.items():
            pairs = {pair for _name, pair in urls}
            if pairs == {None} or fields.get(f"{group}username") is not None:
                continue
            if len(pairs) > 1:
                names = ", ".join(_camel_case(name) for name, _pair in urls)
                self.problem(
                    f"<{element.name}>: of {names}, which share {_camel_case(group + 'username')}"
                    f" and {_camel_case(group + 'password')}, not all carry the same "
                    "user:password@; give the credentials in those attributes instead",
                    element,
                )
                continue
            (pair,) = pairs
            assert pair is not None
            fields[f"{group}username"], fields[f"{group}password"] = pair

    def _none_attribute(self, element: Element, name: str) -> None:
        self.none_attributes.append(NoneAttribute(element.name, name, element.line, element.column))

    # Content readers: each checks what sits between the tags and adds it to the fields.

    def _read_empty(self, element: Element, _fields: dict[str, Any]) -> None:
        self._no_text(element)
        for child in element.elements():
            self.problem(f"<{child.name}> cannot be nested in <{element.name}>", child)

    def _read_ssml(self, element: Element, fields: dict[str, Any]) -> None:
        text, plain_text = render(element, self.problem)
        if not plain_text:
            self.problem(f"<{element.name}> needs text to speak", element)
        fields.update(text=text, plain_text=plain_text)

    def _read_url(self, element: Element, fields: dict[str, Any]) -> None:
        raw = self._leaf_text(element)
        try:
            fields["url"] = a.resolve_url(raw, self.base_url)
        except a.InvalidValue as error:
            self.problem(f"<{element.name}> content {error}, got {raw.strip()!r}", element)

    def _read_digits(self, element: Element, fields: dict[str, Any]) -> None:
        raw = self._leaf_text(element)
        try:
            fields["digits"] = _SEND_DTMF_DIGITS(raw, None)
        except a.InvalidValue as error:
            self.problem(f"<{element.name}> digits {error}, got {raw.strip()!r}", element)

    def _read_tag(self, element: Element, fields: dict[str, Any]) -> None:
        # tag.mdx: leading and trailing whitespace is trimmed; blank clears the tag.
        fields["value"] = self._leaf_text(element).strip() or None

    def _read_prompts(self, element: Element, fields: dict[str, Any]) -> None:
        self._no_text(element)
        prompts: list[Prompt] = []
        for child in element.elements():
            if child.name not in PROMPT_VERBS:
                self.problem(
                    f"<{child.name}> cannot be nested in <{element.name}>; "
                    "only <SpeakSentence> and <PlayAudio> can",
                    child,
                )
                continue
            prompt = self._verb(child)
            if isinstance(prompt, SpeakSentence | PlayAudio):
                prompts.append(prompt)
        repeat_count: int = fields.get("repeat_count", 1)
        plays = repeat_count * len(element.elements())
        if plays > MAX_GATHER_PROMPT_PLAYS:
            self.problem(
                f"<{element.name}> may play at most {MAX_GATHER_PROMPT_PLAYS} prompts: repeatCount "
                f"{repeat_count} x {len(element.elements())} nested verbs is {plays}",
                element,
            )
        fields["prompts"] = tuple(prompts)

    def _read_call_id(self, element: Element, fields: dict[str, Any]) -> None:
        """<Bridge>'s text: the callId of the call to join."""
        call_id = self._leaf_text(element).strip()
        if not call_id:
            self.problem(f"<{element.name}> needs the callId of the call to bridge", element)
        fields["target_call"] = call_id

    def _read_targets(self, element: Element, fields: dict[str, Any]) -> None:
        """<Transfer>'s 1 to 8 <PhoneNumber> / <SipUri> children."""
        self._no_text(element)
        targets: list[TransferTarget] = []
        children = element.elements()
        for child in children:
            schema = TRANSFER_TARGETS.get(child.name)
            if schema is None:
                self.problem(
                    f"<{child.name}> cannot be nested in <{element.name}>; "
                    "only <PhoneNumber> and <SipUri> can",
                    child,
                )
                continue
            problems_before = len(self.problems)
            target_fields = self._attributes(child, schema)
            self._split_credentials(child, target_fields)
            raw = self._leaf_text(child).strip()
            coerce = a.e164 if child.name == "PhoneNumber" else a.sip_uri
            try:
                destination = coerce(raw, None)
            except a.InvalidValue as error:
                self.problem(f"<{child.name}> {error}, got {raw!r}", child)
                continue
            if len(self.problems) == problems_before:
                targets.append(
                    TransferTarget(
                        kind=child.name,  # type: ignore[arg-type]
                        destination=destination,
                        **target_fields,
                        line=child.line,
                        column=child.column,
                    )
                )
        if not 1 <= len(children) <= MAX_TRANSFER_TARGETS:
            self.problem(
                f"<{element.name}> needs 1 to {MAX_TRANSFER_TARGETS} <PhoneNumber> or <SipUri> "
                f"to ring, got {len(children)}",
                element,
            )
        fields["targets"] = tuple(targets)

    def _leaf_text(self, element: Element) -> str:
        for child in element.elements():
            self.problem(f"<{child.name}> cannot be nested in <{element.name}>", child)
        return element.text()

    def _no_text(self, element: Element) -> None:
        for text in element.texts():
            if text.value.strip():
                snippet = text.value.strip()
                snippet = snippet if len(snippet) <= 40 else snippet[:37] + "..."
                self.problem(f"<{element.name}> takes no text, got {snippet!r}", text)

    def _unknown_element(self, element: Element) -> None:
        name = element.name
        if name in NESTED_ONLY:
            message = f"<{name}> can only appear inside <{NESTED_ONLY[name]}>"
        elif name in SSML_TAGS:
            message = f"<{name}> is SSML; it can only appear inside <SpeakSentence>"
        elif name in _ROOT_PURPOSE:
            message = f"<{name}> can only be the root element"
        else:
            message = f"<{name}> is not a BXML verb" + _suggest(
                name, [*SCHEMAS, *UNSUPPORTED_VERBS], "<{}>", "element"
            )
        self.problem(message, element)

    def _unknown_attribute(self, element: Element, name: str, known: Iterable[str]) -> None:
        names = sorted(known)
        hint = _suggest(name, names, "'{}'", "attribute") if names else " (it takes none)"
        self.problem(f"<{element.name}> has no attribute {name!r}{hint}", element)


def _suggest(name: str, candidates: list[str], shape: str, kind: str) -> str:
    lowered = name.lower()
    for candidate in candidates:
        if candidate.lower() == lowered:
            return f" (did you mean {shape.format(candidate)}? {kind} names are case-sensitive)"
    # A prefix ("Speak") is a likelier slip than whatever difflib finds closest.
    close = [c for c in candidates if c.lower().startswith(lowered)] or difflib.get_close_matches(
        name, candidates, n=1
    )
    return f" (did you mean {shape.format(close[0])}?)" if close else ""


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _snake_case(name: str) -> str:
    if name == "from":  # <Forward from=...>: a Python keyword
        return "from_"
    return re.sub(r"([A-Z])", r"_\1", name).lower()


_CONTENT_READERS = {
    "empty": _DocumentReader._read_empty,
    "ssml": _DocumentReader._read_ssml,
    "url": _DocumentReader._read_url,
    "digits": _DocumentReader._read_digits,
    "tag": _DocumentReader._read_tag,
    "prompts": _DocumentReader._read_prompts,
    "targets": _DocumentReader._read_targets,
    "call_id": _DocumentReader._read_call_id,
}
