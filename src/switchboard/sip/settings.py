"""Where the SIP user agent listens and where it sends calls, read from `[network.sip]`.

[network.sip]
local_address = "0.0.0.0:5060"   # host:port the UA binds; port 0 picks a free one
transport = "udp"                # udp | tcp
proxy = "sip.example.net:5060"   # trunk or PBX that E.164 numbers are sent to
username = "trunk-user"          # digest credentials answered to 401/407 challenges
password = "secret"
from_domain = "example.net"      # host part of From (default: the local host)
rtp_ports = "40000-40999"        # UDP ports the media layer may use
user_agent = "Switchboard"
inbound_sources = ["127.0.0.1/32"]  # who may call in (addresses or networks; [] = nobody)
inbound_username = "pbx"         # when set, callers must answer a digest challenge (401)
inbound_password = "secret"
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

TRANSPORTS = ("udp", "tcp")
KNOWN_KEYS = frozenset(
    {
        "local_address",
        "transport",
        "proxy",
        "username",
        "password",
        "from_domain",
        "rtp_ports",
        "user_agent",
        "inbound_sources",
        "inbound_username",
        "inbound_password",
    }
)
# Calls may come in from loopback only, until the operator names who else may call.
DEFAULT_INBOUND_SOURCES = (
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("::1/128"),
)
SourceNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A DNS name: labels of letters, digits and inner hyphens. IP literals are checked by ipaddress.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


class SipConfigError(ValueError):
    """A `[network.sip]` value is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class SipSettings:
    local_host: str = "127.0.0.1"
    local_port: int = 5060
    transport: Literal["udp", "tcp"] = "udp"
    proxy: str | None = None
    username: str | None = None
    password: str | None = None
    from_domain: str | None = None
    rtp_port_min: int = 40000
    rtp_port_max: int = 40999
    user_agent: str = "Switchboard"
    inbound_sources: tuple[SourceNetwork, ...] = DEFAULT_INBOUND_SOURCES
    inbound_username: str | None = None
    inbound_password: str | None = None

    def allows_source(self, host: str) -> bool:
        """Whether an INVITE from `host` (an IP address) may ring Switchboard."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket shows IPv4 peers this way
        return any(address in network for network in self.inbound_sources)

    @property
    def proxy_address(self) -> tuple[str, int] | None:
        """The proxy as (host, port), already validated by parse_sip_settings."""
        if self.proxy is None:
            return None
        return split_host_port(self.proxy, "proxy", default_port=5060)


def parse_sip_settings(table: Mapping[str, Any]) -> SipSettings:
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise SipConfigError(
            f"[network.sip]: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known keys are {', '.join(sorted(KNOWN_KEYS))}"
        )
    host, port = split_host_port(
        _string(table, "local_address", "127.0.0.1:5060"), "local_address", default_port=None
    )
    transport = _string(table, "transport", "udp").lower()
    if transport not in TRANSPORTS:
        raise SipConfigError(f"network.sip.transport must be udp or tcp, got {transport!r}")
    proxy = _optional_string(table, "proxy")
    if proxy is not None:
        split_host_port(proxy, "proxy", default_port=5060)
    username = _optional_string(table, "username")
    password = _optional_string(table, "password")
    if (username is None) != (password is None):
        raise SipConfigError("network.sip.username and network.sip.password must be given together")
    from_domain = _optional_string(table, "from_domain")
    if from_domain is not None and not _valid_host(from_domain):
        raise SipConfigError(
            f"network.sip.from_domain must be a host name or IP address, got {from_domain!r}"
        )
    rtp_min, rtp_max = _port_range(_string(table, "rtp_ports", "40000-40999"))
    user_agent = _string(table, "user_agent", "Switchboard")
    if not user_agent or any(c in user_agent for c in "\r\n"):
        raise SipConfigError("network.sip.user_agent must be a non-empty single line")
    inbound_username = _optional_string(table, "inbound_username")
    inbound_password = _optional_string(table, "inbound_password")
    if (inbound_username is None) != (inbound_password is None):
        raise SipConfigError(
            "network.sip.inbound_username and network.sip.inbound_password must be given together"
        )
    if inbound_username is not None and any(c in inbound_username for c in '"\\\r\n'):
        raise SipConfigError(
            "network.sip.inbound_username must not contain quotes, backslashes or line breaks"
        )
    return SipSettings(
        local_host=host,
        local_port=port,
        transport="tcp" if transport == "tcp" else "udp",
        proxy=proxy,
        username=username,
        password=password,
        from_domain=from_domain,
        rtp_port_min=rtp_min,
        rtp_port_max=rtp_max,
        user_agent=user_agent,
        inbound_sources=_networks(table),
        inbound_username=inbound_username,
        inbound_password=inbound_password,
    )


def _networks(table: Mapping[str, Any]) -> tuple[SourceNetwork, ...]:
    if "inbound_sources" not in table:
        return DEFAULT_INBOUND_SOURCES
    values = table["inbound_sources"]
    expected = 'a list of addresses or networks such as ["127.0.0.1", "192.0.2.0/24"]'
    if not isinstance(values, list):
        raise SipConfigError(f"network.sip.inbound_sources must be {expected}, got {values!r}")
    networks: list[SourceNetwork] = []
    for index, value in enumerate(values):
        key = f"network.sip.inbound_sources[{index}]"
        if not isinstance(value, str):
            raise SipConfigError(f'{key} must be a string such as "192.0.2.0/24", got {value!r}')
        try:
            networks.append(ipaddress.ip_network(value.strip()))
        except ValueError as error:
            # e.g. "192.0.2.7/24": host bits set; say so rather than guess which was meant.
            raise SipConfigError(
                f'{key} must be an IP address or network such as "192.0.2.0/24", '
                f"got {value!r} ({error})"
            ) from None
    return tuple(networks)


def split_host_port(value: str, key: str, *, default_port: int | None) -> tuple[str, int]:
    """Split "host:port" (or "[v6]:port"); the port may be left out only with a default."""
    expected = 'a "host:port" string such as "192.0.2.10:5060"'
    host, port_text = value, None
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            raise SipConfigError(f"network.sip.{key} must be {expected}, got {value!r}")
        host, rest = value[1:close], value[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise SipConfigError(f"network.sip.{key} must be {expected}, got {value!r}")
            port_text = rest[1:]
    elif ":" in value:
        host, port_text = value.rsplit(":", 1)
    if port_text is None:
        if default_port is None:
            raise SipConfigError(f"network.sip.{key} must be {expected} (port missing)")
        port = default_port
    else:
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise SipConfigError(
                f"network.sip.{key} must be {expected} with a port 0-65535, got {value!r}"
            )
        port = int(port_text)
    if not _valid_host(host):
        raise SipConfigError(f"network.sip.{key} must be {expected}, got {value!r}")
    return host, port


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOSTNAME.match(host))
    return True


def _port_range(value: str) -> tuple[int, int]:
    expected = 'a range "min-max" of UDP ports such as "40000-40999"'
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
    if match is None:
        raise SipConfigError(f"network.sip.rtp_ports must be {expected}, got {value!r}")
    low, high = int(match.group(1)), int(match.group(2))
    if not 1024 <= low < high <= 65535:
        raise SipConfigError(
            f"network.sip.rtp_ports must be {expected} within 1024-65535 with min < max, "
            f"got {value!r}"
        )
    return low, high


def _string(table: Mapping[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise SipConfigError(f"network.sip.{key} must be a string, got {value!r}")
    return value


def _optional_string(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SipConfigError(f"network.sip.{key} must be a non-empty string, got {value!r}")
    return value
