"""Notifications through a real SMTP server: the password recovery email, templates with the system's, a reseller's
and an account's overrides, previews, unsafe templates refused, the delivery log, and a retry after the relay
refused."""

from __future__ import annotations

import subprocess
import time

from cloudpbx.ids import GREGORIAN_OFFSET
from tests.conftest import sup_argv
from tests.helpers import Client
from tests.notify.smtp_sink import address


def _reseller_and_customer(master: Client) -> tuple[dict, Client, dict, Client]:
    reseller = master.create_account(master.account_id)
    assert master.put(f"accounts/{reseller['id']}/reseller").status_code == 200
    reseller_admin = master.admin_of(reseller["id"])
    customer = reseller_admin.create_account(reseller["id"])
    return reseller, reseller_admin, customer, reseller_admin.admin_of(customer["id"])


def test_password_recovery_email_arrives_with_the_link(server, master, smtp):
    account = master.create_account(master.account_id)
    email = address("ada")
    master.create(
        account["id"],
        "users",
        {"first_name": "Ada", "last_name": "L", "username": "ada", "password": "Old-pass-1", "email": email},
    )
    anon = Client(server[0])
    ui_url = "https://portal.example.test/"
    started = anon.put("user_auth/recovery", {"username": "ada", "account_name": account["name"], "ui_url": ui_url})
    assert started.status_code == 201, started.text

    (mail,) = smtp.wait_for(email)
    assert "Reset your password" in mail.subject
    link = next(word for word in mail.text.split() if word.startswith(f"{ui_url}?recovery="))
    reset_id = link.split("recovery=", 1)[1]
    assert reset_id.startswith(account["id"])
    assert f'href="{link}"' not in mail.html and link in mail.html  # the HTML body shows the link, escaped as text

    done = anon.post("user_auth/recovery", {"reset_id": reset_id, "password": "N3w-pass-2"})
    assert done.status_code == 200, done.text
    log = master.get(f"accounts/{account['id']}/notifications/smtplog").json()["data"]
    assert [(row["template_id"], row["status"], row["emails"]["to"]) for row in log] == [
        ("password_recovery", "sent", [email])
    ]


def test_overrides_inherit_from_the_reseller_then_the_system(server, master, smtp):
    reseller, reseller_admin, customer, customer_admin = _reseller_and_customer(master)
    path = f"accounts/{customer['id']}/notifications"
    system = master.get("notifications/low_balance").json()["data"]
    assert system["to"]["type"] == "original" and "current_balance" in system["subject"]

    own = reseller_admin.put(
        f"accounts/{reseller['id']}/notifications",
        {"id": "low_balance", "subject": "{{ account.name }}: ${{ current_balance }} left", "from": "billing@r.test"},
    )
    assert own.status_code == 201, own.text
    inherited = customer_admin.get(f"{path}/low_balance").json()["data"]
    assert inherited["subject"] == "{{ account.name }}: ${{ current_balance }} left"
    assert "account_overridden" not in inherited and inherited["plain"] == system["plain"]

    mine = reseller_admin.put(path, {"id": "low_balance", "plain": "Top up {{ account.name }} at once."})
    assert mine.status_code == 201, mine.text
    merged = customer_admin.get(f"{path}/low_balance").json()["data"]
    assert merged["account_overridden"] is True
    assert merged["plain"] == "Top up {{ account.name }} at once." and merged["from"] == "billing@r.test"
    listed = {row["id"]: row for row in customer_admin.get(path).json()["data"]}
    assert listed["low_balance"].get("account_overridden") is True
    assert "account_overridden" not in listed["password_recovery"]

    preview = customer_admin.post(f"{path}/low_balance/preview").json()["data"]
    assert preview["subject"] == f"{customer['name']}: $4.20 left"  # the sample balance, the real account
    assert preview["text"] == f"Top up {customer['name']} at once." and preview["from"] == "billing@r.test"
    unsaved = customer_admin.post(f"{path}/password_recovery/preview", {"subject": "Hi {{ user.first_name }}"})
    assert unsaved.json()["data"]["subject"] == "Hi Ad", unsaved.text  # the caller's own name, not the sample's

    refused = customer_admin.post(f"{path}/low_balance", {"plain": "x"})
    assert refused.status_code == 403, "a customer does not change its own emails: its reseller does"
    back = reseller_admin.delete(f"{path}/low_balance")
    assert back.status_code == 200 and "account_overridden" not in back.json()["data"]
    assert back.json()["data"]["plain"] == system["plain"]
    assert master.get(f"{path}/no_such_notification").status_code == 404


def test_unsafe_templates_are_refused_when_saved(server, master, smtp):
    _, reseller_admin, customer, _ = _reseller_and_customer(master)
    path = f"accounts/{customer['id']}/notifications"
    for body, field in [
        ("{{ range(100000) }}", "plain"),
        ("{% set x = 1 %}", "plain"),
        ("{{ 9 ** 99999 }}", "subject"),
        ("{{ account.name|center(1000000) }}", "plain"),
        ("{% for a in x %}{% for b in x %}{% for c in x %}{% endfor %}{% endfor %}{% endfor %}", "html"),
        ("{% include 'other' %}", "html"),
        ("{{ unclosed", "subject"),
    ]:
        resp = reseller_admin.put(path, {"id": "low_balance", field: body})
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["data"][field]["template"]["message"], resp.text
    assert reseller_admin.get(f"{path}/low_balance").json()["data"].get("account_overridden") is None
    quiet = reseller_admin.post(f"{path}/low_balance/preview", {"subject": "{{ account.__class__.__mro__ }}!"})
    assert quiet.json()["data"]["subject"] == "!", "the sandbox shows nothing of Python's internals"


def test_a_refused_email_is_retried_until_the_relay_takes_it(server, master, smtp):
    account = master.create_account(master.account_id)
    email = address("bob")
    master.create(
        account["id"],
        "users",
        {"first_name": "Bob", "last_name": "B", "username": "bob", "password": "Old-pass-1", "email": email},
    )
    smtp.refusals = 1
    anon = Client(server[0])
    assert (
        anon.put(
            "user_auth/recovery", {"username": "bob", "account_name": account["name"], "ui_url": "https://p.test/"}
        ).status_code
        == 201
    )
    log_path = f"accounts/{account['id']}/notifications/smtplog"
    deadline = time.monotonic() + 30
    while (rows := master.get(log_path).json()["data"]) and rows[0]["attempts"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    while rows[0]["status"] == "sending" and time.monotonic() < deadline:
        rows = master.get(log_path).json()["data"]
    (row,) = rows
    assert (row["status"], row["attempts"]) == ("queued", 1) and row["error"].startswith("451"), row
    assert smtp.to(email) == []

    due = row["next_attempt"] + 1 - GREGORIAN_OFFSET
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(due))
    ran = subprocess.run(
        sup_argv(server, "tasks", "run", "notify_retry", "--now", later), capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    smtp.wait_for(email)
    (row,) = master.get(log_path).json()["data"]
    assert (row["status"], row["attempts"], row["error"]) == ("sent", 2, None), row
    one = master.get(f"{log_path}/{row['id']}")
    assert one.json()["data"].get("receipt", "").startswith("2.0.0 OK"), one.text
