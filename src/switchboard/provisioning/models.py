"""Provisioning records, as stored. Secrets are only ever held hashed."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from switchboard.provisioning.voice_settings import VoiceSettings

ACCOUNT_ID = re.compile(r"^[0-9]{7}\Z")  # \Z: `$` would let a trailing newline in


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    # Limits of this account; None means the server's default ([limits] in the config).
    calls_per_second: float | None = None
    concurrent_calls: int | None = None
    queue_enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class ApiUser:
    username: str
    account_id: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class OAuthClient:
    client_id: str
    account_id: str
    secret_hash: str


@dataclass(frozen=True, slots=True)
class Application:
    id: str
    account_id: str
    name: str
    # Where its inbound calls' webhooks go; passwords sealed (provisioning/vault.py).
    voice: VoiceSettings = field(default_factory=VoiceSettings)


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    number: str
    account_id: str
    # The application a call to this number rings (None: the number takes no calls).
    application_id: str | None = None


@dataclass(slots=True)
class Snapshot:
    """Everything provisioned, indexed for the lookups a request needs."""

    accounts: dict[str, Account] = field(default_factory=dict)
    users: dict[str, ApiUser] = field(default_factory=dict)
    oauth_clients: dict[str, OAuthClient] = field(default_factory=dict)
    applications: dict[str, Application] = field(default_factory=dict)
    numbers: dict[str, PhoneNumber] = field(default_factory=dict)

    def account_owns_number(self, account_id: str, number: str) -> bool:
        owner = self.numbers.get(number)
        return owner is not None and owner.account_id == account_id

    def number_application(self, number: str) -> tuple[PhoneNumber | None, Application | None]:
        """Who a call to `number` reaches: the number's record and its application."""
        owner = self.numbers.get(number)
        if owner is None or owner.application_id is None:
            return owner, None
        application = self.applications.get(owner.application_id)
        if application is None or application.account_id != owner.account_id:
            return owner, None
        return owner, application

    def account_application(self, account_id: str, application_id: str) -> Application | None:
        application = self.applications.get(application_id)
        if application is None or application.account_id != account_id:
            return None
        return application


def new_account_id() -> str:
    """Seven digits like Bandwidth's account ids; never starts with 0."""
    return str(secrets.randbelow(9_000_000) + 1_000_000)


def new_password() -> str:
    return secrets.token_urlsafe(18)
