"""Unknown, misspelt and unsupported BXML: what the developer is told, and where."""

from __future__ import annotations

import pytest

from switchboard.bxml import BxmlError, find_bxml_problems, parse_bxml, verbs


def first_problem(data: str, **options: str) -> str:
    with pytest.raises(BxmlError) as caught:
        parse_bxml(data, **options)  # type: ignore[arg-type]
    return str(caught.value)


class TestRoot:
    def test_response_is_the_default_root(self) -> None:
        assert parse_bxml("<Response/>").root == "Response"

    def test_bxml_is_the_root_for_put_bxml(self) -> None:
        document = parse_bxml("<Bxml><Pause/></Bxml>", root="Bxml")
        assert document.root == "Bxml"
        assert document.verbs == (verbs.Pause(line=1, column=7),)

    def test_a_bxml_root_where_a_response_is_expected_names_both(self) -> None:
        assert first_problem("<Bxml/>") == (
            "line 1, column 1: the root element must be <Response>, got <Bxml> "
            "(<Response> is what callbacks answer with; "
            "<Bxml> is the body of PUT .../calls/{callId}/bxml)"
        )

    def test_put_bxml_takes_a_response_root_too_with_the_same_verbs(self) -> None:
        # Bandwidth's own SDKs and samples send <Response> to PUT .../bxml.
        document = parse_bxml("<Response><Pause/></Response>", root="Bxml")
        assert document.root == "Response"
        assert document.verbs == (verbs.Pause(line=1, column=11),)
        assert first_problem("<Response><Dance/></Response>", root="Bxml") == (
            "line 1, column 11: <Dance> is not a BXML verb"
        )

    def test_any_other_root_is_an_error(self) -> None:
        assert first_problem("<html/>") == (
            "line 1, column 1: the root element must be <Response>, got <html>"
        )
        assert first_problem("<html/>", root="Bxml") == (
            "line 1, column 1: the root element must be <Bxml> or <Response>, got <html>"
        )

    def test_the_root_takes_no_attributes_and_no_text(self) -> None:
        problems = find_bxml_problems('<Response version="2">hello</Response>')
        assert [p.message for p in problems] == [
            "<Response> takes no attributes, got 'version'",
            "<Response> takes no text, got 'hello'",
        ]


class TestUnknownElements:
    def test_an_unknown_verb_is_reported_at_its_line_and_column(self) -> None:
        assert first_problem("<Response>\n  <Pause/>\n    <Dance/>\n</Response>") == (
            "line 3, column 5: <Dance> is not a BXML verb"
        )

    @pytest.mark.parametrize(
        ("element", "hint"),
        [
            ("speakSentence", "(did you mean <SpeakSentence>? element names are case-sensitive)"),
            ("HANGUP", "(did you mean <Hangup>? element names are case-sensitive)"),
            ("Speak", "(did you mean <SpeakSentence>?)"),
            ("PlayAudo", "(did you mean <PlayAudio>?)"),
            ("Trasnfer", "(did you mean <Transfer>?)"),
        ],
    )
    def test_a_misspelt_verb_gets_a_suggestion(self, element: str, hint: str) -> None:
        assert first_problem(f"<Response><{element}/></Response>").endswith(
            f"<{element}> is not a BXML verb {hint}"
        )

    @pytest.mark.parametrize(
        ("element", "parent"),
        [("PhoneNumber", "Transfer"), ("SipUri", "Transfer"), ("StreamParam", "StartStream")],
    )
    def test_a_nested_only_element_at_the_top_says_where_it_belongs(
        self, element: str, parent: str
    ) -> None:
        assert first_problem(f"<Response><{element}/></Response>").endswith(
            f"<{element}> can only appear inside <{parent}>"
        )

    def test_ssml_outside_speak_sentence_says_so(self) -> None:
        assert first_problem("<Response><break/></Response>").endswith(
            "<break> is SSML; it can only appear inside <SpeakSentence>"
        )

    def test_a_nested_root_says_so(self) -> None:
        assert first_problem("<Response><Response/></Response>").endswith(
            "<Response> can only be the root element"
        )


