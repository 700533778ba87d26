"""The two validators behind `schemas.validate` agree: the fast one never passes what the thorough one refuses."""

from __future__ import annotations

import pytest

from cloudpbx import schemas

WRONG = {"string": 5, "integer": "five", "number": "five", "boolean": "maybe", "object": [], "array": {}}


def wrong_documents(name: str):
    """For each top-level property with a plain type: a document, defaults filled, holding a wrong value there."""
    schema = schemas.load(name)
    for key, sub in schema.get("properties", {}).items():
        kind = sub.get("type")
        if isinstance(kind, str) and kind in WRONG:
            doc, _ = schemas.validate(name, {})
            doc[key] = WRONG[kind]
            yield key, doc
    for key, sub in schema.get("properties", {}).items():
        if sub.get("format") in ("email", "uri"):
            doc, _ = schemas.validate(name, {})
            doc[key] = "no at sign, no scheme"
            yield key, doc


@pytest.mark.parametrize("name", schemas.names())
def test_the_fast_validator_refuses_what_the_thorough_one_refuses(name):
    checked = 0
    for key, doc in wrong_documents(name):
        thorough = schemas.errors_of(name, doc)
        if thorough:
            assert not schemas._quick(name).is_valid(doc), f"{name}.{key}: {thorough}"
            checked += 1
    assert schemas._quick(name).is_valid(schemas.validate(name, {})[0]) == (not schemas.validate(name, {})[1])
    assert checked or not schemas.load(name).get("properties")
