"""docs/carriers.md works as written: its `sh` blocks run in order, in one shell state, against a fresh server (only
the API and SIP addresses and the printed password replaced), with its SIPp carriers on 127.0.0.2 and 127.0.0.3, and
a pjsua2 phone registered as the page says places the calls it describes. Each step is checked for what the text
promises: the call out reaches the carrier in E.164, the call in rings the user's phone, 988 reaches the 988 carrier
as +18002738255, 911 presents the E911 number and raises an alert, and the fifth call of four trunks is refused."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import free_sip_port, start_server, stop_server
from tests.helpers import ADMIN_PASSWORD, Client, unique
from tests.sip.phones import DEFAULT_CODECS, Phone, pump, wait_until
from tests.walkthrough import Shell, page_blocks

pytestmark = pytest.mark.same_on_every_database  # its server has a SQLite database of its own on every run

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "carriers.md"
STEPS = (  # a piece of each block, in order: the test fails loudly when the page's steps change
    "PASSWORD='the-password-serve-printed'",
    "sipp -sn uas -i 127.0.0.2",
    '"twoway_trunks":4',
    "$API/resources",
    "phone_numbers/%2B14155550100",
    "route_explain",
    "global-carrier.log",
    "-sn uac -i 127.0.0.3",
    "988 Emergency",
    "grep -c '^INVITE sip:+18002738255@127.0.0.2'",
    '"caller_id":{"emergency"',
    "alerts",
    "uac_call.xml",
    "kill $GLOBAL_SIPP $BYOC_SIPP",
)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(api base, SIP host:port) of a server of its own, on a database of its own whatever the suite's: the page
    starts from an empty platform, and the global carriers and numbers it adds must meet no other test's."""
    data_dir = tmp_path_factory.mktemp("carriers")
    sip_port = free_sip_port()
    proc, base = start_server(data_dir, f"sqlite:///{data_dir / 'cloudpbx.db'}", sip_port=sip_port)
    try:
        yield base, f"127.0.0.1:{sip_port}"
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
        },
    )


def call(phone, number: str) -> None:
    """The phone dials `number`, the carrier answers, the phone hangs up."""
    out = phone.call(number)
    out.wait("CONFIRMED")
    phone.hangup()
    out.wait("DISCONNECTED")


def assert_new_accounts_wait_for_limits(admin: Client, master_id: str) -> None:
    """What the page (and the README) say of a new account: no trunks and no credit, so a carrier call out is
    refused until its provider sets limits (trunks, or postpay credit)."""
    account = admin.create_account(master_id, unique("No limits yet"))
    explained = admin.get(f"accounts/{account['id']}/route_explain?number=4155550123").json()["data"]
    assert (explained["outcome"], explained["cause"]) == ("limits_denied", "OUTGOING_CALL_BARRED"), explained
    postpay = {"allow_postpay": True, "max_postpay_amount": 10}
    assert admin.post(f"accounts/{account['id']}/limits", postpay).status_code == 200
    explained = admin.get(f"accounts/{account['id']}/route_explain?number=4155550123").json()["data"]
    assert (explained["outcome"], explained["limits"]["account"]["billing"]) == ("carriers", "per_minute"), explained


def dial_and_end(phone, number: str) -> str:
    """The phone dials `number` and hangs up once answered; how the call went (its states and last status)."""
    out = phone.call(number)
    wait_until(lambda: {"CONFIRMED", "DISCONNECTED"} & set(out.states), 10.0, f"an answer or an end of {number}")
    if "DISCONNECTED" not in out.states:
        phone.hangup()
        out.wait("DISCONNECTED")
    return f"{' '.join(out.states)} {out.code}"


