"""The registries found by convention agree with the package contents and with each other: every endpoint module is
routed, every document kind has its endpoint and schema, every callflow action module runs a module KAZOO knows."""

from __future__ import annotations

import pkgutil
from importlib import import_module

from cloudpbx import schemas
from cloudpbx.accounts.kinds import CALLFLOW_ACTIONS, KINDS
from cloudpbx.api import endpoints as endpoint_package
from cloudpbx.api.app import ROUTER
from cloudpbx.api.endpoints import ENDPOINTS
from cloudpbx.api.endpoints.base import DocumentEndpoint
from cloudpbx.callflow import actions as action_package
from cloudpbx.callflow.actions import ACTIONS

HELPERS = {"base", "inherited", "uploads"}  # modules the endpoints share; every other module is a noun


def _modules(package) -> set[str]:
    return {info.name for info in pkgutil.iter_modules(package.__path__)}


def test_every_endpoint_module_is_a_routed_noun():
    """A module that lost its `ENDPOINT` (misspelt, renamed) would silently drop its noun: none may."""
    for name in _modules(endpoint_package) - HELPERS:
        endpoint = getattr(import_module(f"{endpoint_package.__name__}.{name}"), "ENDPOINT", None)
        assert endpoint is not None, f"endpoints/{name}.py exports no ENDPOINT"
        assert ENDPOINTS[endpoint.noun] is endpoint
    assert len(ENDPOINTS) == len(_modules(endpoint_package) - HELPERS)
    assert ROUTER.nouns == frozenset(ENDPOINTS)
    assert {endpoint for endpoint, _ in ROUTER.shapes} == set(ENDPOINTS.values())


def test_every_document_kind_has_its_endpoint_and_schema():
    for name in KINDS:
        assert name in ENDPOINTS, f"kind {name} has no endpoint"
        assert name in schemas.names(), f"kind {name} has no schema"
    for noun, endpoint in ENDPOINTS.items():
        if isinstance(endpoint, DocumentEndpoint):
            assert KINDS.get(noun) is endpoint.kind, f"endpoint {noun} serves a kind not registered under its noun"


def test_every_action_module_is_a_callflow_module_kazoo_knows():
    assert set(ACTIONS) == _modules(action_package)
    assert set(ACTIONS) <= CALLFLOW_ACTIONS
    for name, run in ACTIONS.items():
        assert run.__module__ == f"{action_package.__name__}.{name}"
