"""Number normalisation to E.164 and classification, in KAZOO's order (first matching regex wins)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_CLASSIFIERS: list[dict] = [
    {"name": "tollfree_us", "regex": r"^\+1((?:800|88\d|877|866|855|844|833|822)\d{7})$",
     "friendly_name": "US TollFree", "pretty_print": "SS(###) ### - ####"},
    {"name": "toll_us", "regex": r"^\+1(900\d{7})$", "friendly_name": "US Toll", "pretty_print": "SS(###) ### - ####"},
    {"name": "emergency", "regex": r"^(911|922|933|833|811|711|999)$", "friendly_name": "Emergency Dispatcher",
     "emergency": True},
    {"name": "caribbean", "regex": r"^\+?1((?:684|264|268|242|246|441|284|345|767|809|829|849|473|671|876|664|670"
     r"|787|939|869|758|784|721|868|649|340)\d{7})$", "friendly_name": "Caribbean", "pretty_print": "SS(###) ### - ####"},
    {"name": "did_us", "regex": r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$", "friendly_name": "US DID",
     "pretty_print": "SS(###) ### - ####"},
    {"name": "international", "regex": r"^\+([2-9]\d{7,})$", "friendly_name": "International"},
    {"name": "unknown", "regex": r"^(.*)$", "friendly_name": "Unknown"},
]

E164_CONVERTERS = [
    (re.compile(r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$"), "+1"),
    (re.compile(r"^011(\d{5,})$|^00(\d{5,})$"), "+"),
    (re.compile(r"^([2-9]\d{7,})$"), "+"),
]

RECONCILE = re.compile(r"^(\+?1)?\d{10}$|^\+[2-9]\d{7,}$|^011\d*$|^00\d*$")


def normalize(number: str) -> str:
    """To E.164 where a converter matches; extensions such as `1000` or `911` stay as they are."""
    number = number.strip()
    if number.startswith("+"):
        return number
    for regex, prefix in E164_CONVERTERS:
        match = regex.match(number)
        if match:
            captured = [g for g in match.groups() if g]
            return prefix + captured[-1]
    return number


def is_did(number: str) -> bool:
    """Whether the string counts as a phone number (owned, billed) rather than an extension."""
    return bool(RECONCILE.match(number))


@dataclass(frozen=True)
class Classification:
    name: str
    friendly_name: str
    emergency: bool


def classify(number: str, classifiers: list[dict] | None = None) -> Classification:
    e164 = normalize(number)
    for entry in classifiers or DEFAULT_CLASSIFIERS:
        if re.match(entry["regex"], e164) or re.match(entry["regex"], number):
            return Classification(entry["name"], entry.get("friendly_name", entry["name"]), bool(entry.get("emergency")))
    return Classification("unknown", "Unknown", False)
