"""Crossbar's path grammar: each token naming a module starts a noun; the tokens after it are its arguments."""

from __future__ import annotations

from collections.abc import Container

from cloudpbx.errors import NotFoundPath as UnknownPath

# Nouns whose arguments are names that may equal other nouns (`system_configs/media`): they take the rest of the path.
GREEDY = frozenset({"schemas", "braintree", "system_configs", "configs", "sup"})


def parse(path: str, modules: Container[str]) -> list[tuple[str, list[str]]]:
    """`accounts/A/devices/D` → [("accounts", ["A"]), ("devices", ["D"])]."""
    tokens = path.strip("/").split("/")
    if tokens[0] not in modules or "\x00" in path:  # no id or noun holds NUL, and PostgreSQL text cannot
        raise UnknownPath({"message": "not found", "cause": path.replace("\x00", "")})
    nouns: list[tuple[str, list[str]]] = []
    args: list[str] = []
    greedy = False
    for token in tokens:
        if token in modules and not greedy:
            args = []
            nouns.append((token, args))
            greedy = token in GREEDY
        else:
            args.append(token)
    return nouns
