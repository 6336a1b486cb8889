"""The destination policy (SSRF): which addresses are public, what a denial says, and the
resolver and socket factory that apply it. No test here touches the network."""

from __future__ import annotations

import re
import socket
from ipaddress import IPv4Address, IPv6Address

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from switchboard.webhooks.guard import (
    Denial,
    DestinationDenied,
    DestinationPolicy,
    GuardedConnector,
    GuardedResolver,
    checked_socket_factory,
    denial_in,
    embedded_ipv4,
    kind_of,
    parse_address,
)

DENY = DestinationPolicy(allow_private=False)
SETTING = "private destinations are not allowed (server.allow_private_destinations)"

NOT_PUBLIC = {
    # IPv4
    "10.0.0.5": "private",
    "10.255.255.255": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.10": "private",
    "100.64.0.1": "private",  # carrier-grade NAT
    "127.0.0.1": "loopback",
    "127.0.0.2": "loopback",
    "127.255.255.254": "loopback",
    "169.254.169.254": "link-local",  # cloud metadata
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "192.0.0.8": "reserved",
    "192.0.2.1": "reserved",
    "198.18.0.1": "reserved",
    "198.51.100.7": "reserved",
    "203.0.113.9": "reserved",
    # IPv6
    "::": "unspecified",
    "::1": "loopback",
    "fd00::1": "private",
    "fc00::1": "private",
    "fec0::1": "private",
    "64:ff9b:1::1": "private",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "ff02::1": "multicast",
    "2001:db8::1": "reserved",
    "2001::1": "reserved",  # Teredo
    "100::1": "reserved",
    "::127.0.0.1": "reserved",  # deprecated IPv4-compatible form
    "::8.8.8.8": "reserved",
    # IPv6 forms that lead to an IPv4 address are judged by it
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.5": "private",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:0.0.0.0": "unspecified",
    "64:ff9b::7f00:1": "loopback",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1": "loopback",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::": "private",  # 6to4 of 192.168.1.1
}
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "9.255.255.255",
    "11.0.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "192.169.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "169.253.255.255",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "kind"), NOT_PUBLIC.items())
def test_addresses_that_are_not_public(address: str, kind: str) -> None:
    assert kind_of(parse_address(address)) == kind
    denial = DENY.check(address)
    assert denial is not None
    assert denial.kind == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert kind_of(parse_address(address)) is None
    assert DENY.check(address) is None


@pytest.mark.parametrize("address", [*NOT_PUBLIC, *PUBLIC])
def test_the_default_policy_allows_everything(address: str) -> None:
    assert DestinationPolicy().check(address) is None


def test_the_denial_names_the_url_address_and_setting() -> None:
    denial = DENY.check("10.0.0.5")
    assert str(denial) == f"destination 10.0.0.5 is a private address; {SETTING}"
    assert str(DENY.check("169.254.169.254")) == (
        f"destination 169.254.169.254 is a link-local address; {SETTING}"
    )
    assert str(DENY.check("::1")) == f"destination ::1 is a loopback address; {SETTING}"


def test_a_denial_names_the_host_that_resolved_to_the_address() -> None:
    denial = DENY.check("127.0.0.1", host="voice-app.example.com")
    assert str(denial) == (
        f"destination voice-app.example.com resolves to 127.0.0.1, a loopback address; {SETTING}"
    )


def test_a_denial_of_an_ipv4_mapped_address_says_where_it_leads() -> None:
    assert str(DENY.check("::ffff:127.0.0.1")) == (
        "destination ::ffff:127.0.0.1 is a loopback address (it leads to the IPv4 address "
        f"127.0.0.1); {SETTING}"
    )


def test_allowed_networks_are_exceptions_to_the_denial() -> None:
    policy = DestinationPolicy.from_settings(False, ["127.0.0.2", "10.1.0.0/16", "fd00::/8"])
    assert policy.check("127.0.0.2") is None
    assert policy.check("::ffff:127.0.0.2") is None  # the same address in IPv6 form
    assert policy.check("10.1.200.3") is None
    assert policy.check("fd00::7") is None
    assert policy.check("127.0.0.1") == Denial(IPv4Address("127.0.0.1"), "loopback")
    assert policy.check("10.2.0.1") is not None
    assert policy.check("8.8.8.8") is None


def test_allowed_networks_do_not_matter_when_everything_is_allowed() -> None:
    policy = DestinationPolicy.from_settings(True, ["10.1.0.0/16"])
    assert policy.check("10.9.9.9") is None


@pytest.mark.parametrize("network", ["10.0.0.5/8", "localhost", "10.0.0.0/33", ""])
def test_allowed_networks_must_be_networks(network: str) -> None:
    with pytest.raises(ValueError):
        DestinationPolicy.from_settings(False, [network])


