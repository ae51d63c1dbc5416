"""Operator commands: ``python -m app.cli keys create|list|revoke`` and ``python -m app.cli demo``.

    python -m app.cli keys create --name dashboard --role viewer --tenant smart:/ --tenant smart:/parking
    python -m app.cli keys list [--all] [--json]
    python -m app.cli keys revoke <id or prefix>
    python -m app.cli demo [--url URL] [--key KEY] [--entity-id ID] [--epochs N] [--recurring]

``keys`` talks to MongoDB directly (CHRONOS_MONGO_URL), so whoever runs it is trusted as an admin.
``demo`` is a client of the running API over HTTP GraphQL, like any other: it trains a small model on
a demo sensor of ``make run``'s FIWARE sandbox, follows the job live (graphql-sse) and forecasts.
Exit codes: 0 done, 1 the job failed or was cancelled, 2 the API refused, 3 no API answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from pymongo.errors import PyMongoError

from app import demo
from app.auth import keys
from app.auth.documents import ApiKeyDocument
from app.auth.roles import Role
from app.auth.tenancy import parse_tenant
from app.db import connect_mongo, init_documents
from app.errors import ChronosError
from app.settings import Settings, get_settings
from app.system.info import redact_url


def _tenant(text: str) -> Any:
    try:
        return parse_tenant(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m app.cli", description="Chronos operator commands.")
    groups = root.add_subparsers(dest="group", required=True)
    key_commands = groups.add_parser("keys", help="API keys").add_subparsers(dest="command", required=True)

    create = key_commands.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument(
        "--tenant",
        action="append",
        default=[],
        type=_tenant,
        metavar="SERVICE:PATH",
        help="a FIWARE tenant the key sees, e.g. smart:/ (repeatable; admins see every tenant)",
    )
    create.add_argument("--json", action="store_true", help="print JSON")

    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true", help="print JSON")

    revoke = key_commands.add_parser("revoke", help="revoke a key by id or shown prefix")
    revoke.add_argument("key")
    revoke.add_argument("--json", action="store_true", help="print JSON")
    demo.add_parser_to(groups)
    return root


def describe(document: ApiKeyDocument) -> dict[str, Any]:
    return {
        "id": str(document.id),
        "name": document.name,
        "prefix": document.prefix,
        "role": document.role.value,
        "tenants": [f"{t.service}:{t.service_path}" for t in document.tenants],
        "createdAt": document.created_at.isoformat(),
        "revokedAt": document.revoked_at.isoformat() if document.revoked_at else None,
    }


def _line(entry: dict[str, Any]) -> str:
    tenants = ",".join(entry["tenants"]) or "*"
    revoked = f"  revoked {entry['revokedAt']}" if entry["revokedAt"] else ""
    return f"{entry['id']}  {entry['prefix']}…  {entry['role']:<6}  {tenants}  {entry['name']}{revoked}"


async def run(arguments: argparse.Namespace, settings: Settings) -> int:
    client = connect_mongo(settings.mongo_url, timeout_seconds=settings.mongo_timeout_seconds)
    try:
        await init_documents(client, settings.mongo_database)
        if arguments.command == "create":
            created = await keys.create_key(
                name=arguments.name, role=Role(arguments.role), tenants=arguments.tenant
            )
            entry = {**describe(created.document), "key": created.secret}
            if arguments.json:
                print(json.dumps(entry))
            else:
                print(_line(entry))
                print(f"key: {created.secret}")
                print("Store it now: Chronos keeps only its hash and cannot show it again.", file=sys.stderr)
        elif arguments.command == "list":
            entries = [describe(d) for d in await keys.list_keys(include_revoked=arguments.all)]
            print(json.dumps(entries) if arguments.json else "\n".join(_line(e) for e in entries))
        else:
            entry = describe(await keys.revoke_key(key=arguments.key))
            print(json.dumps(entry) if arguments.json else _line(entry))
    except ChronosError as error:
        for problem in error.errors:
            where = f" ({'.'.join(problem.field)})" if problem.field else ""
            print(f"error: {problem.message}{where}", file=sys.stderr)
        return 2
    except PyMongoError as error:
        print(
            f"error: MongoDB at {redact_url(settings.mongo_url)} did not answer ({type(error).__name__}); "
            "is it running, and is CHRONOS_MONGO_URL right?",
            file=sys.stderr,
        )
        return 3
    finally:
        await client.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    if arguments.group == "demo":
        return demo.main(arguments, get_settings())
    return asyncio.run(run(arguments, get_settings()))


if __name__ == "__main__":
    sys.exit(main())
