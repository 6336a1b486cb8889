"""Which addresses Switchboard may connect to when it fetches a URL a client gave it (SSRF).

Webhook URLs and audio URLs come from API clients and from BXML, so without a check anyone who
can create a call can make Switchboard send requests into the network it runs in: the cloud
metadata service at 169.254.169.254, an admin page on 127.0.0.1, a database on 10.0.0.5.

The policy (pure, first half of this module) sorts an IP address into public or one of
private, loopback, link-local, multicast, reserved, unspecified, from a fixed table rather than
the `ipaddress` flags, whose lists differ between Python releases. IPv6 addresses that lead to
an IPv4 one (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the
IPv4 address they lead to.

The IO half checks each connection an aiohttp session makes, after any DNS and on every redirect
hop, because a check of the URL alone is beaten by a public name that resolves to 127.0.0.1 or a
public URL that redirects to one:

- `GuardedResolver` wraps the resolver and drops denied answers (all denied: DestinationDenied);
- the connector's socket factory checks the address each socket is about to connect to, which
  catches literal IP hosts (aiohttp does not resolve those) and anything the resolver missed.

Both also apply the test suite's loopback guard (LOOPBACK_ONLY, last section) before anything
leaves, whatever the policy says; the resolver only when it would ask the system's DNS.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import Any, Literal

import aiohttp
from aiohappyeyeballs import AddrInfoType, SocketFactoryType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Kind = Literal["private", "loopback", "link-local", "multicast", "reserved", "unspecified"]

SETTING = "server.allow_private_destinations"

# Everything not listed is public. Order matters only where ranges nest: first match wins.
_IPV4_TABLE: tuple[tuple[str, Kind], ...] = (
    ("0.0.0.0/8", "unspecified"),  # "this network": connecting to 0.0.0.0 reaches this host
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "private"),  # shared address space (carrier-grade NAT)
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),  # cloud metadata services live here
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
    ("192.0.2.0/24", "reserved"),  # documentation (TEST-NET-1)
    ("192.88.99.0/24", "reserved"),  # deprecated 6to4 relay anycast
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),  # benchmarking
    ("198.51.100.0/24", "reserved"),  # documentation (TEST-NET-2)
    ("203.0.113.0/24", "reserved"),  # documentation (TEST-NET-3)
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # future use, and 255.255.255.255 broadcast
)
_IPV6_TABLE: tuple[tuple[str, Kind], ...] = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    # The rest of ::/8, IPv4-compatible ::a.b.c.d included (deprecated, never routed);
    # IPv4-mapped and NAT64 addresses are judged by their IPv4 address before this.
    ("::/8", "reserved"),
    ("100::/64", "reserved"),  # discard-only
    ("2001::/23", "reserved"),  # IETF protocol assignments (Teredo, ORCHID, benchmarking)
    ("2001:db8::/32", "reserved"),  # documentation
    ("3fff::/20", "reserved"),  # documentation
    ("fc00::/7", "private"),  # unique local
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),  # deprecated site-local
    ("ff00::/8", "multicast"),
)
_IPV4 = tuple((IPv4Network(network), kind) for network, kind in _IPV4_TABLE)
_IPV6 = tuple((IPv6Network(network), kind) for network, kind in _IPV6_TABLE)
_MAPPED = IPv6Network("::ffff:0:0/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")


def parse_address(text: str) -> IPAddress:
    """An IP address from text, ignoring an IPv6 zone ("fe80::1%eth0"). Raises ValueError."""
    return ip_address(text.split("%", 1)[0])


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address leads to, for the forms that carry one."""
    value = int(address)
    if address in _MAPPED or address in _NAT64:
        return IPv4Address(value & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return IPv4Address((value >> 80) & 0xFFFFFFFF)
    return None


def kind_of(address: IPAddress) -> Kind | None:
    """What sort of non-public address this is, or None for a public one."""
    if isinstance(address, IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return kind_of(inner)
        return next((kind for network, kind in _IPV6 if address in network), None)
    return next((kind for network, kind in _IPV4 if address in network), None)


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a destination was refused; `str()` is the sentence for the developer."""

    address: IPAddress
    kind: Kind
    host: str | None = None  # the name that resolved to `address`, when there was one

    def __str__(self) -> str:
        article = "an" if self.kind[0] in "aeiou" else "a"
        what = f"{article} {self.kind} address"
        if isinstance(self.address, IPv6Address) and (inner := embedded_ipv4(self.address)):
            what += f" (it leads to the IPv4 address {inner})"
        shown = _show(self.address)
        if self.host is not None and self.host not in (shown, str(self.address)):
            where = f"destination {self.host} resolves to {shown}, {what}"
        else:
            where = f"destination {shown} is {what}"
        return f"{where}; private destinations are not allowed ({SETTING})"


def _show(address: IPAddress) -> str:
    # Python before 3.13 prints ::ffff:127.0.0.1 as ::ffff:7f00:1; write it the way people do.
    if isinstance(address, IPv6Address) and address in _MAPPED:
        return f"::ffff:{IPv4Address(int(address) & 0xFFFFFFFF)}"
    return str(address)


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Which addresses outgoing requests may connect to.

    With `allow_private` (the development default) every address is allowed. Without it, only
    public addresses are, plus those inside `allowed_networks` (e.g. an operator's own webhook
    app on 10.1.2.3, or a test's receiver on 127.0.0.2).
    """

    allow_private: bool = True
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allow_private: bool, allowed: Iterable[str] = ()) -> DestinationPolicy:
        """The policy from its settings; `allowed` holds networks as text ("10.1.0.0/16",
        "127.0.0.2"). Raises ValueError for one that is not a network."""
        return cls(allow_private, tuple(ip_network(network) for network in allowed))

    def check(self, address: str | IPAddress, host: str | None = None) -> Denial | None:
        """None when `address` may be connected to, else why not. `host` is the name it came
        from, for the message. Text that is not an IP address raises ValueError."""
        if self.allow_private:
            return None
        parsed = parse_address(address) if isinstance(address, str) else address
        kind = kind_of(parsed)
        if kind is None or self._excepted(parsed):
            return None
        return Denial(parsed, kind, host)

    def _excepted(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, IPv6Address) and (inner := embedded_ipv4(address)) is not None:
            candidates.append(inner)
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.allowed_networks
        )