class TestUnknownAttributes:
    def test_an_unknown_attribute_is_reported_on_its_element(self) -> None:
        assert first_problem('<Response>\n   <Pause length="3"/>\n</Response>') == (
            "line 2, column 4: <Pause> has no attribute 'length'"
        )

    def test_attribute_names_are_case_sensitive_as_bandwidth_spells_them(self) -> None:
        assert first_problem('<Response><Gather gatherURL="/g"/></Response>').endswith(
            "<Gather> has no attribute 'gatherURL' "
            "(did you mean 'gatherUrl'? attribute names are case-sensitive)"
        )

    def test_a_close_attribute_name_gets_a_suggestion(self) -> None:
        assert first_problem('<Response><Gather maxDigit="3"/></Response>').endswith(
            "(did you mean 'maxDigits'?)"
        )

    def test_a_verb_without_attributes_says_it_takes_none(self) -> None:
        assert first_problem('<Response><Hangup cause="busy"/></Response>').endswith(
            "<Hangup> has no attribute 'cause' (it takes none)"
        )


UNSUPPORTED = [
    "Conference",
    "StartStream",
    "StopStream",
    "StartTranscription",
    "StopTranscription",
    "Refer",
    "Connect",
]


class TestUnsupportedVerbs:
    @pytest.mark.parametrize("name", UNSUPPORTED)
    def test_a_bandwidth_verb_we_do_not_run_parses_as_unsupported(self, name: str) -> None:
        document = parse_bxml(
            f"<Response>\n <SpeakSentence>Hi</SpeakSentence>\n <{name}/></Response>"
        )
        assert document.verbs[1] == verbs.UnsupportedVerb(name, 3, 2)

    def test_its_content_is_left_for_later(self) -> None:
        document = parse_bxml(
            '<Response><StartStream destination="wss://x.example/s">'
            '<StreamParam name="a" value="b"/>'
            "</StartStream></Response>"
        )
        assert document.verbs == (verbs.UnsupportedVerb("StartStream", 1, 11),)

    def test_its_attribute_names_are_still_checked(self) -> None:
        assert first_problem('<Response><Record maxDuraton="60"/></Response>').endswith(
            "<Record> has no attribute 'maxDuraton' (did you mean 'maxDuration'?)"
        )


class TestFindBxmlProblems:
    def test_a_valid_document_has_no_problems(self) -> None:
        assert find_bxml_problems("<Response><SpeakSentence>Hi</SpeakSentence></Response>") == []

    def test_every_problem_is_listed_in_document_order(self) -> None:
        data = (
            "<Response>\n"
            '  <Gather maxDigits="abc" firstdigitTimeout="3">\n'
            "    <Pause/>\n"
            "  </Gather>\n"
            "  <Speak>hi</Speak>\n"
            "  <PlayAudio>ftp://x/a.wav</PlayAudio>\n"
            '  <Ring duration="0"/>\n'
            "</Response>"
        )
        assert [str(problem) for problem in find_bxml_problems(data)] == [
            "line 2, column 3: <Gather> attribute maxDigits must be an integer from 1 to 50, "
            "got 'abc'",
            "line 2, column 3: <Gather> has no attribute 'firstdigitTimeout' "
            "(did you mean 'firstDigitTimeout'? attribute names are case-sensitive)",
            "line 3, column 5: <Pause> cannot be nested in <Gather>; "
            "only <SpeakSentence> and <PlayAudio> can",
            "line 5, column 3: <Speak> is not a BXML verb (did you mean <SpeakSentence>?)",
            "line 6, column 3: <PlayAudio> content must be an http or https URL, "
            "got 'ftp://x/a.wav'",
            "line 7, column 3: <Ring> attribute duration must be a number from 0.1 to 86400, "
            "got '0'",
        ]

    def test_parse_bxml_raises_the_first_of_them(self) -> None:
        data = "<Response>\n<Dance/>\n<Pause length='1'/></Response>"
        assert first_problem(data) == str(find_bxml_problems(data)[0])

    def test_malformed_xml_is_a_single_problem(self) -> None:
        problems = find_bxml_problems("<Response><Pause></Response>")
        assert [str(p) for p in problems] == [
            "line 1, column 20: mismatched tag: expected </Pause>"
        ]

    def test_the_root_option_is_honoured(self) -> None:
        assert find_bxml_problems("<Bxml/>", root="Bxml") == []
        assert len(find_bxml_problems("<Bxml/>")) == 1
