"""CLI commands for what inbound calls need: applications' voice settings and numbers' routing.

    switchboard applications add ACCOUNT NAME [--id UUID] [--call-initiated-callback-url URL ...]
    switchboard applications update APPLICATION_ID [--name NAME] [--call-status-callback-url ...]
    switchboard applications show APPLICATION_ID
    switchboard numbers assign NUMBER APPLICATION_ID
    switchboard numbers unassign NUMBER

Passwords are sealed before they are stored (vault.py) and never printed back.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import Any

from switchboard.provisioning.models import Application, PhoneNumber
from switchboard.provisioning.setup import stored_voice_settings
from switchboard.provisioning.vault import Vault
from switchboard.provisioning.voice_settings import (
    KEYS,
    VoiceSettingsError,
    parse_voice_settings,
)
from switchboard.store import provisioning_db
from switchboard.store.sql import SqlConnection

Run = Callable[[Callable[[SqlConnection], None]], None]


class CommandError(Exception):
    """A mistake on the command line; the message says what to do."""


def add_voice_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("voice settings (Bandwidth's application settings)")
    for key in KEYS:
        group.add_argument("--" + key.replace("_", "-"), dest=key, metavar="VALUE")


def voice_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The voice options given on the command line ("" clears an optional one)."""
    changes: dict[str, Any] = {}
    for key in KEYS:
        value = getattr(args, key, None)
        if value is None:
            continue
        if key == "callback_timeout" and value != "":
            try:
                value = float(value)
            except ValueError:
                raise CommandError(
                    f"--callback-timeout must be a number of seconds, got {value!r}"
                ) from None
        changes[key] = value
    return changes


def save_application(
    connection: SqlConnection,
    vault: Vault,
    application_id: str,
    account_id: str,
    name: str | None,
    changes: dict[str, Any],
) -> Application:
    """Create or change an application: the voice options given change, the rest stay."""
    snapshot = provisioning_db.load_snapshot(connection)
    current = snapshot.applications.get(application_id)
    base = current.voice.with_passwords(lambda sealed: sealed) if current else None
    try:
        # Passwords already stored stay sealed; new ones are sealed by stored_voice_settings.
        voice = parse_voice_settings(changes, "application", base)
    except VoiceSettingsError as error:
        raise CommandError(str(error).replace("application.", "--").replace("_", "-")) from None
    application = Application(
        application_id,
        account_id,
        name if name is not None else (current.name if current else "Application"),
        stored_voice_settings(voice, current.voice if current else None, vault),
    )
    provisioning_db.put_application(connection, application)
    return application


def check_uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise CommandError(f"application id must be a UUID, got {value!r}") from None
    return value


def find_application(connection: SqlConnection, application_id: str) -> Application:
    application = provisioning_db.load_snapshot(connection).applications.get(application_id)
    if application is None:
        raise CommandError(
            f"no application {application_id!r} (see: switchboard applications list)"
        )
    return application


def assign_number(
    connection: SqlConnection, number: str, application_id: str | None
) -> PhoneNumber:
    snapshot = provisioning_db.load_snapshot(connection)
    owned = snapshot.numbers.get(number)
    if owned is None:
        raise CommandError(
            f"{number} is no account's number (give it to one first: "
            "switchboard numbers add ACCOUNT NUMBER)"
        )
    if application_id is not None:
        application = snapshot.applications.get(application_id)
        if application is None:
            raise CommandError(f"no application {application_id!r}")
        if application.account_id != owned.account_id:
            raise CommandError(
                f"{number} belongs to account {owned.account_id}, but application "
                f"{application_id} is account {application.account_id}'s; a number rings "
                "only an application of its own account"
            )
    record = PhoneNumber(number, owned.account_id, application_id)
    provisioning_db.put_number(connection, record)
    return record


def describe(application: Application, numbers: list[str]) -> str:
    lines = [
        f"application  {application.id}",
        f"account      {application.account_id}",
        f"name         {application.name}",
        f"numbers      {', '.join(numbers) if numbers else '(none)'}",
    ]
    for key, value in application.voice.described().items():
        lines.append(f"{key:<31}{value}")
    return "\n".join(lines)
