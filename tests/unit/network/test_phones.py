"""Reading virtual phones from the [simulator] table."""

from __future__ import annotations

import pytest

from switchboard.network.phones import PhoneConfigError, dialable, parse_simulator


def test_defaults_and_phone_overrides() -> None:
    settings = parse_simulator(
        {
            "simulator": {
                "time_scale": 0.01,
                "default": {"answer_after": 3},
                "phones": [
                    {"number": "+15555550101", "outcome": "busy"},
                    {"number": "+15555550102", "hangup_after": 20, "digits": "1234#"},
                ],
            }
        }
    )
    assert settings.time_scale == 0.01
    assert settings.default.answer_after == 3.0
    busy = settings.phones["+15555550101"]
    assert busy.outcome == "busy" and busy.answer_after == 3.0  # inherits the default
    digits = settings.phones["+15555550102"]
    assert digits.hangup_after == 20.0
    assert [digits.digits_for_gather(i) for i in range(3)] == ["1234#"] * 3


def test_digits_per_gather_and_timed_digits() -> None:
    settings = parse_simulator(
        {
            "simulator": {
                "phones": [
                    {"number": "+1555", "digits": ["1", "2#"]},
                    {"number": "+1556", "digits": [{"at": 3.0, "digits": "5"}]},
                ]
            }
        }
    )
    per_gather = settings.phones["+1555"]
    assert [per_gather.digits_for_gather(i) for i in range(3)] == ["1", "2#", ""]
    timed = settings.phones["+1556"]
    assert timed.timed_digits[0].at == 3.0 and timed.timed_digits[0].digits == "5"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"phones": [{"number": "+1", "outcome": "maybe"}]}, "outcome must be one of"),
        ({"phones": [{"number": "+1", "answer_after": -1}]}, "answer_after must be"),
        ({"phones": [{"number": "+1", "digits": "12x"}]}, "only 0-9"),
        ({"phones": [{"number": "+1", "colour": "red"}]}, "unknown key"),
        ({"phones": [{"outcome": "busy"}]}, "needs a number"),
        ({"time_scale": 0}, "time_scale must be a positive number"),
    ],
)
def test_mistakes_are_named(table: dict[str, object], message: str) -> None:
    with pytest.raises(PhoneConfigError, match=message):
        parse_simulator({"simulator": table})


def test_sip_uri_reaches_its_user_part() -> None:
    assert dialable("sip:+15555550101@example.com") == "+15555550101"
    assert dialable("sips:alice@example.com;transport=tls") == "alice"
    assert dialable("+15555550101") == "+15555550101"
