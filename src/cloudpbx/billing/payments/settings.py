"""Which gateway the platform uses, from system config: `payments.gateway` is `local` (the default: manual credits
only) or `braintree`, whose credentials are system config `braintree` (KAZOO's category). Both are read as stored now
(one point read each), so a change reaches every process sharing the database at its next payment; a gateway is
built once per distinct setting and reused, with its SDK connections and threads."""

from __future__ import annotations

from typing import Any

from cloudpbx.accounts.system_configs import SystemConfigs, setting
from cloudpbx.billing.payments.braintree_gateway import BraintreeGateway, BraintreeSettings, environment
from cloudpbx.billing.payments.gateway import Gateway, GatewayUnavailable
from cloudpbx.billing.payments.local import LocalGateway

LOCAL, BRAINTREE = "local", "braintree"


class Gateways:
    """The gateway in use, rebuilt when its settings change."""

    def __init__(self, configs: SystemConfigs):
        self.configs = configs
        self._local = LocalGateway()
        self._braintree: BraintreeGateway | None = None

    async def current(self) -> Gateway:
        chosen = setting(await self.configs.current("payments"), "gateway", LOCAL)
        if chosen == LOCAL:
            return self._local
        if chosen != BRAINTREE:
            raise _misconfigured(f"system config payments.gateway is {LOCAL!r} or {BRAINTREE!r}")
        wanted = _settings(await self.configs.current(BRAINTREE))
        if self._braintree is None or self._braintree.settings != wanted:
            if self._braintree is not None:
                self._braintree.close()
            self._braintree = BraintreeGateway(wanted)
        return self._braintree

    def close(self) -> None:
        if self._braintree is not None:
            self._braintree.close()


def _settings(doc: dict[str, Any] | None) -> BraintreeSettings:
    """The `braintree` category as settings; incomplete or malformed settings make the gateway unavailable (503),
    never a crash."""
    values = {key: setting(doc, key) for key in ("merchant_id", "public_key", "private_key")}
    if not all(isinstance(value, str) and value for value in values.values()):
        raise _misconfigured("system config braintree needs merchant_id, public_key and private_key")
    env = setting(doc, "environment", "sandbox")
    timeout, concurrent = setting(doc, "timeout_s", 20), setting(doc, "max_concurrent", 4)
    try:
        environment(env if isinstance(env, str) else "")
    except ValueError as exc:
        raise _misconfigured(f"system config braintree.environment: {exc}") from exc
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 120:
        raise _misconfigured("system config braintree.timeout_s must be a number of seconds from 0 to 120")
    if isinstance(concurrent, bool) or not isinstance(concurrent, int) or not 1 <= concurrent <= 64:
        raise _misconfigured("system config braintree.max_concurrent must be an integer from 1 to 64")
    return BraintreeSettings(**values, environment=env, timeout_s=float(timeout), max_concurrent=concurrent)


def _misconfigured(text: str) -> GatewayUnavailable:
    return GatewayUnavailable({"reason": "configuration", "message": text}, "gateway_misconfigured")
