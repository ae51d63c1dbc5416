"""``python -m app.cli keys``: create prints the key once, list never shows it, revoke ends it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from app.settings import Settings


def cli(env: dict[str, str], cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        env={**inherited, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_keys_are_created_listed_and_revoked_from_the_command_line(
    service_env: dict[str, str],
    log_dir: Path,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    made = cli(
        service_env, log_dir, "keys", "create", "--name", "cli test", "--role", "editor",
        "--tenant", "smart:/", "--tenant", "city:/parking",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    line, shown = made.stdout.splitlines()
    secret = shown.removeprefix("key: ")
    assert secret.startswith("chr_") and "cannot show it again" in made.stderr
    assert "editor" in line and "smart:/,city:/parking" in line

    listed = cli(service_env, log_dir, "keys", "list", "--json")
    entries = {e["name"]: e for e in json.loads(listed.stdout)}
    entry = entries["cli test"]
    assert entry["tenants"] == ["smart:/", "city:/parking"] and entry["revokedAt"] is None
    assert secret not in listed.stdout and secret[:12] == entry["prefix"]
    stored = await mongo[test_settings.mongo_database]["api_keys"].find_one({"prefix": entry["prefix"]})
    assert stored is not None and secret not in json.dumps(stored, default=str)

    revoked = cli(service_env, log_dir, "keys", "revoke", entry["prefix"], "--json")
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revokedAt"]
    assert "cli test" not in {
        e["name"] for e in json.loads(cli(service_env, log_dir, "keys", "list", "--json").stdout)
    }


def test_bad_input_is_refused_with_a_reason(service_env: dict[str, str], log_dir: Path) -> None:
    no_tenant = cli(service_env, log_dir, "keys", "create", "--name", "x", "--role", "viewer")
    assert no_tenant.returncode == 2 and "needs at least one tenant" in no_tenant.stderr
    bad_tenant = cli(
        service_env, log_dir, "keys", "create", "--name", "x", "--role", "viewer", "--tenant", "Bad:/"
    )
    assert bad_tenant.returncode == 2 and "Bad:/" in bad_tenant.stderr
    unknown = cli(service_env, log_dir, "keys", "revoke", "chr_nothing")
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr


def test_an_unreachable_mongodb_is_said_plainly(service_env: dict[str, str], log_dir: Path) -> None:
    env = {
        **service_env,
        "CHRONOS_MONGO_URL": "mongodb://127.0.0.1:1/",
        "CHRONOS_MONGO_TIMEOUT_SECONDS": "0.5",
    }
    listed = cli(env, log_dir, "keys", "list")
    assert listed.returncode == 3 and "did not answer" in listed.stderr and "Traceback" not in listed.stderr
