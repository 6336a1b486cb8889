"""[network.sip] as a user writes it, and what a mistake in it says."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.sip.settings import SipConfigError, SipSettings, parse_sip_settings


def test_defaults() -> None:
    settings = parse_sip_settings({})
    assert settings == SipSettings()
    assert settings.proxy_address is None


def test_a_full_table() -> None:
    settings = parse_sip_settings(
        {
            "local_address": "0.0.0.0:5080",
            "transport": "TCP",
            "proxy": "sip.trunk.example.net",
            "username": "acct",
            "password": "secret",
            "from_domain": "example.net",
            "rtp_ports": "20000 - 20099",
            "user_agent": "Switchboard/1",
        }
    )
    assert (settings.local_host, settings.local_port, settings.transport) == (
        "0.0.0.0",
        5080,
        "tcp",
    )
    assert settings.proxy_address == ("sip.trunk.example.net", 5060)
    assert (settings.rtp_port_min, settings.rtp_port_max) == (20000, 20099)
    assert parse_sip_settings({"local_address": "[::1]:0"}).local_host == "::1"
    assert parse_sip_settings({"proxy": "[2001:db8::5]:5070"}).proxy_address == (
        "2001:db8::5",
        5070,
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"local_address": "127.0.0.1"}, r"local_address must be a \"host:port\".*port missing"),
        ({"local_address": "127.0.0.1:99999"}, "local_address .* port 0-65535"),
        ({"local_address": "bad host:5060"}, "local_address must be"),
        ({"local_address": 5060}, "local_address must be a string"),
        ({"transport": "tls"}, "transport must be udp or tcp, got 'tls'"),
        ({"proxy": "trunk:abc"}, "proxy must be"),
        ({"proxy": ""}, "proxy must be a non-empty string"),
        ({"username": "u"}, "username and network.sip.password must be given together"),
        ({"from_domain": "no spaces.com x"}, "from_domain must be a host name"),
        ({"rtp_ports": "40000"}, 'rtp_ports must be a range "min-max"'),
        ({"rtp_ports": "5000-4000"}, "min < max"),
        ({"rtp_ports": "80-90"}, "within 1024-65535"),
        ({"user_agent": "a\r\nb"}, "user_agent must be a non-empty single line"),
        ({"registrar": "x"}, r"unknown key\(s\) registrar"),
    ],
)
def test_errors_name_the_key_and_what_is_expected(table: dict[str, Any], message: str) -> None:
    with pytest.raises(SipConfigError, match=message):
        parse_sip_settings(table)


def test_config_errors_are_value_errors() -> None:
    assert issubclass(SipConfigError, ValueError)
