"""Every Crossbar noun the API answers, one module each, keyed by noun."""

from __future__ import annotations

from importlib import import_module

MODULES = (
    "about",
    "accounts",
    "user_auth",
    "api_auth",
    "token_auth",
    "auth",
    "users",
    "devices",
    "callflows",
    "groups",
    "vmboxes",
    "conferences",
    "faxboxes",
    "menus",
    "temporal_rules",
    "temporal_rules_sets",
    "directories",
    "external_numbers",
    "phone_numbers",
    "whitelabel",
    "apps_store",
    "limits",
    "alerts",
    "media",
    "system_configs",
    "channels",
    "registrations",
    "cdrs",
    "configs",
    "security",
    "multi_factor",
    "ledgers",
    "openapi",
)

ENDPOINTS = {}
for _name in MODULES:
    _endpoint = import_module(f"{__name__}.{_name}").ENDPOINT
    ENDPOINTS[_endpoint.noun] = _endpoint
