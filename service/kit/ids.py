"""Server-generated identifiers: a type prefix and a time-ordered ULID-style body.

Ordering by id is ordering by creation, which cursor pagination relies on.
"""

import os
import threading
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last = [0, 0]  # last millisecond, last random part (monotonic within one millisecond)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(CROCKFORD[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms = _last[0]
            rand = _last[1] + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # leave room to increment
        _last[0], _last[1] = ms, rand
    return f"{prefix}_{_encode(ms, 10)}{_encode(rand, 16)}"


def voucher_code(year: int) -> str:
    """A readable code such as SLQ-2026-7K3M-Q9XD: no I, L, O or U to misread."""
    body = _encode(int.from_bytes(os.urandom(5), "big"), 8)
    check = CROCKFORD[sum((i + 1) * CROCKFORD.index(c) for i, c in enumerate(body)) % 32]
    return f"SLQ-{year}-{body[:4]}-{body[4:7]}{check}"
