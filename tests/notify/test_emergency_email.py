"""The emergency call email: every emergency_bridge event of the platform's bridge (as a call raises it) emails the
admins of the calling account and of its reseller, each with its account's template; a sibling's admins get
nothing. The bridge runs in-process on a Platform opened over the served database."""

from __future__ import annotations

import asyncio

from tests.callflow.conftest import platform
from tests.callflow.test_emergency import choose, site
from tests.notify.smtp_sink import address

__all__ = ["platform", "site"]  # fixtures this module uses


def _admin_with_email(master, account_id: str, name: str) -> str:
    email = address(name)
    master.create(
        account_id,
        "users",
        {"first_name": name, "last_name": "Admin", "username": email, "password": "Pass-word-1", "email": email,
         "priv_level": "admin"},
    )  # fmt: skip
    return email


async def _arrived(smtp, email: str):
    """The sink's bounded wait, off the loop the delivery runs on."""
    return await asyncio.to_thread(smtp.wait_for, email)


async def test_an_emergency_call_emails_the_account_and_reseller_admins(master, platform, site, smtp):
    customer_admin = _admin_with_email(master, site.c, "customer")
    reseller_admin = _admin_with_email(master, site.r, "reseller")
    sibling_admin = _admin_with_email(master, site.x, "sibling")
    device = await platform.store.get(site.c, site.desk)
    chosen = await choose(platform, site.c, site.desk)
    event = await platform.emergency_bridge.event(
        site.c,
        device,
        "call-911-email",
        "911",
        caller_id_name=chosen.caller_id.name,
        caller_id_number=chosen.caller_id.number,
        address=chosen.address,
    )
    await platform.emergency_bridge.raised(event)
    customer_name = master.get(f"accounts/{site.c}").json()["data"]["name"]
    for email in (customer_admin, reseller_admin):
        (mail,) = await _arrived(smtp, email)
        assert mail.subject == f"Emergency call from {customer_name} to 911"
        assert "Eve Caller" in mail.text and "116 Natoma St" in mail.text and chosen.caller_id.number in mail.text
    assert smtp.to(sibling_admin) == []
