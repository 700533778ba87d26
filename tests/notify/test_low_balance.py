"""Threshold alerts: an account whose balance is at or below its threshold gets the low_balance email at its billing
contact once, then at most once a day while the balance stays low; a balance back above the threshold re-arms it.
The job's clock is the `--now` of `cloudpbx sup tasks run low_balance` (each call a real process sharing the
suite's database with the server); emails are told apart by their Date header, the time the job acted for."""

from __future__ import annotations

import secrets
import subprocess

from cloudpbx.ids import GREGORIAN_OFFSET
from tests.conftest import sup_argv
from tests.helpers import DAY, unused_job_period
from tests.notify.smtp_sink import address


def _run_at(server, gregorian: int) -> None:
    ran = subprocess.run(
        sup_argv(server, "tasks", "run", "low_balance", "--now", str(gregorian)), capture_output=True, text=True
    )
    assert ran.returncode == 0 and "done" in ran.stdout, ran.stdout + ran.stderr


def _ledger(master, account_id: str, kind: str, amount: float) -> None:
    body = {
        "amount": amount,
        "source": {"service": "adjustments", "id": secrets.token_hex(6)},
        "usage": {"type": "adjustment", "quantity": 1, "unit": "each"},
    }
    resp = master.put(f"accounts/{account_id}/ledgers/{kind}", body)
    assert resp.status_code == 201, resp.text


def test_threshold_email_arrives_once_a_day_while_the_balance_is_low(server, master, smtp):
    billing = address("billing")
    account = master.create_account(
        master.account_id,
        notifications={"low_balance": {"enabled": True, "threshold": 5}},
        contact={"billing": {"email": billing}},
    )
    _ledger(master, account["id"], "credit", 3)
    now = unused_job_period()  # later runs an hour or a day on are other periods

    def mails_at(moment: int) -> list:
        return [m for m in smtp.to(billing) if m.date == moment - GREGORIAN_OFFSET]

    _run_at(server, now)
    (first,) = mails_at(now)
    assert first.subject == f"Low balance: {account['name']} has $3 left"
    assert "at or below its alert threshold of $5" in first.text

    _run_at(server, now + 3600)
    assert mails_at(now + 3600) == [], "an hour later: not again"
    _run_at(server, now + DAY)
    assert len(mails_at(now + DAY)) == 1, "a day later, still low: once more"

    _ledger(master, account["id"], "credit", 10)
    _run_at(server, now + DAY + 900)
    assert mails_at(now + DAY + 900) == [], "above the threshold: no email"
    _ledger(master, account["id"], "debit", 9)
    _run_at(server, now + DAY + 1800)
    (again,) = mails_at(now + DAY + 1800)
    assert "has $4 left" in again.subject, "fallen again: alerted at once, the day's limit was re-armed"
    log = master.get(f"accounts/{account['id']}/notifications/smtplog").json()["data"]
    assert {row["template_id"] for row in log} == {"low_balance"} and {row["status"] for row in log} == {"sent"}


def test_without_a_billing_contact_the_admins_are_alerted_and_disabled_accounts_never(server, master, smtp):
    account = master.create_account(master.account_id, notifications={"low_balance": {"enabled": True}})
    admin = address("admin")
    master.create(
        account["id"],
        "users",
        {
            "first_name": "A",
            "last_name": "D",
            "username": "boss",
            "password": "Pass-word-1",
            "email": admin,
            "priv_level": "admin",
        },
    )
    quiet = master.create_account(master.account_id, notifications={"low_balance": {"enabled": False}})
    quiet_admin = address("quiet")
    master.create(
        quiet["id"],
        "users",
        {
            "first_name": "Q",
            "last_name": "D",
            "username": "q",
            "password": "Pass-word-1",
            "email": quiet_admin,
            "priv_level": "admin",
        },
    )
    now = unused_job_period()
    _run_at(server, now)
    (mail,) = [m for m in smtp.to(admin) if m.date == now - GREGORIAN_OFFSET]
    assert "has $0 left" in mail.subject and "threshold of $5" in mail.text  # the system's default threshold
    assert smtp.to(quiet_admin) == []


def test_two_processes_checking_at_once_send_one_alert(server, master, smtp):
    billing = address("race")
    account = master.create_account(
        master.account_id,
        notifications={"low_balance": {"enabled": True, "threshold": 5}},
        contact={"billing": {"email": billing}},
    )
    now = unused_job_period()
    moments = (now, now + 900)  # two periods of the job, so both processes run it, on the same day
    runners = [
        subprocess.Popen(
            sup_argv(server, "tasks", "run", "low_balance", "--now", str(moment)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for moment in moments
    ]
    for runner in runners:
        output, _ = runner.communicate(timeout=120)
        assert runner.returncode == 0 and "done" in output, output
    sent = [m for m in smtp.to(billing) if m.date in {moment - GREGORIAN_OFFSET for moment in moments}]
    assert len(sent) == 1, f"{len(sent)} alerts for {account['name']}"
