"""Random hex and the Gregorian epoch: below every package (the SIP stack, the store, accounts) and importing none."""

import os

GREGORIAN_OFFSET = 62167219200  # seconds from year 0 to the Unix epoch, as KAZOO stamps times

_POOL_BYTES = 4096
_pool: list[bytes | int] = [b"", 0]  # random bytes from the OS, and how many of them are used


def random_hex(nbytes: int) -> str:
    """`nbytes` random bytes from the OS generator, in hex, as `secrets.token_hex` gives them.

    Calls take their bytes from one read of 4 KiB: a SIP call draws several tags and ids, and a system call for
    each cost more than all the rest of making them.
    """
    pool, used = _pool
    assert isinstance(pool, bytes) and isinstance(used, int)
    if used + nbytes > len(pool):
        pool, used = os.urandom(max(_POOL_BYTES, nbytes)), 0
        _pool[0] = pool
    _pool[1] = used + nbytes
    return pool[used : used + nbytes].hex()


os.register_at_fork(after_in_child=lambda: _pool.__setitem__(0, b""))  # a child never reuses its parent's bytes
