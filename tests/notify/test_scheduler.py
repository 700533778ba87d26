"""The scheduler across processes: two more `cloudpbx serve` processes on the suite's database (SQLite file, or
PostgreSQL with CLOUDPBX_TEST_DB_URL) share every job with the suite's server, each period run once; a run whose
process is killed (SIGKILL) mid-run is taken over by a server once its lease expires; `cloudpbx sup tasks list`
shows the runs."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.conftest import start_server, stop_server, sup_argv
from tests.helpers import sql
from tests.notify.smtp_sink import address

YEAR = 365 * 86400


def configure(master, jobs: dict) -> None:
    body = {"default": {"tick_s": 1, "lease_s": 2, "jobs": jobs}}
    resp = master.post("system_configs/scheduler", body)
    if resp.status_code == 404:
        resp = master.put("system_configs/scheduler", body)
    assert resp.status_code in (200, 201), resp.text


def wait_until(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def two_more_servers(server, master, tmp_path_factory):
    configure(master, {"notify_retry": {"interval_s": 1}, "low_balance": {"enabled": False, "interval_s": YEAR}})
    procs = [start_server(tmp_path_factory.mktemp("peer"), server[2])[0] for _ in range(2)]
    yield procs
    for proc in procs:
        stop_server(proc)
    assert master.delete("system_configs/scheduler").status_code == 200


def test_servers_sharing_the_database_run_each_period_once(server, master, two_more_servers):
    since = int(time.time()) + 62167219200

    def runs():
        rows = sql(server, "SELECT * FROM task_runs WHERE job = 'notify_retry' AND started >= :s", s=since)
        return rows if len({row.node for row in rows}) >= 2 and len(rows) >= 8 else None

    rows = wait_until(runs, what="notify_retry runs by two processes")
    assert len({row.period for row in rows}) == len(rows)
    assert all(row.attempts == 1 for row in rows), "no period was taken twice"
    assert all(row.status in ("done", "running") for row in rows)

    two_more_servers[0].kill()  # SIGKILL: the others go on taking every period
    two_more_servers[0].wait()
    killed_at = int(time.time()) + 62167219200

    def after_the_kill():
        query = "SELECT * FROM task_runs WHERE job = 'notify_retry' AND started > :s AND status = 'done'"
        return sql(server, query, s=killed_at + 2) if len(sql(server, query, s=killed_at + 2)) >= 3 else None

    assert all(row.attempts <= 2 for row in wait_until(after_the_kill, what="runs after a server was killed"))


def test_a_killed_run_is_taken_over_and_listed(server, master, smtp, two_more_servers):
    held = address("held")
    account = master.create_account(
        master.account_id,
        notifications={"low_balance": {"enabled": True}},
        contact={"billing": {"email": held}},
    )
    smtp.hold_for = held
    try:
        runner = subprocess.Popen(sup_argv(server, "tasks", "run", "low_balance"), stdout=subprocess.DEVNULL)
        assert smtp.holding.wait(60), "the run reached the account's email"
        (taken,) = sql(server, "SELECT * FROM task_runs WHERE job = 'low_balance' AND status = 'running'")
        runner.kill()
        runner.wait()
    finally:
        smtp.hold_for = None
        smtp.released.set()
    configure(master, {"notify_retry": {"interval_s": 1}, "low_balance": {"interval_s": YEAR}})

    def finished():
        query = "SELECT * FROM task_runs WHERE job = 'low_balance' AND period = :p AND status = 'done'"
        return sql(server, query, p=taken.period)

    (done,) = wait_until(finished, what="the killed run taken over")
    assert done.attempts == 2 and done.node != taken.node
    listed = subprocess.run(sup_argv(server, "tasks", "list", "--job", "low_balance"), capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if taken.period in line)
    assert "done" in line and done.node in line and "│ 2 " in line
    log = master.get(f"accounts/{account['id']}/notifications/smtplog").json()["data"]
    assert len(log) == 1, "the retaken run found the alert claimed by the killed one: no second email queued"
