"""What a REFER asks for (RFC 3515 Refer-To, RFC 3891 Replaces), read without a server: a number to route, or the
dialog an attended transfer joins; anything else is refused (400). And the NOTIFYs that report on it."""

from __future__ import annotations

import pytest

from cloudpbx.sip.message import Request
from cloudpbx.telephony import causes
from cloudpbx.telephony.refer import BadReferral, Notifier, Referral, Replaces
from tests.telephony.test_leg_states import ANSWER, call, play, ring  # noqa: F401 - call is a fixture


def refer(*refer_to: str) -> Request:
    request = Request("REFER", "sip:bob@127.0.0.1")
    for value in refer_to:
        request.add("Refer-To", value)
    return request


def test_a_blind_refer_names_the_number_to_route():
    assert Referral.parse(refer("<sip:3001@acme.example>")).number == "3001"
    assert Referral.parse(refer("sip:%33002@acme.example")).number == "3002"
    assert Referral.parse(refer("<tel:+14155550100;phone-context=x>")).number == "+14155550100"
    assert Referral.parse(refer("<sip:3001@acme.example>")).replaces is None


def test_an_attended_refer_names_our_dialog_with_the_transferor():
    value = "<sip:3003@acme.example?Require=replaces&Replaces=abc%40host%3Bto-tag%3Dours%3Bfrom-tag%3Dtheirs>"
    referral = Referral.parse(refer(value))
    assert referral.replaces == Replaces("abc@host", "ours", "theirs")
    assert referral.replaces.dialog_id == ("abc@host", "ours", "theirs")


@pytest.mark.parametrize(
    "values",
    [
        (),
        ("<sip:1@a.example>", "<sip:2@a.example>"),
        ("<mailto:carol@example.com>",),
        ("<sip:acme.example>",),
        ("not a uri at all <",),
        ("<sip:3003@a.example?Replaces=abc%40host%3Bto-tag%3Dours>",),
    ],
    ids=["none", "two", "mailto", "no-number", "garbage", "replaces-without-from-tag"],
)
def test_unusable_refer_to_is_refused(values):
    with pytest.raises(BadReferral):
        Referral.parse(refer(*values))


async def test_the_notifier_reports_the_new_calls_progress_in_the_transferors_dialog(call):
    """With a fake core (no server): NOTIFYs in the leg's dialog, each provisional status once, the final one
    ending the implicit subscription; nothing once the transferor is gone."""
    leg, core, _, ringing = call
    await play(leg, ring(leg, ringing), 200, body=ANSWER)
    notifier = Notifier(leg)
    notifier.progress(100)
    notifier.progress(180)
    notifier.progress(180)
    notifier.final(486)
    notifies = [request for request in core.sent if request.method == "NOTIFY"]
    assert [request.body for request in notifies] == [
        b"SIP/2.0 100 Trying\r\n",
        b"SIP/2.0 180 Ringing\r\n",
        b"SIP/2.0 486 Busy Here\r\n",
    ]
    assert {request.get("event") for request in notifies} == {"refer"}
    assert {request.get("content-type") for request in notifies} == {"message/sipfrag;version=2.0"}
    assert [request.get("subscription-state") for request in notifies] == [
        "active;expires=300",
        "active;expires=300",
        "terminated;reason=noresource",
    ]
    assert all(request.call_id == leg.call_id and request.to.tag == "phone" for request in notifies)
    leg.bye(causes.NORMAL_CLEARING)
    assert notifier.final(200) is None
