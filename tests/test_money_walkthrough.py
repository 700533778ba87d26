"""docs/money.md works as written: its `sh` blocks run in order, in one shell state, against a fresh server (only the
API and SIP addresses, the printed password and the stand-ins' ports replaced; `cloudpbx sup` reaches the server's
data through CLOUDPBX_DATA_DIR and CLOUDPBX_DB_URL, as it would in the project's folder). Each step is checked for
what the text promises: real and fake money, the deck the plan picks, the 402 handshake, two priced calls on both
ledgers, the threshold email, one auto-recharge, the downloads, and books that balance to the unit."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port, free_sip_port, start_server, stop_server
from tests.helpers import ADMIN_PASSWORD
from tests.walkthrough import Shell, page_blocks

pytestmark = pytest.mark.same_on_every_database  # its server has a SQLite database of its own on every run

DOC = Path(__file__).resolve().parents[1] / "docs" / "money.md"
STEPS = (  # a piece of each block, in order: the test fails loudly when the page's steps change
    "GATEWAY_PORT=8099",
    "system_configs/smtp_client",
    'credit "$CUSTOMER_ID" 20',
    "ratedeck_id=blue-retail",
    "accept_charges",
    "$API/resources",
    "uac_call.xml",
    "ledgers/per-minute-voip",
    "tasks run low_balance --now",
    "braintree/customer",
    "usage_charges/per_minute",
    "balanced:",
    "kill $CARRIER $MAIL $GATEWAY",
)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(api base, SIP host:port, data dir, database URL) of a server of its own on an empty database."""
    data_dir = tmp_path_factory.mktemp("money")
    db_url = f"sqlite:///{data_dir / 'cloudpbx.db'}"
    sip_port = free_sip_port()
    proc, base = start_server(data_dir, db_url, sip_port=sip_port)
    try:
        yield base, f"127.0.0.1:{sip_port}", data_dir, db_url
    finally:
        stop_server(proc)


def blocks_of_the_page(base: str, sip: str) -> list[str]:
    return page_blocks(
        DOC,
        STEPS,
        {
            "API=http://127.0.0.1:8000/v2": f"API={base}",
            "SIP=127.0.0.1:5060": f"SIP={sip}",
            "the-password-serve-printed": ADMIN_PASSWORD,
            "MAIL_PORT=2525": f"MAIL_PORT={free_port()}",
            "GATEWAY_PORT=8099": f"GATEWAY_PORT={free_port()}",
        },
    )


def lines(printed: str) -> list[str]:
    return [line.strip() for line in printed.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def walked(fresh) -> list[list[str]]:
    """The output lines of every block, the page walked through once."""
    base, sip, data_dir, db_url = fresh
    env = {**os.environ, "CLOUDPBX_DATA_DIR": str(data_dir), "CLOUDPBX_DB_URL": db_url}
    blocks = blocks_of_the_page(base, sip)
    shell = Shell(blocks, env)
    out: list[list[str]] = []
    try:
        for block in blocks:
            out.append(lines(shell.run(block)))
        return out
    finally:
        for pid in re.findall(r'^declare -- (?:CARRIER|MAIL|GATEWAY)="(\d+)"$', shell.state, re.M):
            subprocess.run(["kill", pid], capture_output=True)  # the page's own last block did, unless it failed


def test_the_reseller_holds_real_money_and_its_customer_fake_money(walked):
    assert walked[1] == ["braintree"]
    assert walked[2] == ["true", "100", "20"]


def test_the_plan_picks_the_deck_and_a_billed_device_asks_to_accept_charges(walked):
    assert walked[3][-1] == "blue-retail"
    assert walked[4][:2] == ["402", "Front desk"]
    assert "devices._all 1 3" in walked[4], "the plan bills every device as one item"


def test_two_priced_calls_move_both_ledgers(walked):
    assert walked[5] == ["Carrier"]
    assert walked[6] == ["both calls were answered"]
    entries, balances = walked[7][:-2], walked[7][-2:]
    assert [line.split()[0] for line in entries] == ["-0.1", "-0.1"], entries
    assert balances == ["19.8", "99.8"], "each call on the customer's ledger and on its reseller's"


def test_the_threshold_email_arrives(walked):
    assert "Subject: Low balance: Acme Dental has $19.8 left" in walked[8]


def test_auto_recharge_charges_the_card_once(walked):
    out = walked[9]
    assert out[0] == "1111"
    assert [line for line in out if line.endswith("Usage top-up")] == ["25 Usage top-up"]
    assert "44.8" in out
    assert "Subject: Acme Dental was topped up with $25" in out
    assert sum(line.startswith("Subject: Low balance") for line in out) == 1, "no second alert after the top-up"


def test_the_downloads_and_the_books(walked):
    assert walked[10][0] == "5", "a header and four calls: the customer's two and the reseller's two"
    assert int(walked[10][1]) >= 5, "the service plan's columns"
    assert walked[11] == [
        "balanced: 448000 units",
        "balanced: 998000 units",
        "calls billed 2000 units, CDRs cost 2000 units",
    ]
    assert walked[12] == []
