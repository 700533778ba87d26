"""Identifiers, revisions and time in the shapes Crossbar clients expect."""

import hashlib
import re
import secrets
import time

GREGORIAN_OFFSET = 62167219200


def new_id() -> str:
    """A document id: 32 lowercase hex characters."""
    return secrets.token_hex(16)


_HEX_ID = re.compile(r"[0-9a-f]{32}")


def is_id(value: object) -> bool:
    return isinstance(value, str) and _HEX_ID.fullmatch(value) is not None


def gregorian_now() -> int:
    """Seconds since year 0, as Crossbar stamps created/modified."""
    return int(time.time()) + GREGORIAN_OFFSET


def next_revision(previous: str | None, body: bytes) -> str:
    """`N-<hash>` where N counts saves, so clients can compare revisions."""
    n = int(previous.split("-", 1)[0]) + 1 if previous else 1
    return f"{n}-{hashlib.md5(body).hexdigest()}"
