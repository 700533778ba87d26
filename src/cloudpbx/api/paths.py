"""Crossbar's path grammar: each token naming a module starts a noun; the tokens after it are its arguments."""

from __future__ import annotations

from collections.abc import Container

from cloudpbx.errors import NotFoundPath as UnknownPath


def parse(path: str, modules: Container[str]) -> list[tuple[str, list[str]]]:
    """`accounts/A/devices/D` → [("accounts", ["A"]), ("devices", ["D"])]."""
    tokens = path.strip("/").split("/")
    if tokens[0] not in modules:
        raise UnknownPath({"message": "not found", "cause": path})
    nouns: list[tuple[str, list[str]]] = []
    for token in tokens:
        if token in modules:
            nouns.append((token, []))
        else:
            nouns[-1][1].append(token)
    return nouns
