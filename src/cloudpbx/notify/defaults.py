"""The platform's own templates: what every notification says until a system admin, a reseller or an account
overrides it. `macros` name the data each one is given, with the sample values a preview shows."""

from __future__ import annotations

from typing import Any

ACCOUNT_MACROS = {
    "account.name": "Acme Inc",
    "account.realm": "acme.sip.example.com",
    "account.id": "0123456789abcdef0123456789abcdef",
}


def _template(
    friendly_name: str, to: str, subject: str, plain: str, macros: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    html = "<html><body>" + "".join(f"<p>{line}</p>" for line in plain.split("\n\n")) + "</body></html>"
    return {
        "friendly_name": friendly_name,
        "enabled": True,
        "to": {"type": to, "email_addresses": []},
        "cc": {"email_addresses": []},
        "bcc": {"email_addresses": []},
        "subject": subject,
        "plain": plain,
        "html": html,
        "template_charset": "utf-8",
        "macros": {**ACCOUNT_MACROS, **macros},
        **extra,
    }


DEFAULTS: dict[str, dict[str, Any]] = {
    "low_balance": _template(
        "Low Balance",
        "original",
        "Low balance: {{ account.name }} has ${{ current_balance }} left",
        "The balance of {{ account.name }} is ${{ current_balance }}, at or below its alert threshold of "
        "${{ threshold }}.\n\nAdd credit so that calls are not refused. This reminder repeats every day while the "
        "balance stays low.",
        {"current_balance": "4.20", "threshold": "5"},
    ),
    "password_recovery": _template(
        "Password Recovery",
        "original",
        "Reset your password for {{ account.name }}",
        "Hello {{ user.first_name }},\n\nsomeone asked to reset the password of {{ user.username }} in "
        "{{ account.name }}. Follow this link within a day to choose a new one:\n\n{{ link }}\n\nIf it was not you, "
        "ignore this email: nothing changes until the link is used.",
        {
            "user.first_name": "Ada",
            "user.last_name": "Lovelace",
            "user.username": "ada@acme.example.com",
            "link": "https://portal.example.com/?recovery=...",
        },
    ),
    "emergency_bridge": _template(
        "Emergency Call",
        "admins",
        "{{ call.kind }} from {{ call.account_name }} to {{ call.dialled }}",
        "{{ call.message }}\n\nCaller ID: {{ call.caller_id_name }} {{ call.caller_id_number }}\n\n"
        "E911 address: {{ call.address }}\n\nCall ID: {{ call.call_id }}",
        {
            "call.kind": "Emergency call",
            "call.account_name": "Acme Inc",
            "call.dialled": "911",
            "call.message": "An emergency call to 911 was placed by Ada Lovelace, presenting +14155550100.",
            "call.caller_id_name": "Ada Lovelace",
            "call.caller_id_number": "+14155550100",
            "call.address": "140 Main St, San Francisco, CA, 94105",
            "call.call_id": "a1b2c3@pbx",
        },
    ),
    "service_added": _template(
        "Service Plan Change",
        "admins",
        "The services of {{ account.name }} changed",
        "The services of {{ account.name }} changed: {{ summary }}.\n\nThe monthly recurring total is now "
        "${{ recurring_total }}.",
        {"summary": "2 users added", "recurring_total": "40"},
    ),
    "topup": _template(
        "Automatic Top-up",
        "original",
        "{{ account.name }} was topped up with ${{ amount }}",
        "The balance of {{ account.name }} fell to its top-up threshold, so ${{ amount }} was charged and "
        "credited. The balance is now ${{ balance }}.",
        {"amount": "25", "balance": "29.20"},
    ),
    "topup_failed": _template(
        "Automatic Top-up Failed",
        "original",
        "The automatic top-up of {{ account.name }} failed",
        "Charging ${{ amount }} to top up {{ account.name }} failed: {{ reason }}.\n\nIt is not retried today; "
        "update the payment method or add credit by hand.",
        {"amount": "25", "reason": "the card was declined"},
    ),
    "transaction_failed": _template(
        "Payment Failed",
        "original",
        "A payment of ${{ amount }} for {{ account.name }} failed",
        "Charging ${{ amount }} to the card on file of {{ account.name }} for {{ description }} failed: "
        "{{ reason }}.\n\nThe amount is still owed; update the payment method or add credit.",
        {"amount": "40", "description": "services 2026-01", "reason": "the card was declined"},
    ),
    "transaction": _template(
        "Payment Receipt",
        "original",
        "Payment receipt: ${{ amount }} for {{ account.name }}",
        "Thank you: ${{ amount }} was received for {{ account.name }} ({{ description }}).\n\n"
        "Transaction: {{ transaction_id }}{% if card_last_four %}, card ending {{ card_last_four }}{% endif %}.",
        {"amount": "50", "description": "Add credit", "transaction_id": "txn-1001", "card_last_four": "4242"},
    ),
}
