"""Settings from the TOML file and command-line flags, validated once at start.

Flags win over the file; the file wins over the embedded defaults. See docs/configuration.md.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from switchboard.hardening import (
    HardeningConfigError,
    HttpLimits,
    ThrottleSettings,
    parse_http_limits,
    parse_throttle,
)
from switchboard.limits.account import LimitSettings
from switchboard.limits.call_bounds import CallBounds, CallBoundsConfigError, parse_call_bounds
from switchboard.limits.overload import OverloadConfigError, OverloadSettings, parse_overload
from switchboard.network.phones import PhoneConfigError, SimulatorSettings, parse_simulator
from switchboard.nodes.settings import NodeConfigError, NodeSettings, parse_node_settings
from switchboard.observability.metrics_access import (
    MetricsAccess,
    MetricsConfigError,
    parse_metrics_access,
)
from switchboard.provisioning.voice_settings import KEYS as VOICE_KEYS
from switchboard.provisioning.voice_settings import (
    VoiceSettings,
    VoiceSettingsError,
    parse_voice_settings,
)
from switchboard.sip.settings import SipConfigError, SipSettings, parse_sip_settings
from switchboard.webhooks.account_share import DEFAULT_SHARE
from switchboard.webhooks.outbox import RetryPolicy

T = TypeVar("T")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = "data"
DEFAULT_TLS_PORT = 443  # where SDKs that hard-code https://voice.bandwidth.com connect
DEFAULT_KEEP_ALIVE_SECONDS = 75  # the longest common load balancer idle timeout (60-75 s)
PROFILES = ("development", "production")
NETWORK_KINDS = ("simulated", "sip")


class ConfigError(Exception):
    """The configuration file or flags are wrong; the message says where and how."""


@dataclass(frozen=True, slots=True)
class UserConfig:
    username: str
    password: str  # plain text or an already hashed "scrypt$..." value


@dataclass(frozen=True, slots=True)
class OAuthClientConfig:
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class ApplicationConfig:
    id: str
    name: str
    voice: VoiceSettings = field(default_factory=VoiceSettings)  # passwords in plain text
    numbers: tuple[str, ...] = ()  # the account's numbers whose calls ring this application


@dataclass(frozen=True, slots=True)
class AccountConfig:
    id: str
    name: str
    users: tuple[UserConfig, ...] = ()
    oauth_clients: tuple[OAuthClientConfig, ...] = ()
    applications: tuple[ApplicationConfig, ...] = ()
    numbers: tuple[str, ...] = ()
    limits: LimitOverrides = field(default_factory=lambda: LimitOverrides())


@dataclass(frozen=True, slots=True)
class LimitOverrides:
    """An `[accounts.limits]` table: what differs from the server's `[limits]`."""

    calls_per_second: float | None = None
    concurrent_calls: int | None = None
    queue_enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """`[server.tls]`: a second listener answering as Bandwidth's own hostnames over TLS, for
    apps whose SDK cannot change its base URL (docs/compatibility.md)."""

    enabled: bool = False
    host: str = DEFAULT_HOST
    port: int = DEFAULT_TLS_PORT
    # The user's own certificate and key; None: a leaf signed by the installation's CA.
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    # development accepts http webhooks with credentials; production enforces Bandwidth's rules.
    profile: str = "development"
    # Honour X-Forwarded-Proto / X-Forwarded-Host (only behind a proxy you control).
    trust_proxy: bool = False
    # The base of every absolute URL handed out (callUrl, Location, Link), e.g.
    # "https://voice.example.com", for a proxy that sets no X-Forwarded headers; it wins over
    # the request's Host and the forwarded headers. None: built from the request.
    public_url: str | None = None
    # May webhooks and audio fetches reach private, loopback, link-local... addresses (SSRF)?
    # Defaults to true in development, false in production; allowed_destinations are exceptions.
    allow_private_destinations: bool = True
    allowed_destinations: tuple[str, ...] = ()
    token_lifetime_seconds: int = 3600
    log_level: str = "info"
    log_format: str = "text"  # or "json": one JSON object per line
    accounts: tuple[AccountConfig, ...] = ()
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    # Which phone network places calls: the simulated one, or real SIP calls (docs/sip.md).
    network_kind: str = "simulated"
    sip: SipSettings = field(default_factory=SipSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    retention_days: float = 7.0
    # [recordings] retention_days: recordings (rows and media) are removed this long after
    # they end; Bandwidth keeps them 30 days (bxml/record.mdx).
    recording_retention_days: float = 30.0
    webhook_retries: RetryPolicy = field(default_factory=RetryPolicy)
    drain_seconds: float = 30.0
    # How long an idle HTTP keep-alive connection stays open. Load balancers and client pools
    # keep idle connections 60-75 s and reuse them; a server that closes first (uvicorn's
    # default is 5 s) races every request sent on one, which then fails unretried.
    keep_alive_seconds: int = DEFAULT_KEEP_ALIVE_SECONDS
    tls: TlsSettings = field(default_factory=TlsSettings)
    # [http] and [auth]: what an unauthenticated client can cost (switchboard/hardening.py).
    http: HttpLimits = field(default_factory=HttpLimits)
    auth_throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    # [calls]: what one call, and the disk under all of them, may cost (limits/call_bounds.py).
    call_bounds: CallBounds = field(default_factory=CallBounds)
    # [metrics]: who may read /metrics (observability/metrics_access.py).
    metrics_access: MetricsAccess = field(default_factory=MetricsAccess)
    # [overload]: this node's capacity and when it refuses new calls (limits/overload.py).
    overload: OverloadSettings = field(default_factory=OverloadSettings)
    # [webhooks] connections_per_account: one account's share of the webhook connections.
    webhook_connections_per_account: int = DEFAULT_SHARE
    # [store] url (or SWITCHBOARD_DATABASE_URL): a postgresql:// URL puts calls, events and
    # provisioning in PostgreSQL, shared by every node (docs/operations.md); None: the SQLite
    # file in the data directory. `schema`: the PostgreSQL schema to keep the tables in.
    store_url: str | None = None
    store_schema: str | None = None
    # [node]: this node's id, address and lease, when several share the PostgreSQL store.
    node: NodeSettings = field(default_factory=NodeSettings)
    config_file: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "switchboard.db"

    @property
    def database_name(self) -> str:
        """Where the data is, for messages (never with the URL's password)."""
        if self.store_url is None:
            return str(self.database_path)
        return redact_database_url(self.store_url)


def load_settings(
    config_file: Path | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | None = None,
) -> Settings:
    raw: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{config_file}: no such file") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{config_file}: not valid TOML: {error}") from None
    server = _table(raw, "server")
    profile = _get(server, "profile", str, "development", "server")
    if profile not in PROFILES:
        raise ConfigError(f"[server] profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    simulator = _simulator(raw)
    network_kind, sip = _network(raw, simulator)
    file_data_dir = _get(server, "data_dir", str, DEFAULT_DATA_DIR, "server")
    resolved_data_dir = data_dir or _relative_to(config_file, Path(file_data_dir))
    listen_host = host or _get(server, "host", str, DEFAULT_HOST, "server")
    listen_port = port if port is not None else _get(server, "port", int, DEFAULT_PORT, "server")
    return Settings(
        host=listen_host,
        port=listen_port,
        data_dir=resolved_data_dir,
        profile=profile,
        trust_proxy=_get(server, "trust_proxy", bool, False, "server"),
        public_url=_public_url(server),
        allow_private_destinations=_get(
            server, "allow_private_destinations", bool, profile == "development", "server"
        ),
        allowed_destinations=_networks(server, "allowed_destinations"),
        token_lifetime_seconds=_positive(server, "token_lifetime_seconds", 3600),
        log_level=_get(server, "log_level", str, "info", "server"),
        log_format=_log_format(server),
        accounts=_unique(
            tuple(_account(entry, index) for index, entry in enumerate(_list(raw, "accounts")))
        ),
        simulator=simulator,
        network_kind=network_kind,
        sip=sip,
        limits=_limits(raw),
        retention_days=_retention(server),
        recording_retention_days=_recording_retention(_table(raw, "recordings")),
        webhook_retries=_retry_policy(_table(raw, "webhooks")),
        webhook_connections_per_account=_connections_per_account(_table(raw, "webhooks")),
        drain_seconds=_non_negative(server, "drain_seconds", 30.0),
        keep_alive_seconds=_positive(server, "keep_alive_seconds", DEFAULT_KEEP_ALIVE_SECONDS),
        tls=_tls(server, config_file, listen_host, listen_port),
        **_hardening(raw),
        **_store(raw),
        config_file=config_file,
        raw=raw,
    )


DATABASE_URL_VARIABLE = "SWITCHBOARD_DATABASE_URL"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _store(raw: dict[str, Any]) -> dict[str, Any]:
    """`[store] url` and `schema`; SWITCHBOARD_DATABASE_URL wins over the file's url (a secret
    kept out of config files, as twelve-factor deployments do)."""
    store = _table(raw, "store")
    unknown = set(store) - {"url", "schema"}
    if unknown:
        raise ConfigError(
            f"[store]: unknown key(s) {', '.join(sorted(unknown))}; known keys are url, schema"
        )
    url = os.environ.get(DATABASE_URL_VARIABLE) or _get(store, "url", str, "", "store") or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"[store] url must be a postgresql:// URL (or absent, for the SQLite file in the "
            f"data directory), got {redact_database_url(url)!r}"
        )
    schema = _get(store, "schema", str, "", "store") or None
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(
            f"[store] schema must be a lower-case SQL name (letters, digits, _), got {schema!r}"
        )
    try:
        node = parse_node_settings(_table(raw, "node"))
    except NodeConfigError as error:
        raise ConfigError(str(error)) from None
    return {"store_url": url, "store_schema": schema, "node": node}


