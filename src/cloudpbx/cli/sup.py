"""`cloudpbx sup <module> <function> [args]`: the maintenance commands operators know from KAZOO."""

from __future__ import annotations

import typer

sup_app = typer.Typer(help="Maintenance commands (KAZOO's sup)", no_args_is_help=True)
