"""Number normalisation to E.164 and classification, in KAZOO's order (first matching regex wins).

Classifiers come from system config, written by the platform's operators and resellers, so their regexes run on
RE2 (`cloudpbx.regex`) and are checked when the config is saved. The defaults are KAZOO's, with 988 (the US crisis
line) in the emergency class, as the 988 deployment guide asks operators to configure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cloudpbx import regex

DEFAULT_CLASSIFIERS: list[dict] = [
    {
        "name": "tollfree_us",
        "regex": r"^\+1((?:800|88\d|877|866|855|844|833|822)\d{7})$",
        "friendly_name": "US TollFree",
        "pretty_print": "SS(###) ### - ####",
    },
    {"name": "toll_us", "regex": r"^\+1(900\d{7})$", "friendly_name": "US Toll", "pretty_print": "SS(###) ### - ####"},
    {
        "name": "emergency",
        "regex": r"^(911|922|933|988|833|811|711|999)$",
        "friendly_name": "Emergency Dispatcher",
        "emergency": True,
    },
    {
        "name": "caribbean",
        "regex": r"^\+?1((?:684|264|268|242|246|441|284|345|767|809|829|849|473|671|876|664|670"
        r"|787|939|869|758|784|721|868|649|340)\d{7})$",
        "friendly_name": "Caribbean",
        "pretty_print": "SS(###) ### - ####",
    },
    {
        "name": "did_us",
        "regex": r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$",
        "friendly_name": "US DID",
        "pretty_print": "SS(###) ### - ####",
    },
    {"name": "international", "regex": r"^\+([2-9]\d{7,})$", "friendly_name": "International"},
    {"name": "unknown", "regex": r"^(.*)$", "friendly_name": "Unknown"},
]

E164_CONVERTERS = [
    (re.compile(r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$"), "+1"),
    (re.compile(r"^011(\d{5,})$|^00(\d{5,})$"), "+"),
    (re.compile(r"^([2-9]\d{7,})$"), "+"),
]

MAX_CLASSIFIERS = 100  # entries in one classifiers setting
RECONCILE = re.compile(r"^(\+?1)?\d{10}$|^\+[2-9]\d{7,}$|^011\d*$|^00\d*$")


def normalize(number: str) -> str:
    """To E.164 where a converter matches; extensions such as `1000` or `911` stay as they are."""
    number = number.strip()
    if number.startswith("+"):
        return number
    for converter, prefix in E164_CONVERTERS:
        match = converter.match(number)
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


def _named(name: str, value: Any) -> dict | None:
    """One classifier: an object with `regex`, or KAZOO's older form, the regex alone; named as its key says."""
    if isinstance(value, str):
        value = {"regex": value}
    if not isinstance(value, dict):
        return None
    friendly = value.get("friendly_name")
    return {**value, "friendly_name": friendly if isinstance(friendly, str) else name, "name": name}


def from_config(value: Any) -> list[dict]:
    """Classifiers from `number_manager.classifiers` (an object keyed by name, in its order, or a list of entries
    with `name`); entries without a usable regex are skipped, and an empty or unset value means the defaults."""
    if isinstance(value, dict):
        named = [_named(name, entry) for name, entry in value.items()]
    elif isinstance(value, list):
        named = [_named(e["name"], e) for e in value if isinstance(e, dict) and isinstance(e.get("name"), str)]
    else:
        named = []
    usable = [entry for entry in named if entry is not None and _compiles(entry.get("regex"))]
    return usable or DEFAULT_CLASSIFIERS


def _compiles(pattern: Any) -> bool:
    try:
        regex.cached(pattern)
    except (regex.PatternError, TypeError):
        return False
    return True


def _entries(value: Any) -> list[tuple[str, Any]]:
    """(path, entry) of each classifier in either shape of the setting."""
    if isinstance(value, dict):
        return [(name.replace(".", "%2E"), entry) for name, entry in value.items()]
    if isinstance(value, list):
        return [(str(i), entry) for i, entry in enumerate(value)]
    return []


def config_errors(config: dict) -> dict:
    """Validation errors of the classifiers in a `number_manager` system config (at `default` or the top)."""
    errors: dict = {}
    for where, node in (("default.classifiers", (config.get("default") or {})), ("classifiers", config)):
        if not isinstance(node, dict) or "classifiers" not in node:
            continue
        entries = _entries(node["classifiers"])
        if len(entries) > MAX_CLASSIFIERS:
            errors[where] = {
                "maxItems": {"message": f"At most {MAX_CLASSIFIERS} classifiers", "target": MAX_CLASSIFIERS}
            }
        for path, entry in entries:
            if isinstance(entry, str):  # KAZOO's older form: the regex alone
                at, pattern = f"{where}.{path}", entry
            elif isinstance(entry, dict) and "regex" in entry:
                at, pattern = f"{where}.{path}.regex", entry["regex"]
            else:
                continue
            reason = regex.problem(pattern)
            if reason:
                errors[at] = {"regex": {"message": reason, "value": pattern}}
    return errors


def by_name(classifiers: list[dict]) -> dict[str, dict]:
    """The listing clients read: name → settings (regex, friendly_name, ...), in matching order."""
    return {entry["name"]: {k: v for k, v in entry.items() if k != "name"} for entry in classifiers}


def match(number: str, classifiers: list[dict] | None = None) -> dict | None:
    """The first classifier whose regex matches the number in its E.164 form (KAZOO's `classify`), else None."""
    e164 = normalize(number)
    for entry in classifiers or DEFAULT_CLASSIFIERS:
        if regex.cached(entry["regex"]).search(e164):
            return entry
    return None


def is_emergency(entry: dict) -> bool:
    """An emergency class: flagged so, or named so (never refused, whatever an operator's config forgot)."""
    return entry.get("emergency") is True or entry["name"] == "emergency"


def described(number: str, classifiers: list[dict]) -> dict:
    """What `phone_numbers/classifiers/{number}` answers: the number as given, its E.164 form and, when a
    classifier matches, that classifier's name and settings."""
    entry = match(number, classifiers) or {}
    return {**entry, "number": number, "e164": normalize(number)}


def classify(number: str, classifiers: list[dict] | None = None) -> Classification:
    entry = match(number, classifiers)
    if entry is None:
        return Classification("unknown", "Unknown", False)
    return Classification(entry["name"], entry.get("friendly_name", entry["name"]), is_emergency(entry))
