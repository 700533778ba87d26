"""Every unique key of `doc_keys`, kind and key string, spelled here only: whoever writes a key and whoever looks it
up build it with the same function, so a format cannot drift between them. A key is `(kind, key)`; keys scoped to
an account start with its id and a colon."""

from __future__ import annotations

import re

Key = tuple[str, str]

REALM = "realm"
API_KEY = "api_key"
ACCOUNT_NAME = "account_name"
USERNAME = "username"
SIP = "sip"
MAC_ADDRESS = "mac_address"
CF_NUMBER = "cf_number"
CF_PATTERN = "cf_pattern"
MAILBOX = "mailbox"
NUMBER = "number"
NUMBER_POOL = "number_pool"
WHITELABEL_DOMAIN = "whitelabel_domain"
CARRIERS = "carriers"


def _scoped(account_id: str, value: str) -> str:
    return f"{account_id}:{value}"


def unscoped(key: str) -> str:
    """The value of an account-scoped key, without the account id."""
    return key.partition(":")[2]


def realm(value: str) -> Key:
    """Realms compare case-insensitively (SIP hosts)."""
    return (REALM, value.lower())


def api_key(value: str) -> Key:
    return (API_KEY, value)


def account_name(name: str) -> Key:
    """KAZOO compares account names as lowercase alphanumerics."""
    return (ACCOUNT_NAME, re.sub(r"[^a-z0-9]", "", name.lower()))


def username(account_id: str, name: str) -> Key:
    """A user's login name, unique per account, compared case-insensitively."""
    return (USERNAME, _scoped(account_id, name.lower()))


def sip(account_id: str, name: str) -> Key:
    """A device's SIP username: unique per account, case-insensitive (digest usernames are matched that way)."""
    return (SIP, _scoped(account_id, name.lower()))


def mac_address(value: str) -> Key:
    """A MAC address as its hex digits, whatever separators it was written with."""
    return (MAC_ADDRESS, re.sub(r"[^0-9a-f]", "", value.lower()))


def credentials(method: str, account_id: str, sealed: str) -> Key:
    """A user's sealed login hash (`md5`, `sha`), by which a login finds its user."""
    return (f"cred_{method}", _scoped(account_id, sealed))


def cf_number(account_id: str, number: str) -> Key:
    return (CF_NUMBER, _scoped(account_id, number))


def cf_pattern(account_id: str, pattern: str) -> Key:
    return (CF_PATTERN, _scoped(account_id, pattern))


def mailbox(account_id: str, number: str) -> Key:
    return (MAILBOX, _scoped(account_id, number))


def number(e164: str) -> Key:
    """A phone number, platform-wide: its holder is the account the number is assigned to."""
    return (NUMBER, e164)


def number_pool(e164: str) -> Key:
    """A number available for purchase, searched by prefix."""
    return (NUMBER_POOL, e164)


def whitelabel_domain(domain: str) -> Key:
    return (WHITELABEL_DOMAIN, domain.strip().lower())


def carriers(partition: str) -> Key:
    """A partition (the system's, or an account's) that holds or held carriers: where the gateway index looks."""
    return (CARRIERS, partition)
