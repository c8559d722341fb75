"""What the local tier stores per key (``LocalEntry``) and what it charges for it.

The sizes are estimates of the memory an entry holds beyond its value,
measured with tracemalloc on CPython 3.11 and rounded up.
"""

from __future__ import annotations

from sys import getsizeof
from typing import Any

__all__ = [
    "ENTRY_OVERHEAD",
    "STAGED",
    "STAGE_LIMIT",
    "TAG_OVERHEAD",
    "TTL_OVERHEAD",
    "LocalEntry",
    "NullListener",
    "charge",
]

#: Bytes charged per entry beyond its key and value: the LocalEntry object,
#: its slots in the entry dict and in the policy's queue, and the pattern
#: index's slot (measured with tracemalloc on CPython 3.11, rounded up).
ENTRY_OVERHEAD = 520
#: Bytes charged more per entry with a TTL: its deadline floats and its items
#: in the deadline heap (the live one, and up to one of an evicted entry's
#: until the heap is compacted).
TTL_OVERHEAD = 250
#: Bytes charged per tag of an entry (its slot in the tag's key set).
TAG_OVERHEAD = 64
#: Promoted copies that may wait to be sized and admitted (``LocalStore.stage``).
STAGE_LIMIT = 32
STAGED = -1  # LocalEntry.queue of a staged entry: not in the policy yet


def charge(key: str, expires: bool, tags: frozenset[str]) -> int:
    """Return the bytes an entry costs beyond its value's own estimate."""
    # sys.getsizeof costs ~200 ns: an ASCII str is a 49-byte header + 1 a char.
    size = (49 + len(key) if key.isascii() else getsizeof(key)) + ENTRY_OVERHEAD
    if expires:
        size += TTL_OVERHEAD
    if tags:
        size += TAG_OVERHEAD * len(tags)
    return size


class LocalEntry:
    """One stored value with its deadlines, size and tags.

    ``expires_at`` is the *fresh* deadline the hit path checks; ``stale_until``
    (never earlier) is when the entry is really gone. Between the two it may be
    served by ``get_or_load`` while one background refresh runs
    (stale-while-revalidate, early refresh).
    """

    __slots__ = (
        "expires_at",
        "freq",
        "key",
        "queue",
        "size",
        "stale_until",
        "tags",
        "value",
        "visited",
    )

    def __init__(
        self,
        key: str,
        value: Any,
        expires_at: float,
        size: int,
        tags: frozenset[str],
        stale_until: float | None = None,
    ) -> None:
        self.key = key
        self.value = value
        self.expires_at = expires_at
        self.stale_until = expires_at if stale_until is None else stale_until
        self.size = size
        self.tags = tags
        self.visited = False
        self.queue = 0  # the policy's queue and the key's estimated frequency
        self.freq = 0  # (both kept by the policy under the write lock)


class NullListener:
    """Default event sink until a cache binds the store."""

    def evicted(self, count: int) -> None:
        """Entries were evicted for space."""

    def expired(self, count: int) -> None:
        """Expired entries were purged."""

    def oversize(self) -> None:
        """An entry was too large to store."""
