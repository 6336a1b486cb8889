"""`switchboard serve | accounts | users | oauth-clients | applications | numbers | bxml`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from switchboard.calls.validation import E164
from switchboard.config import ConfigError, Settings, load_settings
from switchboard.limits.account import account_limits
from switchboard.provisioning import commands as commands_module
from switchboard.provisioning.models import (
    ACCOUNT_ID,
    Account,
    ApiUser,
    OAuthClient,
    PhoneNumber,
    new_account_id,
    new_password,
)
from switchboard.provisioning.secrets import hash_secret
from switchboard.provisioning.vault import Vault
from switchboard.store import provisioning_db
from switchboard.store.factory import blocking_connection, upgrade
from switchboard.store.sql import IntegrityErrors, SqlConnection


class CliError(Exception):
    """A mistake on the command line; printed without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        settings = load_settings(
            Path(args.config) if args.config else None,
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=Path(args.data_dir) if args.data_dir else None,
        )
        result: int = args.handler(args, settings)
        return result
    except (CliError, ConfigError, commands_module.CommandError) as error:
        print(f"switchboard: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard", description="A programmable-voice server speaking Bandwidth's API."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML configuration file")
    common.add_argument("--data-dir", metavar="DIR", help="where the database lives (./data)")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", parents=[common], help="run the server")
    serve.add_argument("--host", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (8080)")
    serve.set_defaults(handler=_serve)

    accounts = _group(commands, "accounts", "accounts")
    create = accounts.add_parser("create", parents=[common], help="create an account")
    create.add_argument("--id", help="7-digit account id (random if omitted)")
    create.add_argument("--name", default="Account", help="a name for people")
    create.set_defaults(handler=_accounts_create)
    _list_command(accounts, common, "SELECT id, name FROM accounts ORDER BY id", ("id", "name"))
    _remove_command(accounts, common, "account", "ACCOUNT_ID")
    limits = accounts.add_parser(
        "limits", parents=[common], help="show or set an account's call limits"
    )
    limits.add_argument("account_id")
    limits.add_argument("--cps", type=float, help="calls per second (server default: 5)")
    limits.add_argument("--concurrent", type=int, help="concurrent calls (server default: 100)")
    limits.add_argument("--queue", choices=("on", "off"), help="the outbound call queue")
    limits.add_argument("--default", action="store_true", help="forget this account's own limits")
    limits.set_defaults(handler=_accounts_limits)

    users = _group(commands, "users", "API users (HTTP Basic credentials)")
    add = users.add_parser("add", parents=[common], help="add or update an API user")
    add.add_argument("account_id")
    add.add_argument("username")
    add.add_argument("--password", help="random if omitted (printed once)")
    add.set_defaults(handler=_users_add)
    _list_command(
        users,
        common,
        "SELECT account_id, username FROM api_users ORDER BY account_id, username",
        ("account", "username"),
    )
    _remove_command(users, common, "user", "USERNAME")

    clients = _group(commands, "oauth-clients", "OAuth2 clients (client credentials)")
    add = clients.add_parser("add", parents=[common], help="add or update an OAuth2 client")
    add.add_argument("account_id")
    add.add_argument("--client-id", help="random if omitted")
    add.add_argument("--client-secret", help="random if omitted (printed once)")
    add.set_defaults(handler=_clients_add)
    _list_command(
        clients,
        common,
        "SELECT account_id, client_id FROM oauth_clients ORDER BY account_id, client_id",
        ("account", "client_id"),
    )
    _remove_command(clients, common, "oauth-client", "CLIENT_ID")

    applications = _group(commands, "applications", "voice applications")
    add = applications.add_parser("add", parents=[common], help="add or rename an application")
    add.add_argument("account_id")
    add.add_argument("name")
    add.add_argument("--id", help="UUID (random if omitted)")
    commands_module.add_voice_options(add)
    add.set_defaults(handler=_applications_add)
    update = applications.add_parser(
        "update", parents=[common], help="change an application's name or voice settings"
    )
    update.add_argument("application_id")
    update.add_argument("--name")
    commands_module.add_voice_options(update)
    update.set_defaults(handler=_applications_update)
    show = applications.add_parser(
        "show", parents=[common], help="an application's voice settings and numbers"
    )
    show.add_argument("application_id")
    show.set_defaults(handler=_applications_show)
    _list_command(
        applications,
        common,
        "SELECT account_id, id, name FROM applications ORDER BY account_id, name",
        ("account", "id", "name"),
    )
    _remove_command(applications, common, "application", "APPLICATION_ID")

    numbers = _group(commands, "numbers", "phone numbers (E.164)")
    add = numbers.add_parser("add", parents=[common], help="give numbers to an account")
    add.add_argument("account_id")
    add.add_argument("numbers", nargs="+", metavar="NUMBER")
    add.set_defaults(handler=_numbers_add)
    assign = numbers.add_parser(
        "assign", parents=[common], help="make calls to a number ring an application"
    )
    assign.add_argument("number")
    assign.add_argument("application_id")
    assign.set_defaults(handler=_numbers_assign)
    unassign = numbers.add_parser(
        "unassign", parents=[common], help="a number rings no application (its calls are refused)"
    )
    unassign.add_argument("number")
    unassign.set_defaults(handler=_numbers_assign)
    _list_command(
        numbers,
        common,
        "SELECT account_id, number, coalesce(application_id, '-') FROM phone_numbers "
        "ORDER BY account_id, number",
        ("account", "number", "application"),
    )
    _remove_command(numbers, common, "number", "NUMBER")
    bxml = _group(commands, "bxml", "BXML documents")
    check = bxml.add_parser("check", help="validate a BXML document offline")
    check.add_argument("file", help="the document ('-' for standard input)")
    check.add_argument(
        "--root",
        choices=("Response", "Bxml"),
        default="Response",
        help="what the document is for: Response (a callback's answer, <Response> root) or Bxml "
        "(a PUT .../bxml body, <Bxml> or <Response> root)",
    )
    check.set_defaults(handler=_bxml_check, config=None, data_dir=None)

    calls = _group(commands, "calls", "calls")
    show = calls.add_parser("show", parents=[common], help="a call's state and its timeline")
    show.add_argument("call_id")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(handler=_calls_show)

    db = _group(commands, "db", "the database")
    upgrade_command = db.add_parser(
        "upgrade",
        parents=[common],
        help="apply the schema migrations the database lacks (the server also does at start)",
    )
    upgrade_command.set_defaults(handler=_db_upgrade)

    ca = _group(commands, "ca", "the local CA for Bandwidth's hostnames (docs/compatibility.md)")
    path = ca.add_parser(
        "path", parents=[common], help="print the CA certificate's path (made on first use)"
    )
    path.set_defaults(handler=_ca_path)
    return parser


def _group(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, what: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    group = commands.add_parser(name, help=f"manage {what}")
    return group.add_subparsers(title=f"{name} commands")


def _list_command(
    group: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    query: str,
    columns: tuple[str, ...],
) -> None:
    command = group.add_parser("list", parents=[common], help="list them")

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        with _database(settings) as connection:
            rows = connection.execute(query).fetchall()
        print("\t".join(columns))
        for row in rows:
            print("\t".join(str(value) for value in row))
        return 0

    command.set_defaults(handler=handler)


def _remove_command(
    group: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    kind: str,
    key_name: str,
) -> None:
    command = group.add_parser("remove", parents=[common], help=f"remove a {kind}")
    command.add_argument("key", metavar=key_name)

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        with _database(settings) as connection:
            if not provisioning_db.remove(connection, kind, args.key):
                raise CliError(f"no {kind} {args.key!r}")
        print(f"removed {kind} {args.key}")
        return 0

    command.set_defaults(handler=handler)


class _database:
    """A migrated connection that commits on success (each statement autocommits)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection: SqlConnection | None = None

    def __enter__(self) -> SqlConnection:
        self.connection = blocking_connection(self.settings)
        return self.connection

    def __exit__(self, *exc: object) -> None:
        assert self.connection is not None
        self.connection.close()


def _require_account(connection: SqlConnection, account_id: str) -> None:
    if connection.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone() is None:
        raise CliError(f"no account {account_id!r} (create it with: switchboard accounts create)")


def _require_not_elsewhere(connection: SqlConnection, kind: str, key: str, account_id: str) -> None:
    """`add` updates a record of this account, but never silently moves one from another."""
    table, column = _OWNED[kind]
    row = connection.execute(
        f"SELECT account_id FROM {table} WHERE {column} = ?", (key,)
    ).fetchone()
    if row is not None and row[0] != account_id:
        raise CliError(
            f"{kind} {key!r} belongs to account {row[0]}; "
            f"remove it there first (switchboard {kind}s remove {key})"
        )


_OWNED = {
    "user": ("api_users", "username"),
    "oauth-client": ("oauth_clients", "client_id"),
    "application": ("applications", "id"),
    "number": ("phone_numbers", "number"),
}


def _run(change: Callable[[SqlConnection], None], settings: Settings) -> None:
    with _database(settings) as connection:
        try:
            change(connection)
        except IntegrityErrors as error:
            raise CliError(str(error)) from None


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from switchboard.server import serve

    serve(settings)
    return 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    before, after = upgrade(settings)
    if before == after:
        print(f"{settings.database_name} is at schema version {after}: nothing to do")
    else:
        print(f"{settings.database_name}: schema version {before} -> {after}")
    return 0


def _ca_path(args: argparse.Namespace, settings: Settings) -> int:
    from switchboard.tls.ca import ensure_ca

    # Only the certificate's path: the key beside it is never printed.
    print(ensure_ca(settings.data_dir).ca_cert.resolve())
    return 0


def _accounts_create(args: argparse.Namespace, settings: Settings) -> int:
    account_id = args.id or new_account_id()
    if not ACCOUNT_ID.match(account_id):
        raise CliError(f"account id must be 7 digits, got {account_id!r}")

    def change(connection: SqlConnection) -> None:
        existing = provisioning_db.load_snapshot(connection).accounts.get(account_id)
        account = (
            dataclasses.replace(existing, name=args.name)  # keep its limits
            if existing
            else Account(account_id, args.name)
        )
        provisioning_db.put_account(connection, account)

    _run(change, settings)
    print(account_id)
    return 0


def _accounts_limits(args: argparse.Namespace, settings: Settings) -> int:
    if args.cps is not None and not 0 < args.cps < float("inf"):  # also refuses nan
        raise CliError("--cps must be a positive number")
    if args.concurrent is not None and args.concurrent < 1:
        raise CliError("--concurrent must be at least 1")
    with _database(settings) as connection:
        account = provisioning_db.load_snapshot(connection).accounts.get(args.account_id)
        if account is None:
            raise CliError(f"no account {args.account_id!r}")
        if args.default:
            account = Account(account.id, account.name)
        changes: dict[str, object] = {}
        if args.cps is not None:
            changes["calls_per_second"] = args.cps
        if args.concurrent is not None:
            changes["concurrent_calls"] = args.concurrent
        if args.queue is not None:
            changes["queue_enabled"] = args.queue == "on"
        account = dataclasses.replace(account, **changes)  # type: ignore[arg-type]
        provisioning_db.put_account(connection, account)
    effective = account_limits(settings.limits, account)
    print(f"account {account.id}")
    print(f"calls per second  {effective.calls_per_second:g}")
    print(f"concurrent calls  {effective.concurrent_calls}")
    print(
        f"outbound queue    {'on' if effective.queue_enabled else 'off'}"
        f" (up to {effective.max_queue_size} calls)"
    )
    return 0


def _users_add(args: argparse.Namespace, settings: Settings) -> int:
    password = args.password or new_password()

    def change(connection: SqlConnection) -> None:
        _require_account(connection, args.account_id)
        _require_not_elsewhere(connection, "user", args.username, args.account_id)
        user = ApiUser(args.username, args.account_id, hash_secret(password))
        provisioning_db.put_user(connection, user)

    _run(change, settings)
    print(f"user {args.username} of account {args.account_id}")
    if not args.password:
        print(f"password {password}")
    return 0


def _clients_add(args: argparse.Namespace, settings: Settings) -> int:
    client_id = args.client_id or uuid.uuid4().hex
    secret = args.client_secret or new_password()

    def change(connection: SqlConnection) -> None:
        _require_account(connection, args.account_id)
        _require_not_elsewhere(connection, "oauth-client", client_id, args.account_id)
        client = OAuthClient(client_id, args.account_id, hash_secret(secret))
        provisioning_db.put_oauth_client(connection, client)

    _run(change, settings)
    print(f"client_id {client_id}")
    if not args.client_secret:
        print(f"client_secret {secret}")
    return 0


def _applications_add(args: argparse.Namespace, settings: Settings) -> int:
    application_id = args.id or str(uuid.uuid4())
    try:
        uuid.UUID(application_id)
    except ValueError:
        raise CliError(f"application id must be a UUID, got {application_id!r}") from None

    changes = commands_module.voice_changes(args)

    def change(connection: SqlConnection) -> None:
        _require_account(connection, args.account_id)
        _require_not_elsewhere(connection, "application", application_id, args.account_id)
        commands_module.save_application(
            connection, _vault(settings), application_id, args.account_id, args.name, changes
        )

    _run(change, settings)
    print(application_id)
    return 0


def _applications_update(args: argparse.Namespace, settings: Settings) -> int:
    application_id = commands_module.check_uuid(args.application_id)
    changes = commands_module.voice_changes(args)

    def change(connection: SqlConnection) -> None:
        current = commands_module.find_application(connection, application_id)
        commands_module.save_application(
            connection, _vault(settings), application_id, current.account_id, args.name, changes
        )

    _run(change, settings)
    print(f"application {application_id} updated")
    return 0


def _applications_show(args: argparse.Namespace, settings: Settings) -> int:
    with _database(settings) as connection:
        application = commands_module.find_application(connection, args.application_id)
        numbers = [
            number
            for (number,) in connection.execute(
                "SELECT number FROM phone_numbers WHERE application_id = ? ORDER BY number",
                (application.id,),
            )
        ]
    print(commands_module.describe(application, numbers))
    return 0


def _numbers_assign(args: argparse.Namespace, settings: Settings) -> int:
    application_id = getattr(args, "application_id", None)
    if application_id is not None:
        commands_module.check_uuid(application_id)

    def change(connection: SqlConnection) -> None:
        commands_module.assign_number(connection, args.number, application_id)

    _run(change, settings)
    target = f"rings application {application_id}" if application_id else "rings no application"
    print(f"{args.number} {target}")
    return 0


def _vault(settings: Settings) -> Vault:
    return Vault.in_directory(settings.data_dir)


def _numbers_add(args: argparse.Namespace, settings: Settings) -> int:
    for number in args.numbers:
        if not E164.match(number):
            raise CliError(f"{number!r} is not an E.164 number like +15555551212")

    def change(connection: SqlConnection) -> None:
        _require_account(connection, args.account_id)
        for number in args.numbers:
            _require_not_elsewhere(connection, "number", number, args.account_id)
        routes = provisioning_db.load_snapshot(connection).numbers
        for number in args.numbers:
            # Adding a number again keeps the application it rings.
            current = routes.get(number)
            application_id = current.application_id if current else None
            provisioning_db.put_number(
                connection, PhoneNumber(number, args.account_id, application_id)
            )

    _run(change, settings)
    print(f"{len(args.numbers)} number(s) on account {args.account_id}")
    return 0


def _bxml_check(args: argparse.Namespace, settings: Settings) -> int:
    from switchboard.bxml import check_bxml

    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(args.file).read_bytes()
        except OSError as error:
            raise CliError(f"cannot read {args.file}: {error.strerror}") from None
    problems, unset = check_bxml(data, root=args.root)
    for problem in problems:
        print(f"{args.file}: {problem}")
    # Warnings, not problems: the document runs (with the defaults), on Bandwidth as here.
    for attribute in unset:
        print(
            f"{args.file}: line {attribute.line}, column {attribute.column}: warning: "
            f'<{attribute.verb}> {attribute.name}="None" is read as unset, so its default '
            "applies (bandwidth-sdk 15.0.0 to 16.0.0 writes unset attributes that way; "
            "upgrade it)"
        )
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    print(f"{args.file}: OK" + (f", {len(unset)} warning(s)" if unset else ""))
    return 0


def _calls_show(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    with _database(settings) as connection:
        row = connection.execute(
            "SELECT data FROM calls WHERE call_id = ?", (args.call_id,)
        ).fetchone()
        if row is None:
            raise CliError(f"no call {args.call_id!r} in {settings.database_name}")
        timeline = connection.execute(
            "SELECT sequence, at, kind, data FROM call_timeline WHERE call_id = ? "
            "ORDER BY sequence",
            (args.call_id,),
        ).fetchall()
    call = orjson.loads(row[0])
    entries = [
        {"sequence": sequence, "at": at, "kind": kind, **orjson.loads(data)}
        for sequence, at, kind, data in timeline
    ]
    if args.json:
        call["request"].pop("password", None)
        call["request"].pop("fallback_password", None)
        call["request"].pop("url_credentials", None)  # the passwords of user:password@ URLs
        detection = call["request"].get("machine_detection") or {}
        detection.pop("password", None)
        detection.pop("fallback_password", None)
        print(
            orjson.dumps({"call": call, "timeline": entries}, option=orjson.OPT_INDENT_2).decode()
        )
        return 0
    request = call["request"]
    direction = call.get("direction", "outbound")
    print(f"call      {call['call_id']}  ({direction}, account {call['account_id']})")
    print(f"from/to   {request['from_']} -> {request['to']}")
    print(
        f"state     {call['state']}"
        + (f"  cause {call['disconnect_cause']}" if call["disconnect_cause"] else "")
    )
    if call.get("error_message"):
        print(f"error     {call['error_message']}")
    print()
    for entry in entries:
        print(f"{entry['at']}  {_describe(entry)}")
    return 0


def _describe(entry: dict[str, object]) -> str:
    kind = entry["kind"]
    if kind == "state":
        return f"state -> {entry['state']}"
    if kind == "network":
        return f"network: {entry['event']}"
    if kind == "verb":
        details = {k: v for k, v in entry.items() if k not in ("sequence", "at", "kind", "verb")}
        shown = " ".join(f"{k}={v!r}" for k, v in details.items() if v is not None)
        return f"<{entry['verb']}> {shown}".rstrip()
    if kind == "webhook":
        outcome = entry.get("error") or f"HTTP {entry.get('status')}"
        return (
            f"webhook {entry['eventType']}: {entry['method']} {entry['url']} -> {outcome} "
            f"({entry.get('latencyMs')} ms)"
        )
    if kind == "error":
        return f"error {entry.get('cause')}: {entry.get('message')}"
    rest = {k: v for k, v in entry.items() if k not in ("sequence", "at", "kind")}
    return f"{kind}: {rest}"


if __name__ == "__main__":
    sys.exit(main())
