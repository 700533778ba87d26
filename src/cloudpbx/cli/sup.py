"""`cloudpbx sup <module> <function> [args]`: the maintenance commands operators know from KAZOO."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from cloudpbx.accounts import apps, recovery, tree
from cloudpbx.accounts.login import find_account
from cloudpbx.billing import ledgers, monthly
from cloudpbx.cli.bootstrap import create_account_with_admin
from cloudpbx.config import Settings
from cloudpbx.errors import Failure
from cloudpbx.numbers import classification
from cloudpbx.platform import Platform
from cloudpbx.store import Unavailable, is_id

sup_app = typer.Typer(help="Maintenance commands (KAZOO's sup)", no_args_is_help=True)
crossbar = typer.Typer(help="Accounts and API maintenance", no_args_is_help=True)
kapps_config = typer.Typer(help="Read and write system configuration", no_args_is_help=True)
sup_app.add_typer(crossbar, name="crossbar_maintenance")
sup_app.add_typer(kapps_config, name="kapps_config")
kazoo_ledgers = typer.Typer(help="Ledgers and balances", no_args_is_help=True)
sup_app.add_typer(kazoo_ledgers, name="kazoo_ledgers")
kazoo_services = typer.Typer(help="Service plans and the monthly bill", no_args_is_help=True)
sup_app.add_typer(kazoo_services, name="kazoo_services")
out = Console(width=220)
err = Console(stderr=True)


def store_options(
    ctx: typer.Context,
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder [env CLOUDPBX_DATA_DIR]"),
    db: str | None = typer.Option(None, "--db", help="Database URL [env CLOUDPBX_DB_URL]"),
) -> None:
    ctx.obj = Settings.from_env(str(data_dir) if data_dir else None, db)


sup_app.callback()(store_options)  # the options every command that opens the store takes (also `route`)


def run(ctx: typer.Context, action: Callable[[Platform], Awaitable[Any]]) -> Any:
    """Open the platform, run one maintenance action, and turn failures into one-line errors."""

    async def go() -> Any:
        platform = await Platform.open(ctx.obj)
        try:
            return await action(platform)
        finally:
            await platform.close()

    try:
        return asyncio.run(go())
    except Unavailable as exc:
        fail(str(exc))
    except Failure as exc:
        detail = exc.data.get("message") if isinstance(exc.data, dict) and "message" in exc.data else exc.data
        fail(f"{exc.message}: {json.dumps(detail) if not isinstance(detail, str) else detail}")


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


async def existing(platform: Platform, account_id: str) -> None:
    if not is_id(account_id) or await platform.directory.get(account_id) is None:
        fail(f"no account with id {account_id!r}")


@crossbar.command("create_account")
def create_account(ctx: typer.Context, name: str, realm: str, login: str, password: str) -> None:
    """Create an account below the master with an admin user; prints the new account id."""

    async def action(platform: Platform) -> str:
        master = await platform.accounts.master_id()
        created = await create_account_with_admin(platform, master, name, realm, login, password)
        return created.account_id

    out.print(run(ctx, action))


@crossbar.command("move_account")
def move_account(ctx: typer.Context, account: str, to_account: str) -> None:
    """Move an account (and everything below it) under another account."""

    async def action(platform: Platform) -> None:
        await existing(platform, account)
        await existing(platform, to_account)
        if account == to_account:
            out.print("an account cannot be moved to itself; nothing changed")
            return
        await platform.accounts.move(account, to_account)
        out.print(f"moved {account} under {to_account}")

    run(ctx, action)


@crossbar.command("list_accounts")
def list_accounts(ctx: typer.Context) -> None:
    """Every account with its realm and depth in the tree."""

    async def action(platform: Platform) -> list:
        master = await platform.accounts.master_id()
        if master is None:
            return []
        async with platform.store.read() as tx:
            root = await tree.node(tx, master)
            return [root, *await tree.descendants(tx, root)] if root is not None else []

    table = Table()
    for column in ("id", "name", "realm", "enabled", "parent"):
        table.add_column(column, no_wrap=True)
    for node in run(ctx, action):
        table.add_row(node.id, "  " * len(node.tree) + node.name, node.realm, str(node.enabled), node.parent_id or "")
    out.print(table)


@crossbar.command("flush_tokens")
def flush_tokens(ctx: typer.Context) -> None:
    """Invalidate every API token issued so far (users must log in again)."""

    async def action(platform: Platform) -> None:
        await platform.auth_keys.flush()

    run(ctx, action)
    out.print("all auth tokens flushed")


@crossbar.command("reset_password")
def reset_password(
    ctx: typer.Context,
    login: str,
    account: str = typer.Argument(..., help="Account id, realm or name"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from standard input"),
) -> None:
    """Give a user a new password (printed when random) and lift the account's login lockouts; safe while serving."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else secrets.token_urlsafe(12)
    if not password:
        fail("the password read from standard input is empty")

    async def action(platform: Platform) -> None:
        account_id = account if is_id(account) else await _named_account(platform, account)
        await existing(platform, account_id)
        await recovery.set_password(platform.store, account_id, login, password)

    run(ctx, action)
    typer.echo(f"password of {login} reset" if password_stdin else password)


async def _named_account(platform: Platform, account: str) -> str:
    try:
        return await find_account(platform.store, {"account_realm": account})
    except Failure:
        return await find_account(platform.store, {"account_name": account})


