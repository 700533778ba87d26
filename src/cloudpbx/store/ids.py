"""Identifiers, revisions and time in the shapes Crossbar clients expect."""

import hashlib
import re
import time

from cloudpbx.ids import GREGORIAN_OFFSET, random_hex


def new_id() -> str:
    """A document id: 32 lowercase hex characters."""
    return random_hex(16)


_HEX_ID = re.compile(r"[0-9a-f]{32}")


def is_id(value: object) -> bool:
    return isinstance(value, str) and _HEX_ID.fullmatch(value) is not None


# Every stored document id: KAZOO's generated ids (32 hex), E.164 numbers (`+14155550100`), system config
# categories (`crossbar.devices`, `kazoo_endpoint`) and fixed names (`limits`) all fit. Ids travel in URLs and in
# the `Location` header, so no space, control, quote, slash or non-ASCII character is allowed.
NAME_CHARS = "A-Za-z0-9_.+%:@-"
NAME_MAX = 128
_NAME = re.compile(f"[{NAME_CHARS}]{{1,{NAME_MAX}}}")


def is_name(value: object) -> bool:
    """Whether `value` fits the id grammar `[A-Za-z0-9_.+%:@-]{1,128}`."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def gregorian_now() -> int:
    """Seconds since year 0, as Crossbar stamps created/modified."""
    return int(time.time()) + GREGORIAN_OFFSET


def next_revision(previous: str | None, body: bytes) -> str:
    """`N-<hash>` where N counts saves, so clients can compare revisions."""
    n = int(previous.split("-", 1)[0]) + 1 if previous else 1
    return f"{n}-{hashlib.md5(body).hexdigest()}"
