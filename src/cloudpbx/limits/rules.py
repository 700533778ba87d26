"""An account's effective limits: its `limits` document's public fields merged with the private ones (what service
plans and the account's provider set) over the system config `limits` defaults, as KAZOO's `kzd_limits` does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudpbx.accounts import limits
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.store import Doc

UNITS_PER_DOLLAR = 10_000  # KAZOO's currency units
DEFAULT_RESERVE = 0.5  # dollars kept back before per-minute credit is used (jonny5's DEFAULT_RATE)
CALLS = ("calls", "resource_consuming_calls")
# Every key's default (system_config `limits` overrides each); -1 unlimited, 0 none.
DEFAULTS: dict[str, Any] = {
    **{key: value for key, value in limits.DEFAULTS.items() if key != "authz_resource_types"},
    **limits.PROVIDER_DEFAULTS,
    "reserve_amount": DEFAULT_RESERVE,
}


@dataclass(frozen=True)
class Limits:
    """Tristate counts (-1 unlimited, 0 none, n), the per-minute options in units, the soft limits."""

    enabled: bool = True
    calls: int = -1
    resource_consuming_calls: int = -1
    inbound_trunks: int = 0
    outbound_trunks: int = 0
    twoway_trunks: int = 0
    burst_trunks: int = 0
    allow_prepay: bool = True
    allow_postpay: bool = False
    max_postpay_units: int = 0  # how far below zero postpay may go
    reserve_units: int = round(DEFAULT_RESERVE * UNITS_PER_DOLLAR)
    soft_limit_inbound: bool = False
    soft_limit_outbound: bool = False


def count(public: Any, private: Any, default: int, *, negative_public_is_default: bool = False) -> int:
    """One tristate count: a private (plan) value above zero caps the public one, zero forbids, none or a negative
    one leaves the public value (or the default when the account set none)."""
    mine = public if isinstance(public, int) and not isinstance(public, bool) else default
    if negative_public_is_default and mine < 0:
        mine = default
    if not isinstance(private, int) or isinstance(private, bool) or private < 0:
        return mine
    if private == 0:
        return 0
    return private if mine < 0 else min(private, mine)


def _flag(doc: Doc, key: str, default: bool) -> bool:
    value = doc.get(f"pvt_{key}", doc.get(key, default))
    return value if isinstance(value, bool) else default


def _units(value: Any) -> int:
    return round(abs(value) * UNITS_PER_DOLLAR) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def merge(doc: Doc | None, defaults: dict[str, Any]) -> Limits:
    """The effective limits of a stored document (None: the account has none) over `defaults`."""
    doc = doc or {}

    def counted(key: str) -> int:
        return count(doc.get(key), doc.get(f"pvt_{key}"), defaults[key], negative_public_is_default=key in CALLS)

    return Limits(
        enabled=_flag(doc, "enabled", defaults["enabled"]),
        calls=counted("calls"),
        resource_consuming_calls=counted("resource_consuming_calls"),
        inbound_trunks=counted("inbound_trunks"),
        outbound_trunks=counted("outbound_trunks"),
        twoway_trunks=counted("twoway_trunks"),
        burst_trunks=counted("burst_trunks"),
        allow_prepay=_flag(doc, "allow_prepay", defaults["allow_prepay"]),
        allow_postpay=doc.get("pvt_allow_postpay", defaults["allow_postpay"]) is True,
        max_postpay_units=_units(doc.get("pvt_max_postpay_amount", defaults["max_postpay_amount"])),
        reserve_units=_units(doc.get("pvt_reserve_amount", defaults["reserve_amount"])),
        soft_limit_inbound=doc.get("pvt_soft_limit_inbound", defaults["soft_limit_inbound"]) is True,
        soft_limit_outbound=doc.get("pvt_soft_limit_outbound", defaults["soft_limit_outbound"]) is True,
    )


async def system_defaults(configs: SystemConfigs) -> dict[str, Any]:
    """The defaults with the system config's overrides, each taken only when it has the default's type."""
    out = {}
    for key, default in DEFAULTS.items():
        value = await configs.value("limits", key, default)
        out[key] = value if _fits(value, default) else default
    return out


def _fits(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    return isinstance(value, int | float)
