"""Carrier documents compiled for routing: one `Carrier` per stored resource, or one per number class for a
resource with `classifiers` (KAZOO's classifier resources), each with its enabled gateways in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudpbx.store import Doc

DEFAULT_PORT = 5060


@dataclass(frozen=True, slots=True, eq=False)
class Gateway:
    """One gateway of a carrier: where a call goes, how its number is shaped, and what the SIP leg needs."""

    index: int  # its position among the document's gateways
    server: str
    port: int = DEFAULT_PORT
    route: str | None = None  # a fixed SIP URI every call goes to
    prefix: str = ""
    suffix: str = ""
    invite_format: str = "route"
    username: str | None = None
    password: str | None = None
    realm: str | None = None
    codecs: tuple[str, ...] = ()
    progress_timeout: int = 8
    custom_sip_headers: Mapping[str, Any] = field(default_factory=dict)
    caller_id_type: str = "external"
    format_from_uri: bool = False
    from_uri_realm: str | None = None
    bypass_media: bool = False
    emergency: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Carrier:
    id: str
    name: str
    is_global: bool
    enabled: bool
    weight: int  # 1..100, lower first
    rules: tuple[str, ...]
    gateways: tuple[Gateway, ...]
    rules_test: tuple[str, ...] = ()  # the emergency test numbers it takes (933), tried after its rules
    cid_rules: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    require_flags: bool = False
    ignore_flags: bool = False
    emergency: bool = False
    classifier: str | None = None  # the number class it serves, for a classifier resource
    classifier_enabled: bool = True
    random_gateways: bool = False


def _weight(value: Any) -> int:
    """KAZOO clamps weights to 1..100."""
    return min(100, max(1, value)) if isinstance(value, int) else 50


def _gateway(index: int, doc: Doc, emergency: bool, shaping: Mapping[str, Any]) -> Gateway:
    codecs = doc.get("codecs") or []
    return Gateway(
        index=index,
        server=doc["server"],
        port=doc.get("port", DEFAULT_PORT),
        route=doc.get("route") or None,
        prefix=shaping.get("prefix", doc.get("prefix", "")),
        suffix=shaping.get("suffix", doc.get("suffix", "")),
        invite_format=doc.get("invite_format", "route"),
        username=doc.get("username") or None,
        password=doc.get("password") or None,
        realm=doc.get("realm") or None,
        codecs=tuple(codecs),
        progress_timeout=doc.get("progress_timeout", 8),
        custom_sip_headers=doc.get("custom_sip_headers") or {},
        caller_id_type=doc.get("caller_id_type", "external"),
        format_from_uri=bool(doc.get("format_from_uri", False)),
        from_uri_realm=doc.get("from_uri_realm") or None,
        bypass_media=bool(doc.get("bypass_media", False)),
        emergency=emergency or bool(doc.get("emergency", False)),
    )


def _is_emergency(doc: Doc) -> bool:
    options = doc.get("caller_id_options")
    return bool(doc.get("emergency")) or (isinstance(options, dict) and options.get("type") == "emergency")


def _carrier(doc: Doc, is_global: bool, **overrides: Any) -> Carrier:
    shaping = overrides.pop("shaping", {})
    emergency = overrides.pop("emergency", _is_emergency(doc))
    gateways = tuple(
        _gateway(i, gateway, emergency, shaping)
        for i, gateway in enumerate(doc.get("gateways") or [])
        if isinstance(gateway, dict) and gateway.get("enabled", True) and gateway.get("server")
    )
    fields: dict[str, Any] = {
        "id": doc["_id"],
        "name": doc.get("name", ""),
        "is_global": is_global,
        "enabled": doc.get("enabled", True) is not False,
        "weight": _weight(doc.get("weight_cost")),
        "rules": tuple(doc.get("rules") or ()),
        "rules_test": tuple(doc.get("rules_test") or ()),
        "gateways": gateways,
        "cid_rules": tuple(doc.get("cid_rules") or ()),
        "flags": frozenset(doc.get("flags") or ()),
        "require_flags": bool(doc.get("require_flags")),
        "ignore_flags": bool(doc.get("ignore_flags")),
        "emergency": emergency,
        "random_gateways": doc.get("gateway_strategy") == "random",
    }
    fields.update(overrides)
    return Carrier(**fields)


def _by_class(doc: Doc, is_global: bool, classes: Mapping[str, Mapping[str, Any]]) -> list[Carrier]:
    """A classifier resource: one carrier per class the platform's classifiers know (others are ignored)."""
    found = []
    for name, settings in (doc.get("classifiers") or {}).items():
        known = classes.get(name)
        if known is None or not isinstance(settings, dict):
            continue
        default = True if name == "emergency" else known.get("emergency", _is_emergency(doc))
        found.append(
            _carrier(
                doc,
                is_global,
                id=f"{doc['_id']}-{name}",
                name=f"{doc.get('name', '')} - {name}",
                rules=(settings.get("regex") or known["regex"],),
                weight=_weight(settings.get("weight_cost", doc.get("weight_cost"))),
                emergency=bool(settings.get("emergency", default)),
                classifier=name,
                classifier_enabled=settings.get("enabled", True) is not False,
                shaping={key: settings[key] for key in ("prefix", "suffix") if key in settings},
            )
        )
    return found


def compile_carriers(docs: list[Doc], classifiers: list[dict], is_global: bool) -> list[Carrier]:
    """The carriers of stored documents in the order decisions try them: weight ascending, then name, then id."""
    classes = {entry["name"]: entry for entry in classifiers}
    carriers: list[Carrier] = []
    for doc in docs:
        carriers.extend(_by_class(doc, is_global, classes) if doc.get("classifiers") else [_carrier(doc, is_global)])
    return sorted(carriers, key=lambda carrier: (carrier.weight, carrier.name, carrier.id))