def redact_database_url(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _hardening(raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return {
            "http": parse_http_limits(_table(raw, "http")),
            "auth_throttle": parse_throttle(_table(raw, "auth")),
            "call_bounds": parse_call_bounds(_table(raw, "calls")),
            "metrics_access": parse_metrics_access(_table(raw, "metrics")),
            "overload": parse_overload(_table(raw, "overload")),
        }
    except (
        HardeningConfigError,
        CallBoundsConfigError,
        MetricsConfigError,
        OverloadConfigError,
    ) as error:
        raise ConfigError(str(error)) from None


def _simulator(raw: dict[str, Any]) -> SimulatorSettings:
    try:
        return parse_simulator(raw)
    except PhoneConfigError as error:
        raise ConfigError(str(error)) from None


def _network(raw: dict[str, Any], simulator: SimulatorSettings) -> tuple[str, SipSettings]:
    """`[network] kind` picks the network; a `[network.sip]` table alone means SIP."""
    network = _table(raw, "network")
    unknown = set(network) - {"kind", "sip"}
    if unknown:
        raise ConfigError(
            f"[network]: unknown key(s) {', '.join(sorted(unknown))}; known keys are kind, sip"
        )
    sip_table = network.get("sip", {})
    if not isinstance(sip_table, dict):
        raise ConfigError("[network.sip] must be a table")
    kind = _get(network, "kind", str, "sip" if "sip" in network else "simulated", "network")
    if kind not in NETWORK_KINDS:
        raise ConfigError(f"[network] kind must be simulated or sip, got {kind!r}")
    try:
        sip = parse_sip_settings(sip_table)
    except SipConfigError as error:
        raise ConfigError(str(error)) from None
    if kind == "sip" and simulator.time_scale != 1.0:
        raise ConfigError(
            '[simulator] time_scale must be 1.0 with [network] kind = "sip": '
            "real calls run in real time"
        )
    return kind, sip


def _relative_to(config_file: Path | None, path: Path) -> Path:
    if config_file is None or path.is_absolute():
        return path
    return config_file.parent / path


def _account(entry: dict[str, Any], index: int) -> AccountConfig:
    where = f"accounts[{index}]"
    from switchboard.provisioning.models import ACCOUNT_ID  # local: avoid an import cycle

    account_id = str(_required(entry, "id", where))
    if not ACCOUNT_ID.match(account_id):
        raise ConfigError(f"{where}.id must be 7 digits like Bandwidth's, got {account_id!r}")
    account = AccountConfig(
        id=account_id,
        name=_get(entry, "name", str, f"Account {account_id}", where),
        users=tuple(
            UserConfig(
                username=str(_required(user, "username", f"{where}.users[{i}]")),
                password=str(_required(user, "password", f"{where}.users[{i}]")),
            )
            for i, user in enumerate(_list(entry, "users", where))
        ),
        oauth_clients=tuple(
            OAuthClientConfig(
                client_id=str(_required(client, "client_id", f"{where}.oauth_clients[{i}]")),
                client_secret=str(
                    _required(client, "client_secret", f"{where}.oauth_clients[{i}]")
                ),
            )
            for i, client in enumerate(_list(entry, "oauth_clients", where))
        ),
        applications=_applications(entry, where),
        numbers=tuple(_number(n, where) for n in _get(entry, "numbers", list, [], where)),
        limits=_limit_overrides(entry.get("limits", {}), f"{where}.limits"),
    )
    _check_application_numbers(account)
    return account


def _applications(entry: dict[str, Any], where: str) -> tuple[ApplicationConfig, ...]:
    applications = []
    for i, app in enumerate(_list(entry, "applications", where)):
        at = f"{where}.applications[{i}]"
        unknown = set(app) - {"id", "name", "numbers", *VOICE_KEYS}
        if unknown:
            raise ConfigError(
                f"{at}: unknown key(s) {', '.join(sorted(unknown))}; known keys are id, name, "
                f"numbers, {', '.join(VOICE_KEYS)}"
            )
        try:
            voice = parse_voice_settings(app, at)
        except VoiceSettingsError as error:
            raise ConfigError(str(error)) from None
        applications.append(
            ApplicationConfig(
                id=_uuid(_required(app, "id", at), where),
                name=_get(app, "name", str, "Application", at),
                voice=voice,
                numbers=tuple(_number(n, at) for n in _get(app, "numbers", list, [], at)),
            )
        )
    return tuple(applications)


def _check_application_numbers(account: AccountConfig) -> None:
    """Each number an application lists is one of the account's, and rings one application."""
    ringing: dict[str, str] = {}
    for app in account.applications:
        for number in app.numbers:
            if number not in account.numbers:
                raise ConfigError(
                    f"application {app.id} lists {number}, which is not one of account "
                    f"{account.id}'s numbers (add it to the account's numbers first)"
                )
            if ringing.setdefault(number, app.id) != app.id:
                raise ConfigError(
                    f"number {number} is listed by two applications ({ringing[number]} and "
                    f"{app.id}); a number rings one application only"
                )


def _limit_overrides(raw: object, where: str) -> LimitOverrides:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(raw) - {"calls_per_second", "concurrent_calls", "queue"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    cps = raw.get("calls_per_second")
    if cps is not None and (
        isinstance(cps, bool)
        or not isinstance(cps, int | float)
        or not 0 < cps < float("inf")  # TOML has nan and inf: neither is a rate
    ):
        raise ConfigError(f"{where}.calls_per_second must be a positive number, got {cps!r}")
    concurrent = raw.get("concurrent_calls")
    if concurrent is not None and (
        isinstance(concurrent, bool) or not isinstance(concurrent, int) or concurrent < 1
    ):
        raise ConfigError(
            f"{where}.concurrent_calls must be a whole number >= 1, got {concurrent!r}"
        )
    queue = raw.get("queue")
    if queue is not None and not isinstance(queue, bool):
        raise ConfigError(f"{where}.queue must be true or false, got {queue!r}")
    return LimitOverrides(None if cps is None else float(cps), concurrent, queue)


def _limits(raw: dict[str, Any]) -> LimitSettings:
    overrides = _limit_overrides(raw.get("limits", {}), "limits")
    defaults = LimitSettings()
    return LimitSettings(
        calls_per_second=overrides.calls_per_second or defaults.calls_per_second,
        concurrent_calls=overrides.concurrent_calls or defaults.concurrent_calls,
        queue_enabled=defaults.queue_enabled
        if overrides.queue_enabled is None
        else overrides.queue_enabled,
    )


def _public_url(server: dict[str, Any]) -> str | None:
    """[server] public_url: scheme, host, optional port and path prefix; no trailing slash."""
    value = server.get("public_url")
    if value is None:
        return None
    problem = None
    if not isinstance(value, str):
        problem = "it is not a string"
    else:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
        except ValueError as error:
            problem = str(error)
        else:
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problem = "it needs http:// or https:// and a host"
            elif parts.username is not None or parts.password is not None:
                problem = "it must not hold credentials"
            elif parts.query or parts.fragment or value.endswith(("?", "#")):
                problem = "it must not have a query or a fragment"
            elif any(character.isspace() for character in value):
                problem = "it must not contain spaces"
    if problem is not None:
        raise ConfigError(
            "server.public_url must be the absolute http(s) URL clients reach Switchboard at, "
            f'like "https://voice.example.com" ({problem}), got {value!r}'
        )
    assert isinstance(value, str)
    # callUrl and the others append "/api/v2/...": a trailing slash would double it.
    return value.rstrip("/")


def _tls(server: dict[str, Any], config_file: Path | None, host: str, port: int) -> TlsSettings:
    table = server.get("tls", {})
    if not isinstance(table, dict):
        raise ConfigError("[server.tls] must be a table")
    known = ("enabled", "host", "port", "cert_file", "key_file")
    unknown = set(table) - set(known)
    if unknown:
        raise ConfigError(
            f"[server.tls]: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known keys are {', '.join(known)}"
        )
    where = "server.tls"
    tls_host = _get(table, "host", str, DEFAULT_HOST, where)
    tls_port = _get(table, "port", int, DEFAULT_TLS_PORT, where)
    if not 0 <= tls_port <= 65535:
        raise ConfigError(f"server.tls.port must be 0-65535 (0: any free port), got {tls_port}")
    files: list[Path | None] = []
    for key in known[3:]:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"server.tls.{key} must be a file path, got {value!r}")
        files.append(None if value is None else _relative_to(config_file, Path(value)))
    if (files[0] is None) != (files[1] is None):
        raise ConfigError(
            "server.tls: give both cert_file and key_file, or neither "
            "(then Switchboard's own CA signs a certificate for Bandwidth's hostnames)"
        )
    for key, path in zip(known[3:], files, strict=True):
        if path is not None and not path.is_file():
            raise ConfigError(f"server.tls.{key}: {path} is not a file")
    enabled = _get(table, "enabled", bool, False, where)
    wildcards = ("0.0.0.0", "::", "")
    if (
        enabled
        and tls_port == port != 0
        and (tls_host == host or tls_host in wildcards or host in wildcards)
    ):
        raise ConfigError(
            f"server.tls.port {tls_port} is the plain HTTP listener's port; give each its own"
        )
    return TlsSettings(enabled, tls_host, tls_port, files[0], files[1])


def _log_format(server: dict[str, Any]) -> str:
    value = _get(server, "log_format", str, "text", "server")
    if value not in ("text", "json"):
        raise ConfigError(f"server.log_format must be text or json, got {value!r}")
    return value


def _networks(server: dict[str, Any], key: str) -> tuple[str, ...]:
    values = _get(server, key, list, [], "server")
    for value in values:
        try:
            if not isinstance(value, str):
                raise TypeError(value)
            ipaddress.ip_network(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f'server.{key} must list IP addresses or networks like "10.1.0.0/16" '
                f"(no host bits set), got {value!r}"
            ) from None
    return tuple(values)


def _retry_policy(table: dict[str, Any]) -> RetryPolicy:
    """[webhooks]: extra delivery rounds for asynchronous events (off by default)."""
    unknown = set(table) - {
        "retries",
        "backoff_seconds",
        "max_backoff_seconds",
        "connections_per_account",  # read by _connections_per_account
    }
    if unknown:
        raise ConfigError(f"[webhooks]: unknown key(s) {', '.join(sorted(unknown))}")
    retries = _get(table, "retries", int, 0, "webhooks")
    if retries < 0:
        raise ConfigError(f"webhooks.retries must be 0 or more, got {retries}")
    return RetryPolicy(
        retries=retries,
        backoff_seconds=_non_negative(table, "backoff_seconds", 1.0, "webhooks"),
        max_backoff_seconds=_non_negative(table, "max_backoff_seconds", 60.0, "webhooks"),
    )


def _connections_per_account(table: dict[str, Any]) -> int:
    """[webhooks] connections_per_account: each account's share of the outgoing webhook
    connections (webhooks/account_share.py)."""
    value = _get(table, "connections_per_account", int, DEFAULT_SHARE, "webhooks")
    if value < 1:
        raise ConfigError(f"webhooks.connections_per_account must be at least 1, got {value}")
    return value


def _non_negative(table: dict[str, Any], key: str, default: float, where: str = "server") -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
        raise ConfigError(f"{where}.{key} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _retention(server: dict[str, Any]) -> float:
    value = server.get("retention_days", 7)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"server.retention_days must be a positive number, got {value!r}")
    return float(value)


def _recording_retention(table: dict[str, Any]) -> float:
    unknown = set(table) - {"retention_days"}
    if unknown:
        raise ConfigError(
            f"[recordings]: unknown key(s) {', '.join(sorted(unknown))}; known keys are "
            "retention_days"
        )
    value = table.get("retention_days", 30)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"recordings.retention_days must be a positive number, got {value!r}")
    return float(value)


def _positive(server: dict[str, Any], key: str, default: int) -> int:
    value = _get(server, key, int, default, "server")
    if value < 1:
        raise ConfigError(f"server.{key} must be a positive number of seconds, got {value}")
    return value


def _uuid(value: object, where: str) -> str:
    try:
        uuid.UUID(str(value))
        return str(value)  # as written: requests must quote it the same way (as the CLI does)
    except ValueError:
        raise ConfigError(
            f"{where}.applications: id {value!r} is not a UUID "
            "like 7fc9698a-b04a-468b-9e8f-91238c0d0086"
        ) from None


def _unique(accounts: tuple[AccountConfig, ...]) -> tuple[AccountConfig, ...]:
    """Ids are global in the store: a second account claiming one would silently take it over."""
    seen_accounts: set[str] = set()
    owners: dict[tuple[str, str], str] = {}
    for account in accounts:
        if account.id in seen_accounts:
            raise ConfigError(f"account id {account.id!r} appears more than once in [[accounts]]")
        seen_accounts.add(account.id)
        keys = [("username", user.username) for user in account.users]
        keys += [("OAuth client_id", client.client_id) for client in account.oauth_clients]
        keys += [("application id", app.id) for app in account.applications]
        keys += [("number", number) for number in account.numbers]
        for kind, key in keys:
            owner = owners.setdefault((kind, key), account.id)
            if owner != account.id:
                raise ConfigError(
                    f"{kind} {key!r} is given to two accounts ({owner} and {account.id}); "
                    "each may belong to one account only"
                )
    return accounts


def _number(value: object, where: str) -> str:
    from switchboard.calls.validation import E164

    if not isinstance(value, str) or not E164.match(value):
        raise ConfigError(f"{where}.numbers: {value!r} is not an E.164 number like +15555551212")
    return value


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _list(raw: dict[str, Any], key: str, where: str = "") -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{where + '.' if where else ''}{key} must be an array of tables")
    return value


def _required(raw: dict[str, Any], key: str, where: str) -> object:
    if key not in raw:
        raise ConfigError(f"{where}.{key} is required")
    return raw[key]


_KINDS: dict[type, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    list: "a list",
}


def _get(raw: dict[str, Any], key: str, kind: type[T], default: T, where: str) -> T:
    value = raw.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key} must be {_KINDS.get(kind, kind.__name__)}, got {value!r}")
    return value
