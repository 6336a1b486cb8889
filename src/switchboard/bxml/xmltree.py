"""Hardened XML reading: untrusted bytes in, a small element tree out, or a BxmlError saying where.

BXML comes from whatever server a customer points us at, so the reader trusts nothing:

- at most 64 KB (Bandwidth's documented limit), checked before any parsing;
- UTF-8 text (US-ASCII and ISO-8859-1 when declared), never binary, UTF-16 or a codec that expat
  would have to guess; a bad byte is reported at its line and column;
- no DOCTYPE at all: the declaration is refused as soon as expat sees it, before an internal
  subset is read, so entity bombs never expand and external entities are never fetched;
- a nesting depth limit, so a deep document cannot exhaust the stack of whoever walks the tree.

Only elements, attributes and character data survive; comments and processing instructions are
dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from .errors import BxmlError

MAX_DOCUMENT_BYTES = 64 * 1024
# BXML needs four levels (root, Gather, SpeakSentence, SSML); the rest is room for nested SSML.
MAX_DEPTH = 32

_DECLARED_ENCODING = re.compile(rb"""^<\?xml\s[^>]*?encoding\s*=\s*["']([^"']*)["']""")
# Expat decodes these itself; anything else would be a guess about what the bytes mean.
_ENCODINGS = {"utf-8": "utf-8", "us-ascii": "ascii", "iso-8859-1": "latin-1"}
# Characters XML 1.0 forbids outright; seeing one almost always means binary data.
_FORBIDDEN_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ENTITY_HINT = (
    "only &amp; &lt; &gt; &quot; &apos; and character references such as &#233; are allowed"
)


@dataclass(frozen=True, slots=True)
class Text:
    """Character data, with where it starts."""

    value: str
    line: int
    column: int


@dataclass(slots=True)
class Element:
    """An element, with where its start tag begins. Children keep document order (mixed content
    matters for SSML)."""

    name: str
    attributes: dict[str, str]
    line: int
    column: int
    children: list[Element | Text] = field(default_factory=list)

    def elements(self) -> list[Element]:
        return [child for child in self.children if isinstance(child, Element)]

    def texts(self) -> list[Text]:
        return [child for child in self.children if isinstance(child, Text)]

    def text(self) -> str:
        """All character data directly inside this element."""
        return "".join(text.value for text in self.texts())


def read_xml(data: bytes | str) -> Element:
    """Parse one untrusted XML document into its root element, or raise BxmlError."""
    text = _decode(data)
    return _TreeBuilder().build(text)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as error:
            line, column = _position_in_text(data, error.start)
            raise BxmlError(
                "the document contains an unpaired surrogate, which is not text", line, column
            ) from None
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        raise BxmlError(f"BXML must be bytes or str, got {type(data).__name__}")

    if len(raw) > MAX_DOCUMENT_BYTES:
        raise BxmlError(
            f"the document is {len(raw)} bytes; BXML documents are limited to "
            f"{MAX_DOCUMENT_BYTES} bytes (64 KB)"
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BxmlError(
            "the document is UTF-16 (it starts with a UTF-16 byte-order mark); BXML must be UTF-8"
        )
    if b"\x00" in raw:
        line, column = _position_in_bytes(raw, raw.index(b"\x00"))
        raise BxmlError(
            "the document contains NUL bytes: it is binary data or UTF-16, not UTF-8 XML text",
            line,
            column,
        )
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if not raw.strip():
        raise BxmlError("the document is empty; a BXML document needs a root element")

    codec, encoding_name = "utf-8", "UTF-8"
    declared = _DECLARED_ENCODING.match(raw)
    if declared is not None:
        encoding_name = declared.group(1).decode("ascii", "replace")
        codec_or_none = _ENCODINGS.get(encoding_name.lower())
        if codec_or_none is None:
            raise BxmlError(
                f"the XML declaration says encoding {encoding_name!r}; BXML must be UTF-8 "
                "(US-ASCII and ISO-8859-1 are also accepted)",
                1,
                declared.start(1) + 1,
            )
        codec = codec_or_none
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as error:
        line, column = _position_in_bytes(raw, error.start)
        raise BxmlError(
            f"byte 0x{raw[error.start]:02x} is not valid {encoding_name}: the document is not "
            f"{encoding_name} text (declared with the wrong encoding, or binary data)",
            line,
            column,
        ) from None

    bad = _FORBIDDEN_CHARACTER.search(text)
    if bad is not None:
        line, column = _position_in_text(text, bad.start())
        raise BxmlError(
            f"control character U+{ord(bad.group()):04X} is not allowed in XML "
            "(is this binary data?)",
            line,
            column,
        )
    return text


def _position_in_bytes(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", "replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column


def _position_in_text(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


_HANDLERS = (
    "StartDoctypeDeclHandler",
    "EntityDeclHandler",
    "ExternalEntityRefHandler",
    "StartElementHandler",
    "EndElementHandler",
    "CharacterDataHandler",
)


class _TreeBuilder:
    def __init__(self) -> None:
        self._parser = expat.ParserCreate()
        self._root: Element | None = None
        self._stack: list[Element] = []
        self._lines: list[str] = []
        parser = self._parser
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._refuse_doctype
        parser.EntityDeclHandler = self._refuse_entity
        parser.ExternalEntityRefHandler = self._refuse_external_entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters

    def build(self, text: str) -> Element:
        self._lines = text.splitlines()
        try:
            self._parser.Parse(text, True)
        except expat.ExpatError as error:
            raise self._explain(error) from None
        finally:
            # The parser's handlers are this builder's methods: a cycle that only the garbage
            # collector would free (switchboard/collector.py). A parser is used once.
            for handler in _HANDLERS:
                setattr(self._parser, handler, None)
        assert self._root is not None  # expat reports "no element found" otherwise
        return self._root

    def _position(self) -> tuple[int, int]:
        # Expat columns are 0-based; editors and our messages count from 1.
        return self._parser.CurrentLineNumber, self._parser.CurrentColumnNumber + 1

    def _refuse_doctype(self, *_: object) -> None:
        line, column = self._position()
        # Expat calls this after the doctype's name; point at "<!DOCTYPE" itself.
        line_text = self._lines[line - 1] if line <= len(self._lines) else ""
        start = line_text.rfind("<!DOCTYPE", 0, column)
        raise BxmlError(
            "DOCTYPE declarations are not allowed in BXML (they can declare entities that "
            "expand without bound or load external files)",
            line,
            start + 1 if start >= 0 else column,
        )

    def _refuse_entity(self, *_: object) -> None:
        raise BxmlError("entity declarations are not allowed in BXML", *self._position())

    def _refuse_external_entity(self, *_: object) -> int:
        raise BxmlError("external entities are not allowed in BXML", *self._position())

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        line, column = self._position()
        if len(self._stack) >= MAX_DEPTH:
            raise BxmlError(
                f"elements are nested more than {MAX_DEPTH} deep; BXML never needs that many",
                line,
                column,
            )
        element = Element(name, dict(attributes), line, column)
        if self._stack:
            self._stack[-1].children.append(element)
        else:
            self._root = element
        self._stack.append(element)

    def _end(self, _name: str) -> None:
        self._stack.pop()

    def _characters(self, data: str) -> None:
        if not self._stack:
            return
        children = self._stack[-1].children
        # Expat hands text over in pieces (per line, per entity); keep one run with its start.
        if children and isinstance(children[-1], Text):
            last = children[-1]
            children[-1] = Text(last.value + data, last.line, last.column)
        else:
            children.append(Text(data, *self._position()))

    def _explain(self, error: expat.ExpatError) -> BxmlError:
        code = error.code
        line, column = error.lineno, error.offset + 1
        if code == _code("XML_ERROR_UNDEFINED_ENTITY"):
            message = f"undefined entity: {_ENTITY_HINT}"
        elif code == _code("XML_ERROR_TAG_MISMATCH") and self._stack:
            message = f"mismatched tag: expected </{self._stack[-1].name}>"
        elif code == _code("XML_ERROR_NO_ELEMENTS"):
            message = (
                f"the document ended before </{self._stack[0].name}> closed it"
                if self._stack
                else "the document has no root element"
            )
        elif code == _code("XML_ERROR_JUNK_AFTER_DOC_ELEMENT"):
            message = "content after the root element: a BXML document has exactly one root"
        else:
            message = f"malformed XML: {expat.ErrorString(code)}"
        return BxmlError(message, line, column)


def _code(name: str) -> int:
    return expat.errors.codes[getattr(expat.errors, name)]
