"""Number features (cnam, e911, prepend, failover, ringback, force_outbound): checks beyond the schema, and which
features are active.

The schema already types every field; here go the rules that need the values together, such as an emergency
address that a dispatcher can find, or a failover that names a real destination.
"""

from __future__ import annotations

import re
from typing import Any

from cloudpbx.errors import Invalid
from cloudpbx.numbers.classifiers import is_did, normalize
from cloudpbx.store import Doc

AVAILABLE = ("cnam", "e911", "failover", "force_outbound", "prepend", "ringback")

US_REGIONS = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
    ]
)
US_TERRITORIES = frozenset(["AS", "GU", "MP", "PR", "VI"])  # ISO 3166 codes of their own
CA_REGIONS = frozenset(["AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"])
US_ZIP = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")
CA_POSTAL = re.compile(r"^([A-Z]\d[A-Z]) ?(\d[A-Z]\d)$")
HOUSE_NUMBER = re.compile(r"^\d+[A-Z]?(?:[-/]\d+[A-Z]?)?\s+\S", re.IGNORECASE)
SIP_URI = re.compile(r"^sips?:[^@\s]+@[^@\s]+$")

Errors = dict[str, dict[str, dict[str, Any]]]


def active(doc: Doc) -> list[str]:
    """Features in use, as listings show them (CNAM splits into inbound and outbound)."""
    names = []
    cnam = doc.get("cnam")
    if isinstance(cnam, dict):
        if cnam.get("display_name"):
            names.append("outbound_cnam")
        if cnam.get("inbound_lookup"):
            names.append("inbound_cnam")
    prepend = doc.get("prepend")
    if isinstance(prepend, dict) and prepend.get("enabled"):
        names.append("prepend")
    names.extend(name for name in ("e911", "failover", "ringback", "force_outbound") if doc.get(name))
    return names


def check(number: str, fields: Doc) -> None:
    """Normalise feature settings in place; every problem is reported at once as a validation error."""
    errors: Errors = {}
    if isinstance(fields.get("e911"), dict):
        _check_e911(number, fields["e911"], errors)
    if isinstance(fields.get("failover"), dict):
        _check_failover(fields["failover"], errors)
    prepend = fields.get("prepend")
    if isinstance(prepend, dict) and prepend.get("enabled") and not (prepend.get("name") or prepend.get("number")):
        _add(errors, "prepend", "required", "An enabled prepend needs a name or a number to prepend")
    if errors:
        raise Invalid(errors)


def _add(errors: Errors, path: str, rule: str, message: str, **detail: Any) -> None:
    errors.setdefault(path, {})[rule] = {"message": message, **detail}


def _check_e911(number: str, address: dict, errors: Errors) -> None:
    """An emergency address must be one a dispatcher can locate: street, city, region, postal code and country.
    North American numbers get region and postal-code checks (ZIP+4 is split into `postal_code` and `plus_four`)
    and their country from the region; other numbers must name it."""
    for key in ("street_address", "locality", "region", "postal_code", "country"):
        if isinstance(address.get(key), str):
            address[key] = " ".join(address[key].split())
            if not address[key]:
                _add(errors, f"e911.{key}", "minLength", "Field must not be blank")
    street = address.get("street_address")
    if street and not HOUSE_NUMBER.match(street):
        _add(
            errors, "e911.street_address", "invalid", "The street address must start with a house number", value=street
        )
    if isinstance(address.get("country"), str):
        address["country"] = address["country"].upper()
    if normalize(number).startswith("+1"):
        _check_north_american(address, errors)
    elif "country" not in address:
        _add(errors, "e911.country", "required", "Field is required but missing: the country of the address")


def _check_north_american(address: dict, errors: Errors) -> None:
    region = (address.get("region") or "").upper()
    postal = (address.get("postal_code") or "").upper()
    if region:
        address["region"] = region
        if region not in US_REGIONS | CA_REGIONS:
            _add(errors, "e911.region", "invalid", "Not a US state or territory nor a Canadian province", value=region)
        else:
            _check_country(address, "CA" if region in CA_REGIONS else "US", errors)
    if not postal:
        return
    if region in CA_REGIONS:
        match = CA_POSTAL.match(postal)
        if match is None:
            _add(errors, "e911.postal_code", "invalid", "Not a Canadian postal code (A1A 1A1)", value=postal)
        else:
            address["postal_code"] = f"{match.group(1)} {match.group(2)}"
        return
    match = US_ZIP.match(postal)
    if match is None:
        _add(errors, "e911.postal_code", "invalid", "Not a US ZIP code (12345 or 12345-6789)", value=postal)
        return
    address["postal_code"] = match.group(1)
    if match.group(2):
        address["plus_four"] = match.group(2)


def _check_country(address: dict, country: str, errors: Errors) -> None:
    """The region's country, filled in when missing (a US territory may name itself); a different one is an
    address no dispatcher can trust."""
    given = address.setdefault("country", country)
    if given != country and not (given == address["region"] and given in US_TERRITORIES):
        _add(errors, "e911.country", "invalid", f"The region {address['region']} is in {country}", value=given)


def _check_failover(failover: dict, errors: Errors) -> None:
    """Failover goes to a phone number or a SIP URI; at least one must be given and make sense."""
    e164, sip = failover.get("e164"), failover.get("sip")
    if not e164 and not sip:
        _add(errors, "failover", "required", "Failover needs an e164 number or a sip URI")
    if e164:
        if is_did(normalize(e164)):
            failover["e164"] = normalize(e164)
        else:
            _add(errors, "failover.e164", "invalid", "Not a phone number", value=e164)
    if sip and not SIP_URI.match(sip):
        _add(errors, "failover.sip", "invalid", "Not a SIP URI (sip:user@host)", value=sip)
