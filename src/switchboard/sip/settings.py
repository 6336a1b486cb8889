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
    }
)
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
    )


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
