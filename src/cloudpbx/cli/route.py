"""`cloudpbx route explain ACCOUNT NUMBER`: why a call to a number goes where it goes, without placing it. It opens
the store as `sup` does and asks the same `Plans.plan` that route explain and carrier calls use."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cloudpbx.accounts.kinds import DEVICE
from cloudpbx.cli.sup import existing, fail, run, store_options
from cloudpbx.platform import Platform
from cloudpbx.store import is_id

route_app = typer.Typer(help="Outbound routes: why a call goes where it goes", no_args_is_help=True)
out = Console(width=160)


route_app.callback()(store_options)


@route_app.command("explain")
def explain(
    ctx: typer.Context,
    account: str,
    number: str,
    device: str | None = typer.Option(None, "--device", help="The calling device's id"),
    local: bool = typer.Option(False, "--local", help="The account's own carriers instead of the global ones"),
    flag: list[str] = typer.Option([], "--flag", help="An outbound flag of the call (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="The explanation as JSON, as the API answers it"),
) -> None:
    """Every decision a call from ACCOUNT (or its --device) to NUMBER meets: normalisation, restrictions, on-net,
    carriers with their rules and dial strings, trunk limits."""

    async def action(platform: Platform) -> dict[str, Any]:
        await existing(platform, account)
        caller = None
        if device is not None:
            caller = await platform.documents.find(DEVICE, account, device) if is_id(device) else None
            if caller is None:
                fail(f"no device with id {device!r} in account {account}")
        plan = await platform.plans.plan(account, number, caller, use_local_resources=local, flags=flag)
        return plan.explain()

    explained = run(ctx, action)
    if as_json:
        print(json.dumps(explained, indent=2))
    else:
        show(explained)


def show(explained: dict[str, Any]) -> None:
    """The explanation for a human: one section per step, in the order a call meets them. Stored text (carrier
    names, rules, reasons) is printed as is, never read as Rich markup."""
    cause = f" ({explained['cause']})" if explained["cause"] else ""
    say(f"{explained['dialled']} → {explained['number']}: {explained['outcome']}{cause}", style="bold")
    for step in explained["steps"]:
        say(f"  {step['step']}: {step['number']}" + (f" (rule {step['rule']})" if step["rule"] else ""))
    restrictions = explained["restrictions"]
    levels = ", ".join(f"{level} {value or 'unset'}" for level, value in restrictions["levels"].items())
    say(f"restrictions: class {restrictions['classifier'] or 'none'}; {levels}; {restrictions['reason']}")
    if restrictions["closed_groups"]:
        say(f"  closed groups: {restrictions['closed_groups']}")
    on_net = explained["on_net"]
    if on_net:
        say(f"on-net: {on_net['number']} held by {on_net['account_id'] or 'another account'}; {on_net['reason']}")
    if explained["route"]:
        _route(explained["route"], explained["pool"])
    limits = explained["limits"]
    if limits:
        account = limits["account"]
        trunk = f", trunk {account['trunk']}" if account["trunk"] else ""
        verdict = "allowed" if limits["allowed"] else f"denied ({limits['reason']})"
        say(f"limits: {verdict}; account billing {account['billing']}{trunk}")


def say(line: str, style: str | None = None) -> None:
    out.print(Text(line, style=style or ""))


def _route(route: dict[str, Any], pool: str) -> None:
    say(f"carriers ({pool} pool), number class {route['classification']}:")
    table = Table("carrier", "weight", "verdict", "rules")
    for carrier in route["carriers"]:
        rules = "\n".join(f"{'✓' if r['matched'] else '✗'} {r['rule']}" for r in carrier["rules"])
        table.add_row(
            *(Text(str(cell)) for cell in (carrier["name"], carrier["weight_cost"], carrier["verdict"], rules))
        )
    out.print(table)
    for position, endpoint in enumerate(route["endpoints"], 1):
        say(f"  {position}. {endpoint['carrier_name']} gateway {endpoint['gateway']}: {endpoint['dial_string']}")