@crossbar.command("allow_account_number_additions")
def allow_account_number_additions(ctx: typer.Context, account: str) -> None:
    """Let an account add phone numbers that are not in the pool."""
    set_number_additions(ctx, account, True)


@crossbar.command("disallow_account_number_additions")
def disallow_account_number_additions(ctx: typer.Context, account: str) -> None:
    """Limit an account to numbers taken from the pool."""
    set_number_additions(ctx, account, False)


def set_number_additions(ctx: typer.Context, account: str, allowed: bool) -> None:
    async def action(platform: Platform) -> None:
        await existing(platform, account)
        await platform.accounts.allow_number_additions(account, allowed)

    run(ctx, action)
    out.print(f"{account} {'may' if allowed else 'may not'} add numbers outside the pool")


@kapps_config.command("get_json")
def get_json(ctx: typer.Context, category: str, key: str) -> None:
    """Print a system config value as JSON; `number_manager classifiers` prints the classifiers in use, in
    matching order (the defaults while none usable is configured)."""
    value = run(ctx, lambda platform: in_use(platform, category, key))
    if value is None:
        fail(f"{category} has no value for {key!r}")
    out.print_json(json.dumps(value))


async def in_use(platform: Platform, category: str, key: str) -> Any:
    if (category, key) == (classification.CATEGORY, classification.KEY):
        return await platform.classifiers.listing()
    return await platform.configs.value(category, key)


@kapps_config.command("set_json")
def set_json(ctx: typer.Context, category: str, key: str, value: str) -> None:
    """Set a system config value from JSON text."""
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        fail(f"the value is not JSON: {exc}")

    async def action(platform: Platform) -> None:
        doc = await platform.configs.get(category) or {}
        body = {k: v for k, v in doc.items() if not k.startswith(("_", "pvt_"))}
        section = body.setdefault("default", {})
        node = section
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = parsed
        await platform.configs.put(category, body)

    run(ctx, action)
    out.print(f"{category} {key} set")


@crossbar.command("init_apps")
def init_apps(ctx: typer.Context, apps_dir: Path, api_url: str | None = typer.Argument(None)) -> None:
    """Register every app of a Monster UI `apps/` folder (each `*/metadata/app.json`, with its icon and screenshots)
    in the app store, with API_URL (e.g. https://pbx.example.com/v2/) as the API root its requests go to."""
    if api_url is not None and urlsplit(api_url).scheme not in ("http", "https"):
        fail(f"the API URL must be absolute (https://HOST[:PORT]/v2/), got {api_url!r}")
    found = sorted(apps_dir.rglob("metadata/app.json")) if apps_dir.is_dir() else []
    if not found:
        fail(f"no */metadata/app.json under {apps_dir}")
    loaded = [(path.parent.parent, *read_app(path)) for path in found]

    async def action(platform: Platform) -> list[tuple[str, str]]:
        done = []
        for folder, metadata, images, problem in loaded:
            if problem:
                done.append((str(folder), problem))
                continue
            try:
                saved = await apps.register(platform.store, metadata, api_url, images)
            except Failure as exc:
                done.append((str(folder), f"{exc.message}: {json.dumps(exc.data)}"))
                continue
            done.append((str(folder), f"registered {saved['name']} as {saved['_id']} ({len(images)} images)"))
        return done

    for folder, outcome in run(ctx, action):
        out.print(f"{folder}: {outcome}", highlight=False)


def read_app(app_json: Path) -> tuple[dict, dict[str, tuple[str, bytes]], str]:
    """(metadata, images by name, problem) of one app folder; the images are those its metadata names that exist."""
    try:
        metadata = json.loads(app_json.read_text())
    except (OSError, ValueError) as exc:
        return {}, {}, f"unreadable app.json: {exc}"
    if not isinstance(metadata, dict):
        return {}, {}, "app.json is not a JSON object"
    wanted = [("icon", metadata.get("icon"))] + [("screenshots", s) for s in metadata.get("screenshots") or []]
    images: dict[str, tuple[str, bytes]] = {}
    for folder, name in wanted:
        if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
            continue
        path = app_json.parent / folder / name
        if path.is_file():
            images[name] = (mimetypes.guess_type(name)[0] or "application/octet-stream", path.read_bytes())
    return metadata, images, ""


@kazoo_ledgers.command("rollover")
def rollover(ctx: typer.Context) -> None:
    """Write this month's `rollovers` entry of every account that has none yet (safe to run again, and while
    servers run: each account's is written once); prints how many were written."""

    async def action(platform: Platform) -> int:
        return await ledgers.roll_over_all(platform.store)

    out.print(f"{run(ctx, action)} accounts rolled over", highlight=False)


@kazoo_services.command("bill")
def bill(ctx: typer.Context, account: str, month: str) -> None:
    """Write ACCOUNT's monthly bill for MONTH (YYYY-MM): recurring services, last month's prorations and activation
    charges, once (a rerun writes nothing new); prints what this run wrote."""

    async def action(platform: Platform) -> monthly.Bill:
        await existing(platform, account)
        return await monthly.bill_month(platform.store, account, month, monthly.card_payment(platform.store))

    done = run(ctx, action)
    for written in done.written:
        entry = written.entry
        out.print(f"{entry.source}\t{ledgers.dollars(entry.amount)}\t{entry.description}", highlight=False)
    out.print(f"{len(done.written)} entries, {ledgers.dollars(done.total)} charged ({done.mode})", highlight=False)
