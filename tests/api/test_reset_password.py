"""`cloudpbx sup crossbar_maintenance reset_password LOGIN ACCOUNT`, run beside the serving process."""

from __future__ import annotations

import subprocess

from tests.conftest import sup_argv
from tests.helpers import Client, credentials, unique


def reset(server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        sup_argv(server, "crossbar_maintenance", "reset_password", *args),
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def login(server, username: str, password: str, name: str):
    return Client(server[0]).put("user_auth", {"credentials": credentials(username, password), "account_name": name})


def test_a_random_new_password_is_printed_and_logs_in(server, master):
    account = master.create_account(master.account_id, unique("Forgetful"))
    master.create(
        account["id"],
        "users",
        {"first_name": "Lo", "last_name": "St", "username": "lost", "password": "Old-pass-1", "priv_level": "admin"},
    )
    done = reset(server, "LOST", account["id"])
    assert done.returncode == 0, done.stderr
    new = done.stdout.strip()
    assert len(new) >= 12 and "\n" not in new
    assert login(server, "lost", new, account["name"]).status_code == 201
    assert login(server, "lost", "Old-pass-1", account["name"]).status_code == 401


def test_a_password_from_stdin_by_realm_and_a_lockout_lifted(server, master):
    account = master.create_account(master.account_id, unique("Locked"))
    master.create(
        account["id"],
        "users",
        {"first_name": "Lo", "last_name": "Ck", "username": "locked", "password": "Old-pass-1", "priv_level": "user"},
    )
    codes = [login(server, "locked", "guess", account["name"]).status_code for _ in range(10)]
    assert codes[-1] == 429, codes
    done = reset(server, "locked", account["realm"], "--password-stdin", stdin="Chosen-pass-7\n")
    assert done.returncode == 0, done.stderr
    assert "Chosen-pass-7" not in done.stdout
    assert login(server, "locked", "Chosen-pass-7", account["name"]).status_code == 201
    by_name = reset(server, "locked", account["name"], "--password-stdin", stdin="Third-pass-8\n")
    assert by_name.returncode == 0, by_name.stderr
    assert login(server, "locked", "Third-pass-8", account["name"]).status_code == 201


def test_unknown_users_and_accounts_are_one_line_errors(server, master):
    account = master.create_account(master.account_id)
    nobody = reset(server, "nobody", account["id"])
    assert nobody.returncode == 1 and "nobody" in nobody.stderr and "Traceback" not in nobody.stderr
    nowhere = reset(server, "admin", "no-such-account.example.org")
    assert nowhere.returncode == 1 and "could not be found" in nowhere.stderr, nowhere.stderr
    empty = reset(server, "admin", account["id"], "--password-stdin", stdin="\n")
    assert empty.returncode == 1 and "empty" in empty.stderr