def wait_for_lines(shell: Shell, block: str, predicate, timeout: float = 5.0) -> str:
    """Run `block` until it succeeds with output that satisfies `predicate` (a carrier's log and a CDR are written
    after the call): the last output, or the last failure raised, once `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            printed = shell.run(block)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            if predicate(printed) or time.monotonic() > deadline:
                return printed
        pump(0.1)


def calls_received(shell: Shell, number: str) -> int:
    """How many calls (Call-IDs) to `number` the global test carrier received."""
    log = (Path(shell.value("LOGS")) / "global-carrier.log").read_text(errors="replace")
    return len(set(re.findall(rf"^INVITE sip:{re.escape(number)}@.*?^Call-ID: *(\S+)", log, re.S | re.M)))


@pytest.fixture(scope="module")
def walked(fresh) -> dict[str, str]:
    """The whole page walked through, with every step but 911's checked on the way; 911's outcome kept apart."""
    base, sip = fresh
    blocks = blocks_of_the_page(base, sip)
    shell = Shell(blocks)
    shell.run(blocks[0])
    shell.run(blocks[1])
    alice = Phone("alice", "udp", DEFAULT_CODECS, False)
    try:
        return walk(shell, blocks, sip, alice)
    finally:
        alice.close()
        for pid in re.findall(r'^declare -- (?:GLOBAL|BYOC)_SIPP="(\d+)"$', shell.state, re.M):
            subprocess.run(["kill", pid], capture_output=True)  # the page's own last block did, unless it failed


def walk(shell: Shell, blocks: list[str], sip: str, alice: Phone) -> dict[str, str]:
    assert shell.run(blocks[2]).split() == ['{"twoway_trunks":4}']
    shell.run(blocks[3])
    assert re.fullmatch(r"[0-9a-f]{32}", shell.value("BYOC_CARRIER")), "the BYOC carrier was created"
    assert_new_accounts_wait_for_limits(Client(shell.value("API"), shell.value("TOKEN")), shell.value("MASTER_ID"))
    assert shell.run(blocks[4]).split() == ["+14155550100"]

    assert alice.register(sip, shell.value("REALM"), "alice-desk", "Desk-secret-1") == 200
    assert shell.run(blocks[5]).split() == ["carriers", "sip:+14155550123@127.0.0.2"]
    call(alice, "4155550123")
    invite = wait_for_lines(shell, blocks[6], bool)
    assert invite.split() == ["INVITE", "sip:+14155550123@127.0.0.2", "SIP/2.0"], invite

    calling_in = shell.start(blocks[7])
    ringing = alice.wait_incoming(timeout=10.0)
    caller = next(line for line in ringing.invite.splitlines() if line.startswith("From:"))
    assert '"sipp" <sip:sipp@' in caller, "the carrier's caller ID is kept"
    ringing.answer()
    while calling_in.poll() is None:  # the carrier hangs up after two seconds
        pump(0.05)
    assert shell.finish(calling_in).strip() == "the call in was answered"

    assert shell.run(blocks[8]).strip() == "988 Emergency"
    call(alice, "988")
    assert wait_for_lines(shell, blocks[9], lambda out: out.strip() == "1").strip() == "1"

    assert shell.run(blocks[10]).split() == ["US", "+14155550100", "Emergency", "dispatch"]
    outcome = {"911 call": dial_and_end(alice, "911")}
    try:
        outcome["911"] = wait_for_lines(shell, blocks[11], lambda out: "Emergency call" in out)
    except AssertionError as failed:  # the block itself failed: kept for the 911 test to show
        outcome["911"] = f"the block failed: {failed}"

    five = shell.start(blocks[12])
    while five.poll() is None:
        pump(0.05)
    printed = shell.finish(five).splitlines()
    assert printed == ["sipp: not every call was answered", "OUTGOING_CALL_BARRED trunks_exhausted", '{"calls":0}']
    assert calls_received(shell, "+14155550123") == 1 + 4, "the first call out, then four of the five"
    shell.run(blocks[13])
    return outcome


def test_the_walk_through_runs_as_written(walked):
    """Every step but 911's was checked on the way (`walk`); the 911 call itself was answered."""
    assert "CONFIRMED" in walked["911 call"], walked


def test_911_presents_the_e911_number_and_raises_an_alert(walked):
    printed = walked["911"]
    identity, *alerts = printed.splitlines()
    assert identity.lower().startswith("p-asserted-identity:") and "sip:+14155550100@" in identity, printed
    assert "Emergency call" in alerts, printed
