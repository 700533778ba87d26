"""Every Crossbar noun the API answers, keyed by noun, found by convention: each module of this package that
exports an `ENDPOINT` is one (a new noun is a new module and nothing else); modules without one (`base`,
`inherited`, `uploads`) are helpers the endpoints share."""

from __future__ import annotations

import pkgutil
from importlib import import_module

from cloudpbx.api.endpoints.base import Endpoint


def _discovered() -> dict[str, Endpoint]:
    found: dict[str, Endpoint] = {}
    for module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
        endpoint = getattr(import_module(f"{__name__}.{module}"), "ENDPOINT", None)
        if endpoint is not None:
            found[endpoint.noun] = endpoint
    return found


ENDPOINTS = _discovered()