@pytest.mark.parametrize("text", ["localhost", "example.com", "127.1", "", "1.2.3.4.5"])
def test_only_ip_addresses_are_checked(text: str) -> None:
    with pytest.raises(ValueError):
        DENY.check(text)


def test_embedded_ipv4_addresses() -> None:
    assert embedded_ipv4(IPv6Address("::ffff:1.2.3.4")) == IPv4Address("1.2.3.4")
    assert embedded_ipv4(IPv6Address("64:ff9b::102:304")) == IPv4Address("1.2.3.4")
    assert embedded_ipv4(IPv6Address("2002:102:304::9")) == IPv4Address("1.2.3.4")
    assert embedded_ipv4(IPv6Address("2606:4700::1")) is None


# -- the resolver -----------------------------------------------------------------------------


class FakeDns(AbstractResolver):
    """Answers from a table, as a hostile or careless DNS zone would."""

    def __init__(self, zone: dict[str, list[str]]) -> None:
        self.zone = zone
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for address in self.zone[host]
        ]

    async def close(self) -> None:
        self.closed = True


ZONE = {
    "rebound.example.com": ["127.0.0.1"],
    "metadata.example.com": ["169.254.169.254", "fd00::1"],
    "mixed.example.com": ["10.0.0.5", "93.184.216.34", "::1", "2606:4700::1"],
    "public.example.com": ["93.184.216.34"],
}


async def test_a_public_name_resolving_to_loopback_is_refused() -> None:
    resolver = GuardedResolver(DENY, FakeDns(ZONE))
    with pytest.raises(DestinationDenied) as raised:
        await resolver.resolve("rebound.example.com", 80)
    assert str(raised.value) == (
        f"destination rebound.example.com resolves to 127.0.0.1, a loopback address; {SETTING}"
    )
    assert raised.value.denial.host == "rebound.example.com"


async def test_all_denied_answers_name_the_first() -> None:
    resolver = GuardedResolver(DENY, FakeDns(ZONE))
    with pytest.raises(DestinationDenied, match=re.escape("169.254.169.254, a link-local address")):
        await resolver.resolve("metadata.example.com", 443)


async def test_denied_answers_are_dropped_and_public_ones_kept() -> None:
    resolver = GuardedResolver(DENY, FakeDns(ZONE))
    answers = await resolver.resolve("mixed.example.com", 80)
    assert [answer["host"] for answer in answers] == ["93.184.216.34", "2606:4700::1"]
    assert {answer["port"] for answer in answers} == {80}


async def test_allowed_answers_pass_unchanged() -> None:
    for policy in (DestinationPolicy(), DENY):
        resolver = GuardedResolver(policy, FakeDns(ZONE))
        answers = await resolver.resolve("public.example.com", 80)
        assert [answer["host"] for answer in answers] == ["93.184.216.34"]
    permissive = GuardedResolver(DestinationPolicy(), FakeDns(ZONE))
    answers = await permissive.resolve("mixed.example.com", 80)
    assert len(answers) == 4


async def test_an_allowed_network_lets_its_answers_through() -> None:
    policy = DestinationPolicy.from_settings(False, ["127.0.0.0/8"])
    answers = await GuardedResolver(policy, FakeDns(ZONE)).resolve("rebound.example.com")
    assert [answer["host"] for answer in answers] == ["127.0.0.1"]


async def test_closing_the_resolver_closes_the_one_it_wraps() -> None:
    dns = FakeDns(ZONE)
    await GuardedResolver(DENY, dns).close()
    assert dns.closed


# -- the socket factory and the connector -----------------------------------------------------


def test_the_socket_factory_refuses_denied_addresses_before_any_connection() -> None:
    create = checked_socket_factory(DestinationPolicy.from_settings(False, ["127.0.0.2"]))
    with pytest.raises(DestinationDenied, match=re.escape("destination 127.0.0.1 is a loopback")):
        create((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
    with pytest.raises(DestinationDenied, match=re.escape("destination fe80::1 is a link-local")):
        create((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%1", 80, 0, 1)))
    allowed = create((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", 80)))
    with allowed:
        assert allowed.family == socket.AF_INET  # a fresh socket, not connected anywhere
        assert allowed.type == socket.SOCK_STREAM


async def test_the_connector_closes_the_resolver_it_wraps() -> None:
    dns = FakeDns(ZONE)
    connector = GuardedConnector(DENY, resolver=dns)
    await connector.close()
    assert dns.closed


def test_denial_in_finds_the_denial_inside_aiohttp_errors() -> None:
    denial = DENY.check("10.0.0.5")
    assert denial is not None
    key = aiohttp.client_reqrep.ConnectionKey("10.0.0.5", 80, False, True, None, None, None)
    wrapped = aiohttp.ClientConnectorError(key, DestinationDenied(denial))
    assert denial_in(wrapped) == denial
    assert denial_in(DestinationDenied(denial)) == denial
    assert denial_in(aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "x"))) is None
    assert denial_in(ValueError("x")) is None
