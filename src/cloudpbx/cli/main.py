"""The `cloudpbx` command."""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
from pathlib import Path
from typing import NoReturn

import typer
import uvloop
from rich.console import Console
from rich.panel import Panel

from cloudpbx.api.app import create_app
from cloudpbx.cli import http_server
from cloudpbx.cli.bootstrap import Created, ensure_master
from cloudpbx.cli.route import route_app
from cloudpbx.cli.sup import sup_app
from cloudpbx.cli.tasks import tasks_app
from cloudpbx.config import Settings
from cloudpbx.connections import fit_caps, raise_file_limit
from cloudpbx.platform import Platform, sip_endpoint
from cloudpbx.sip.core import SipCore
from cloudpbx.store import Unavailable

app = typer.Typer(help="cloudpbx: hosted telephony platform", no_args_is_help=True, add_completion=False)
sup_app.add_typer(tasks_app, name="tasks")
app.add_typer(sup_app, name="sup")
app.add_typer(route_app, name="route")
err = Console(stderr=True)
out = Console()
# A full collection walks every live object (a busy SIP side keeps tens of thousands: live calls, registrations),
# pausing calls; Python's default runs one about every 10 middle-generation passes, here every 100. A call's objects
# are freed by reference counting when it ends, so young collections every 10,000 allocations rather than 700 find
# as much garbage: at 250 calls/s they took 1.2 s of a minute's CPU, 0.3 s after.
GC_THRESHOLDS = (10_000, 10, 100)

DataDir = typer.Option(None, "--data-dir", help="Data folder [env CLOUDPBX_DATA_DIR, default ./var]")
DbUrl = typer.Option(None, "--db", help="Database URL [env CLOUDPBX_DB_URL, default SQLite in the data folder]")
AdminPassword = typer.Option(
    None,
    "--admin-password",
    envvar="CLOUDPBX_ADMIN_PASSWORD",
    help="Password of the master admin on first start (default: generated)",
)


def settings_from(
    data_dir: Path | None,
    db: str | None,
    http: str | None = None,
    rtp_ports: str | None = None,
    sip: str | None = None,
    announce: str | None = None,
    public_url: str | None = None,
    ui: Path | None = None,
) -> Settings:
    try:
        return Settings.from_env(
            str(data_dir) if data_dir else None,
            db,
            http,
            rtp_ports=rtp_ports,
            sip=sip,
            announce=announce,
            public_url=public_url,
            ui=str(ui) if ui else None,
        )
    except ValueError as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True, highlight=False)  # one line, however narrow the terminal
    raise typer.Exit(2)


async def open_platform(settings: Settings, sip_core: SipCore | None = None) -> Platform:
    try:
        return await Platform.open(settings, sip_core)
    except Unavailable as exc:
        fail(str(exc))


def show_master(created: Created) -> None:
    out.print(
        Panel.fit(
            f"account name: [bold]{created.account_name}[/bold]\n"
            f"account id:   {created.account_id}\n"
            f"realm:        {created.realm}\n"
            f"login:        [bold]{created.username}[/bold]\n"
            f"password:     [bold]{created.password}[/bold]\n"
            f"api key:      {created.api_key}",
            title="master account created (shown once)",
        )
    )


@app.command()
def init(data_dir: Path | None = DataDir, db: str | None = DbUrl, admin_password: str | None = AdminPassword) -> None:
    """Create the database and the master account, without starting a server."""
    settings = settings_from(data_dir, db)

    async def run() -> None:
        platform = await open_platform(settings)
        try:
            created = await ensure_master(platform, admin_password)
        finally:
            await platform.close()
        if created:
            show_master(created)
        else:
            out.print("already initialised: the master account exists")

    asyncio.run(run())


@app.command()
def serve(
    data_dir: Path | None = DataDir,
    db: str | None = DbUrl,
    admin_password: str | None = AdminPassword,
    http: str | None = typer.Option(
        None, "--http", help="HOST:PORT for the API [env CLOUDPBX_HTTP, default 127.0.0.1:8000]"
    ),
    rtp_ports: str | None = typer.Option(
        None, "--rtp-ports", help="LOW-HIGH ports for relayed media [env CLOUDPBX_RTP_PORTS, default 16384-32767]"
    ),
    sip: str | None = typer.Option(
        None, "--sip", help="HOST:PORT for SIP over UDP and TCP [env CLOUDPBX_SIP, default 127.0.0.1:5060]"
    ),
    announce: str | None = typer.Option(
        None,
        "--announce",
        help="IP address phones reach SIP and media at, needed when --sip binds 0.0.0.0 [env CLOUDPBX_SIP_ANNOUNCE]",
    ),
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        help="URL clients reach the API at, e.g. https://pbx.example.com; apps "
        "get {URL}/v2/ as api_url [env CLOUDPBX_PUBLIC_URL]",
    ),
    ui: Path | None = typer.Option(
        None,
        "--ui",
        help="Monster UI build folder to serve at / with a generated "
        "js/config.js pointing at this server [env CLOUDPBX_UI]",
    ),
) -> None:
    """Run the platform: the Crossbar v2 API and SIP (registrar, calls, RTP relay) on one event loop."""
    settings = settings_from(data_dir, db, http, rtp_ports, sip, announce, public_url, ui)
    try:
        uvloop.run(run_server(settings, admin_password))
    except OSError as exc:
        fail(str(exc))


async def run_server(settings: Settings, admin_password: str | None) -> None:
    """Bind the API and SIP ports first, so a taken port fails before anything is created; then open the platform,
    create the master account (its credentials printed once), and serve."""
    sock, core, http_cap = await bind_ports(settings)
    try:
        platform = await open_platform(settings, core)
    except BaseException:
        sock.close()
        await core.stop()
        raise
    try:
        created = await ensure_master(platform, admin_password)
        if created:
            show_master(created)
        server = http_server.server(create_app(platform), settings, http_cap)
        await platform.start()
        gc.freeze()  # what startup loaded lives as long as the process: full collections need not walk it
        gc.set_threshold(*GC_THRESHOLDS)
        announced = f", announced as {settings.sip_announce}" if settings.sip_announce else ""
        out.print(f"cloudpbx SIP on {settings.sip_host}:{core.port} (UDP, TCP{announced})")
        out.print(f"cloudpbx API on http://{settings.http_host}:{sock.getsockname()[1]}/v2")
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        await platform.close()


async def bind_ports(settings: Settings) -> tuple[socket.socket, SipCore, int]:
    """Raise the file limit, fit the connection caps under it, and bind the API and SIP sockets: (API socket, SIP
    endpoint listening, cap of API connections)."""
    http_cap, sip_cap = fit_caps(raise_file_limit(), settings.http_max_connections, settings.sip_tcp_max_connections)
    sock = http_server.bind(settings.http_host, settings.http_port)
    core = sip_endpoint(settings, sip_cap)
    try:
        await core.start()
    except OSError as exc:
        sock.close()
        raise http_server.cannot_listen("SIP", settings.sip_host, settings.sip_port, exc) from None
    return sock, core, http_cap


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
