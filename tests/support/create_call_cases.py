"""createCall bodies, valid and invalid, with the exact description a client must see.

One table for two layers: the unit tests feed it to `parse_create_call`, the integration tests
POST it to a running server, so every rule is checked both in isolation and as a user meets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from switchboard.calls.create_request import MachineDetection
from tests.support.server import APPLICATION_ID, FROM_NUMBER

MISSING_FIELDS = (
    "Missing at least one required field. Required fields are [from, to, answerUrl, applicationId]"
)
REMOVE = object()  # as a value in `changes`: drop the field from the body


def seed_body(**changes: Any) -> dict[str, Any]:
    """The seed's example body (with this test account's number), plus `changes`."""
    body: dict[str, Any] = {
        "from": FROM_NUMBER,
        "to": "+15555551313",
        "answerUrl": "http://www.myapp.com/hello",
        "applicationId": APPLICATION_ID,
    }
    for name, value in changes.items():
        if value is REMOVE:
            body.pop(name, None)
        else:
            body[name] = value
    return body


@dataclass(frozen=True)
class Case:
    name: str
    changes: dict[str, Any]
    description: str = ""  # for invalid cases: exactly what the client is told
    # For valid ones: fields of the 201 and their values. Every valid case has some: a case whose
    # own fields the 201 does not echo names the ones its change must leave as they were.
    echoed: dict[str, Any] = field(default_factory=dict)
    # For valid ones: fields the 201 does not echo, as the parsed request must hold them.
    kept: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return seed_body(**self.changes)

    def param(self) -> Any:
        return pytest.param(self, id=self.name)


def _long_url(length: int) -> str:
    prefix = "https://hooks.example.com/"
    return prefix + "a" * (length - len(prefix))


URL_FIELDS = ("answerUrl", "answerFallbackUrl", "disconnectUrl")
METHOD_FIELDS = ("answerMethod", "answerFallbackMethod", "disconnectMethod")
CREDENTIAL_FIELDS = ("username", "password", "fallbackUsername", "fallbackPassword")
MD_URL_FIELDS = ("callbackUrl", "fallbackUrl")
MD_METHOD_FIELDS = ("callbackMethod", "fallbackMethod")
MD_CREDENTIAL_FIELDS = ("username", "password", "fallbackUsername", "fallbackPassword")
MD_SECONDS_FIELDS = (
    "detectionTimeout",
    "silenceTimeout",
    "speechThreshold",
    "speechEndThreshold",
    "machineSpeechEndThreshold",
)
STRING_FIELDS = (
    "to",
    "from",
    "applicationId",
    *URL_FIELDS,
    *METHOD_FIELDS,
    *CREDENTIAL_FIELDS,
    "displayName",
    "uui",
    "tag",
)


def _invalid_cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    value: Any  # loop variables below hold every JSON type

    # -- required fields ----------------------------------------------------------------------
    for name in ("from", "to", "answerUrl", "applicationId"):
        add(Case(f"{name}-absent", {name: REMOVE}, MISSING_FIELDS))
        add(Case(f"{name}-null", {name: None}, MISSING_FIELDS))
        add(Case(f"{name}-empty", {name: ""}, MISSING_FIELDS))
    add(
        Case(
            "all-required-absent",
            {n: REMOVE for n in ("from", "to", "answerUrl", "applicationId")},
            MISSING_FIELDS,
        )
    )

    # -- wrong JSON types -----------------------------------------------------------------------
    for name in STRING_FIELDS:
        add(
            Case(
                f"{name}-number",
                {name: 15555551313},
                f"Invalid {name}: must be a string, got number",
            )
        )
    for value, kind in ((["+15555551313"], "array"), ({"n": 1}, "object"), (True, "boolean")):
        add(Case(f"to-{kind}", {"to": value}, f"Invalid to: must be a string, got {kind}"))
    for name in ("callTimeout", "callbackTimeout"):
        for value, kind in (("30", "string"), (True, "boolean"), ([30], "array"), ({}, "object")):
            add(
                Case(
                    f"{name}-{kind}", {name: value}, f"Invalid {name}: must be a number, got {kind}"
                )
            )
    for value, kind in (("1", "string"), (False, "boolean"), ([1], "array"), ({}, "object")):
        add(
            Case(
                f"priority-{kind}",
                {"priority": value},
                f"Invalid priority: must be an integer, got {kind}",
            )
        )
    for value, kind in (("true", "string"), (1, "number"), ([], "array")):
        add(
            Case(
                f"privacy-{kind}",
                {"privacy": value},
                f"Invalid privacy: must be true or false, got {kind}",
            )
        )

    # -- to: E.164 or a SIP URI -----------------------------------------------------------------
    e164_or_sip = "must be an E164 telephone number like +15555551212 or a SIP URI"
    for value in (
        "5555551313",
        "+05555551313",
        "+1234567890123456",
        "+1 555 555 1313",
        "tel:+15555551313",
        "+15555551313\n",
        "+",
        "bob@example.com",
    ):
        add(Case(f"to-{value!r}", {"to": value}, f"Invalid to: {e164_or_sip}, got '{value}'"))
    for value in ("sip:", "sip:bob@", "sip:bob@exa mple.com", "sip:bob@example.com\n"):
        add(
            Case(
                f"to-{value!r}",
                {"to": value},
                f"Invalid to: '{value}' is not a valid SIP URI (expected sip:user@host)",
            )
        )

    # -- from: E.164 (a number of the account is checked with the account, see the API tests) ----
    for value in ("5555551212", "sip:alice@example.com", "+15555551212\n", "+1-555-555-1212"):
        add(
            Case(
                f"from-{value!r}",
                {"from": value},
                f"Invalid from: must be an E164 telephone number like +15555551212, got '{value}'",
            )
        )
    add(
        Case(
            "applicationId-too-long",
            {"applicationId": "a" * 257},
            "Invalid applicationId: must be at most 256 characters, got 257",
        )
    )

    # -- URLs: http or https, absolute, at most 2048 characters ---------------------------------
    bad_urls = {
        "ftp": "ftp://hooks.example.com/answer",
        "relative": "/answer",
        "no-host": "http:///answer",
        "javascript": "javascript:alert(1)",
        "schemeless": "hooks.example.com/answer",
    }
    for name in URL_FIELDS:
        for label, value in bad_urls.items():
            add(
                Case(
                    f"{name}-{label}",
                    {name: value},
                    f"Invalid {name}: must be an absolute http or https URL, got '{value}'",
                )
            )
        add(
            Case(
                f"{name}-2049-chars",
                {name: _long_url(2049)},
                f"Invalid {name}: must be at most 2048 characters, got 2049",
            )
        )
    add(
        Case(
            "answerUrl-space",
            {"answerUrl": "http://my app.example.com/a"},
            "Invalid answerUrl: must not contain spaces or control characters, "
            "got 'http://my app.example.com/a'",
        )
    )
    add(
        Case(
            "answerUrl-newline",
            {"answerUrl": "http://example.com/a\n"},
            "Invalid answerUrl: must not contain spaces or control characters, "
            "got 'http://example.com/a\\n'",
        )
    )
    add(
        Case(
            "answerUrl-port-out-of-range",
            {"answerUrl": "http://example.com:99999/a"},
            "Invalid answerUrl: 'http://example.com:99999/a' is not a valid URL "
            "(Port out of range 0-65535)",
        )
    )
    add(
        Case(
            "answerUrl-bad-ipv6",
            {"answerUrl": "http://[::1/a"},
            "Invalid answerUrl: 'http://[::1/a' is not a valid URL (Invalid IPv6 URL)",
        )
    )

    # -- methods: GET or POST -------------------------------------------------------------------
    for name in METHOD_FIELDS:
        for value in ("PUT", "DELETE", "", "GETT"):
            add(
                Case(
                    f"{name}-{value!r}",
                    {name: value},
                    f"Invalid {name}: must be GET or POST, got '{value}'",
                )
            )

    # -- numeric ranges -----------------------------------------------------------------------
    for value in (0, 0.99, 300.01, 301, -5):
        add(
            Case(
                f"callTimeout-{value}",
                {"callTimeout": value},
                f"Invalid callTimeout: must be between 1 and 300, got {value}",
            )
        )
    for value in (0, 0.5, 25.5, 26):
        add(
            Case(
                f"callbackTimeout-{value}",
                {"callbackTimeout": value},
                f"Invalid callbackTimeout: must be between 1 and 25, got {value}",
            )
        )
    for value in (0, 6, -1, 100):
        add(
            Case(
                f"priority-{value}",
                {"priority": value},
                f"Invalid priority: must be between 1 and 5, got {value}",
            )
        )
    add(
        Case(
            "priority-2.5",
            {"priority": 2.5},
            "Invalid priority: must be an integer, got number 2.5",
        )
    )

    # -- lengths ------------------------------------------------------------------------------
    add(Case("tag-257", {"tag": "t" * 257}, "Invalid tag: must be at most 256 characters, got 257"))
    for name in CREDENTIAL_FIELDS:
        add(
            Case(
                f"{name}-1025",
                {name: "x" * 1025},
                f"Invalid {name}: must be at most 1024 characters, got 1025",
            )
        )

    # -- displayName and privacy ----------------------------------------------------------------
    add(
        Case(
            "displayName-257",
            {"displayName": "D" * 257},
            "Invalid displayName: must be at most 256 characters, got 257",
        )
    )
    for label, value in (
        ("newline", "Bob\nSmith"),
        ("tab", "Bob\t"),
        ("del", "Bob\x7f"),
        ("c1", "Bob\x85"),
        ("nul", "\x00"),
    ):
        add(
            Case(
                f"displayName-{label}",
                {"displayName": value},
                "Invalid displayName: must not contain control characters such as new lines",
            )
        )
    for value in ("Bob", "restricted", "Anonymous "):
        add(
            Case(
                f"privacy-displayName-{value!r}",
                {"privacy": True, "displayName": value},
                "Invalid displayName: when privacy is true, must be one of Restricted, Anonymous, "
                f"Private or Unavailable, got '{value}'",
            )
        )

    # -- uui (RFC 7433) -------------------------------------------------------------------------
    encoding = (
        "must end with an encoding parameter of jwt, base64 or hex (e.g. 'abc123;encoding=hex')"
    )
    add(Case("uui-no-encoding", {"uui": "abc123"}, f"Invalid uui: value 1 {encoding}"))
    add(Case("uui-utf8", {"uui": "abc;encoding=utf8"}, f"Invalid uui: value 1 {encoding}"))
    add(Case("uui-second-bad", {"uui": "ab;encoding=hex,cd"}, f"Invalid uui: value 2 {encoding}"))
    add(Case("uui-empty-value", {"uui": ";encoding=hex"}, "Invalid uui: value 1 is empty"))
    add(Case("uui-empty-entry", {"uui": "ab;encoding=hex,"}, "Invalid uui: value 2 is empty"))
    long_uui = "a" * 338 + ";encoding=hex"  # 351 characters
    add(Case("uui-351", {"uui": long_uui}, "Invalid uui: must be at most 350 characters, got 351"))

    # -- machineDetection -----------------------------------------------------------------------
    for value, kind in (("sync", "string"), ([], "array"), (True, "boolean"), (5, "number")):
        add(
            Case(
                f"machineDetection-{kind}",
                {"machineDetection": value},
                "Invalid machineDetection: must be an object",
            )
        )
    add(
        Case(
            "md-mode-fast",
            {"machineDetection": {"mode": "fast"}},
            "Invalid machineDetection.mode: must be sync or async, got 'fast'",
        )
    )
    add(
        Case(
            "md-mode-upper",
            {"machineDetection": {"mode": "SYNC"}},
            "Invalid machineDetection.mode: must be sync or async, got 'SYNC'",
        )
    )
    add(
        Case(
            "md-mode-number",
            {"machineDetection": {"mode": 1}},
            "Invalid machineDetection.mode: must be a string, got number",
        )
    )
    for name in MD_SECONDS_FIELDS:
        for value in (0, -1, 300.5):
            add(
                Case(
                    f"md-{name}-{value}",
                    {"machineDetection": {name: value}},
                    f"Invalid machineDetection.{name}: must be between 0.1 and 300, got {value}",
                )
            )
        add(
            Case(
                f"md-{name}-string",
                {"machineDetection": {name: "5"}},
                f"Invalid machineDetection.{name}: must be a number, got string",
            )
        )
    add(
        Case(
            "md-delayResult-string",
            {"machineDetection": {"delayResult": "yes"}},
            "Invalid machineDetection.delayResult: must be true or false, got string",
        )
    )
    for name in MD_URL_FIELDS:
        add(
            Case(
                f"md-{name}-ftp",
                {"machineDetection": {name: "ftp://x.example.com/md"}},
                f"Invalid machineDetection.{name}: must be an absolute http or https URL, "
                "got 'ftp://x.example.com/md'",
            )
        )
        add(
            Case(
                f"md-{name}-2049",
                {"machineDetection": {name: _long_url(2049)}},
                f"Invalid machineDetection.{name}: must be at most 2048 characters, got 2049",
            )
        )
    for name in MD_METHOD_FIELDS:
        add(
            Case(
                f"md-{name}-PUT",
                {"machineDetection": {name: "PUT"}},
                f"Invalid machineDetection.{name}: must be GET or POST, got 'PUT'",
            )
        )
    for name in MD_CREDENTIAL_FIELDS:
        add(
            Case(
                f"md-{name}-1025",
                {"machineDetection": {name: "x" * 1025}},
                f"Invalid machineDetection.{name}: must be at most 1024 characters, got 1025",
            )
        )
    return cases


def _valid_cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    value: Any  # loop variables below hold every JSON type
    add(Case("seed-example", {}, echoed={"to": "+15555551313", "tag": None}))
    for value in (
        "sip:bob@example.com",
        "sips:bob@example.com",
        "sip:example.com",
        "sip:+15555551313@sip.example.com;user=phone",
        "sip:bob@[2001:db8::1]:5060",
        "+12",
        "+123456789012345",
    ):
        add(Case(f"to-{value}", {"to": value}, echoed={"to": value}))
    for name in METHOD_FIELDS:
        for value, echoed in (("get", "GET"), ("Post", "POST"), ("GET", "GET")):
            add(Case(f"{name}-{value}", {name: value}, echoed={name: echoed}))
    for name in URL_FIELDS:
        add(Case(f"{name}-2048", {name: _long_url(2048)}, echoed={name: _long_url(2048)}))
        add(
            Case(
                f"{name}-https-port",
                {name: "HTTPS://h.example.com:8443/x?y=1#z"},
                echoed={name: "HTTPS://h.example.com:8443/x?y=1#z"},
            )
        )
    add(
        Case(
            "answerUrl-ipv6",
            {"answerUrl": "http://[::1]:9000/a"},
            echoed={"answerUrl": "http://[::1]:9000/a"},
        )
    )
    for value in (1, 300, 12.5, 1.001, 299.999):
        add(Case(f"callTimeout-{value}", {"callTimeout": value}, echoed={"callTimeout": value}))
    for value in (1, 25, 7.5):
        add(
            Case(
                f"callbackTimeout-{value}",
                {"callbackTimeout": value},
                echoed={"callbackTimeout": value},
            )
        )
    for value in (1, 2, 3, 4, 5):
        add(Case(f"priority-{value}", {"priority": value}, echoed={"priority": value}))
    add(Case("priority-3.0", {"priority": 3.0}, echoed={"priority": 3}))
    add(Case("tag-256", {"tag": "t" * 256}, echoed={"tag": "t" * 256}))
    add(Case("tag-empty", {"tag": ""}, echoed={"tag": ""}))
    add(Case("tag-unicode", {"tag": "日本語 ☎"}, echoed={"tag": "日本語 ☎"}))
    for name in CREDENTIAL_FIELDS:
        value = "x" * 1024
        shown = "*****" if "assword" in name else value
        add(Case(f"{name}-1024", {name: value}, echoed={name: shown}))
    # The 201 echoes neither displayName, privacy nor uui: it shows `from` and `to` as given
    # (the real caller number, even when it is hidden from the callee).
    as_given = {"from": FROM_NUMBER, "to": "+15555551313"}
    for label, name in (("256", "D" * 256), ("unicode", "Zoë Ångström")):
        add(
            Case(
                f"displayName-{label}",
                {"displayName": name},
                echoed=as_given,
                kept={"displayName": name, "privacy": None},
            )
        )
    for value in ("Restricted", "Anonymous", "Private", "Unavailable"):
        add(
            Case(
                f"privacy-{value}",
                {"privacy": True, "displayName": value},
                echoed=as_given,
                kept={"privacy": True, "displayName": value},
            )
        )
    add(
        Case(
            "privacy-false-any-name",
            {"privacy": False, "displayName": "Bob"},
            echoed=as_given,
            kept={"privacy": False, "displayName": "Bob"},
        )
    )
    add(
        Case(
            "privacy-true-no-name",
            {"privacy": True},
            echoed=as_given,
            kept={"privacy": True, "displayName": None},
        )
    )
    for label, uui in (
        ("three-encodings", "3a4b;encoding=hex,eyJhbGciOi;encoding=jwt,QUJD;encoding=base64"),
        ("with-purpose", "3a4b;purpose=isdn-uui;encoding=hex"),
        ("350", "a" * 337 + ";encoding=hex"),
    ):
        add(Case(f"uui-{label}", {"uui": uui}, echoed=as_given, kept={"uui": uui}))
    # machineDetection is not echoed either; its credentials are not the call's.
    not_the_calls = {
        "username": None,
        "password": None,
        "fallbackUsername": None,
        "fallbackPassword": None,
    }
    add(
        Case(
            "machineDetection-empty",
            {"machineDetection": {}},
            echoed=not_the_calls,
            kept={"machineDetection": MachineDetection()},
        )
    )
    add(
        Case(
            "machineDetection-full",
            {
                "machineDetection": {
                    "mode": "sync",
                    "detectionTimeout": 0.1,
                    "silenceTimeout": 300,
                    "speechThreshold": 2.5,
                    "speechEndThreshold": 1,
                    "machineSpeechEndThreshold": 3,
                    "delayResult": True,
                    "callbackUrl": "https://md.example.com/cb",
                    "callbackMethod": "get",
                    "username": "u",
                    "password": "p",
                    "fallbackUrl": "https://md.example.com/fb",
                    "fallbackMethod": "GET",
                    "fallbackUsername": "fu",
                    "fallbackPassword": "fp",
                }
            },
            echoed=not_the_calls,
            kept={
                "machineDetection": MachineDetection(
                    mode="sync",
                    detection_timeout=0.1,
                    silence_timeout=300,
                    speech_threshold=2.5,
                    speech_end_threshold=1,
                    machine_speech_end_threshold=3,
                    delay_result=True,
                    callback_url="https://md.example.com/cb",
                    callback_method="GET",
                    username="u",
                    password="p",
                    fallback_url="https://md.example.com/fb",
                    fallback_method="GET",
                    fallback_username="fu",
                    fallback_password="fp",
                )
            },
        )
    )
    add(
        Case(
            "unknown-fields-ignored",
            {"unknownField": {"deep": [1, 2]}, "mfrom": "+1", "callId": "c-mine", "state": "x"},
            echoed={**as_given, "tag": None},  # `mfrom` is not `from`
        )
    )
    nullable = (
        "privacy",
        "displayName",
        "uui",
        "username",
        "password",
        "answerFallbackUrl",
        "answerFallbackMethod",
        "fallbackUsername",
        "fallbackPassword",
        "disconnectUrl",
        "disconnectMethod",
        "answerMethod",
        "callTimeout",
        "callbackTimeout",
        "machineDetection",
        "priority",
        "tag",
    )
    add(
        Case(
            "every-optional-null-takes-default",
            dict.fromkeys(nullable),
            echoed={
                "answerMethod": "POST",
                "answerFallbackMethod": "POST",
                "disconnectMethod": "POST",
                "callTimeout": 30,
                "callbackTimeout": 15,
                "priority": 5,
                "tag": None,
                "password": None,
            },
        )
    )
    return cases


INVALID = _invalid_cases()
VALID = _valid_cases()