# -- the IO half: aiohttp ---------------------------------------------------------------------


class DestinationDenied(OSError):
    """Raised inside aiohttp's connector; callers find it as `ClientConnectorError.os_error`."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(str(denial))
        self.denial = denial


def denial_in(error: BaseException) -> Denial | None:
    """The Denial behind an aiohttp client error, when a destination check caused it."""
    if isinstance(error, DestinationDenied):
        return error.denial
    if isinstance(error, aiohttp.ClientConnectorError) and isinstance(
        error.os_error, DestinationDenied
    ):
        return error.os_error.denial
    return None


class GuardedResolver(AbstractResolver):
    """Wraps a resolver (aiohttp's default unless given) and keeps only allowed answers.

    A name whose answers are all denied raises DestinationDenied for the first of them, so a
    public-looking name pointing at 127.0.0.1 is refused before any connection is made.
    """

    def __init__(self, policy: DestinationPolicy, resolver: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._asks_dns = resolver is None
        self._resolver = resolver if resolver is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._asks_dns:  # a resolver given instead (a test's table) sends no query
            refuse_outside_loopback(host, "resolve")
        answers = await self._resolver.resolve(host, port, family)
        denials = [self._policy.check(answer["host"], host) for answer in answers]
        allowed = [answer for answer, denial in zip(answers, denials, strict=True) if not denial]
        first_denial = next((denial for denial in denials if denial is not None), None)
        if not allowed and first_denial is not None:
            raise DestinationDenied(first_denial)
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


class GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector whose every connection is checked against a DestinationPolicy: DNS
    answers by a GuardedResolver, and the address of each socket by its socket factory."""

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        resolver: AbstractResolver | None = None,
        **options: Any,
    ) -> None:
        self._guarded_resolver = GuardedResolver(policy, resolver)
        super().__init__(
            resolver=self._guarded_resolver,
            socket_factory=checked_socket_factory(policy),
            **options,
        )

    async def close(self, *, abort_ssl: bool = False) -> None:
        await super().close(abort_ssl=abort_ssl)
        await self._guarded_resolver.close()  # TCPConnector closes only resolvers it made


def checked_socket_factory(policy: DestinationPolicy) -> SocketFactoryType:
    """A socket factory for aiohttp's connector that refuses to make a socket for an address
    the policy denies, so the connection is never attempted."""

    def create(addr_info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        denial = policy.check(str(sockaddr[0]))
        if denial is not None:
            raise DestinationDenied(denial)
        refuse_outside_loopback(str(sockaddr[0]), "connect")
        return socket.socket(family, kind, proto)

    return create


# -- the test suite's loopback guard ------------------------------------------------------------

LOOPBACK_ONLY = "SWITCHBOARD_TEST_LOOPBACK_ONLY"
"""An environment variable for the test suite only (tests/support/loopback_guard.py sets it to a
file path). While it is set, this process may connect to loopback addresses and nothing else,
whatever the DestinationPolicy says: a host name other than localhost is refused before it is
resolved (so not even a DNS query leaves), any other address before its socket is made, and each
refusal is appended to the file as one line, "resolve <host>" or "connect <address>", for the
suite to fail the test. Servers the tests start as subprocesses inherit it."""


class OutsideLoopback(OSError):
    """A destination refused because LOOPBACK_ONLY is set; callers see a connection error."""


def refuse_outside_loopback(host: str, step: Literal["resolve", "connect"]) -> None:
    """Raise OutsideLoopback, after recording it, for a host that is not loopback while
    LOOPBACK_ONLY is set; do nothing otherwise (always, outside the tests)."""
    record = os.environ.get(LOOPBACK_ONLY)
    if not record or _is_loopback(host):
        return
    # One short append per refusal: lines from several processes do not interleave (O_APPEND).
    with open(record, "a", encoding="utf-8") as log:
        log.write(f"{step} {host}\n")
    raise OutsideLoopback(f"{host} is not a loopback address, and {LOOPBACK_ONLY} is set")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":  # its answers are checked again at the socket
        return True
    try:
        return kind_of(parse_address(host)) == "loopback"
    except ValueError:  # a name
        return False
