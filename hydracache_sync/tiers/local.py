"""The in-process tier: decoded entries read without a lock, bounded by bytes.

Reads are one ``dict`` lookup (atomic in CPython) plus a deadline check against
the store's monotonic ``timer``; a hit sets the entry's ``visited`` bit. Every
mutation (insert, delete, eviction, expiry purge, tag bookkeeping) runs under
the write lock, which the owning cache shares so that invalidations and
single-flight bookkeeping are atomic with the store.

Eviction is W-TinyLFU (``_policy.py``): a small admission window, then a
frequency filter that lets a newcomer in only when it was seen more often
lately than the entry it would displace. A hit only sets the entry's
``visited`` mark; the policy reads the marks under the write lock. Expired
entries are purged first, from a deadline heap, on every write.

Sizes are estimates of the memory an entry holds (``_sizing.py``: the value's
objects, the key, and a fixed ``ENTRY_OVERHEAD`` for the entry, its slots in
the dict, the policy's queue, the deadline heap and the pattern index), so
``max_bytes`` bounds the process memory the tier takes, not an encoded size.

Wildcard invalidation does not scan the whole store when the pattern has a
literal prefix (the text before its first ``*``): keys are indexed by their
*directory* (the text before their last ``:``), and directories form a tree
(each knows its child directories). ``invalidate_pattern("users:42:*")`` visits
only the ``users:42`` subtree; ``"users:4*"`` visits the ``users`` directory's
own keys and its children whose name starts with ``4``. The index is kept
under the write lock by ``put`` (new keys only) and ``_remove``; reads never
touch it. It is built (one pass over the keys) by the first invalidation with
a literal prefix, so a cache that never has one does no index work on writes.
A pattern starting with ``*`` still scans every key.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._sizing import measure
from .._types import UNSET, Unset
from .._units import parse_size
from ..errors import ConfigError
from ._entry import (
    ENTRY_OVERHEAD,
    STAGE_LIMIT,
    STAGED,
    TAG_OVERHEAD,
    TTL_OVERHEAD,
    LocalEntry,
    NullListener,
    charge,
)
from ._policy import Policy
from ._prefixindex import PrefixIndex
from .base import wildcard_regex

__all__ = [
    "ENTRY_OVERHEAD",
    "STAGE_LIMIT",
    "TAG_OVERHEAD",
    "TTL_OVERHEAD",
    "LocalEntry",
    "LocalStore",
]

_INF = float("inf")


class LocalStore:
    """The local tier.

    Args:
        max_bytes: Budget for the estimated memory of all entries (default
            64 MB), an int of bytes or a string such as ``"64MB"``.
        max_entry_size: Entries whose estimated size exceeds this are not
            stored here and are counted as ``oversize_drops`` (default: 1 MB,
            or ``max_bytes`` when smaller).
        timer: The monotonic clock (tests inject a fake one).

    The size of an entry is the ``size`` its writer passes (an estimate of
    the value's memory) plus ``sys.getsizeof(key)``, ``ENTRY_OVERHEAD``,
    ``TTL_OVERHEAD`` when it expires and ``TAG_OVERHEAD`` per tag.
    """

    def __init__(
        self,
        max_bytes: int | str = "64MB",
        max_entry_size: int | str | Unset = UNSET,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = parse_size(max_bytes, name="max_bytes")
        if self.max_bytes <= 0:
            raise ConfigError("max_bytes must be positive")
        if max_entry_size is UNSET:
            self.max_entry_size = min(1 << 20, self.max_bytes)
        else:
            self.max_entry_size = parse_size(max_entry_size, name="max_entry_size")
            if self.max_entry_size > self.max_bytes:
                raise ConfigError(
                    f"max_entry_size ({self.max_entry_size}) exceeds max_bytes "
                    f"({self.max_bytes})"
                )
        self.timer = timer
        self.entries: dict[str, LocalEntry] = {}
        self.lock: threading.RLock = threading.RLock()
        self._policy: Policy[LocalEntry] = Policy(self.max_bytes)
        self._tags: dict[str, set[str]] = {}
        # The pattern index (``_prefixindex.py``), built by the first prefix
        # invalidation and kept from then on: a cache that never invalidates
        # by prefix never pays for it on writes.
        self._prefixes = PrefixIndex()
        # (stale_until, key): the key, not the entry, so that an evicted
        # entry's value is not kept alive by the heap until compaction.
        self._deadlines: list[tuple[float, str]] = []
        self._listener: Any = NullListener()
        self._bound = False
        # Promoted copies readable but not yet sized, indexed or admitted.
        self._staged: list[LocalEntry] = []

    def bind(self, lock: threading.RLock, listener: Any) -> None:
        """Share the owning cache's lock and report events to it (once)."""
        if self._bound:
            raise ConfigError("this LocalStore already belongs to a cache")
        self._bound = True
        self.lock = lock
        self._listener = listener

    def after_fork(self) -> None:
        """In a forked child: drop every entry (invalidations may be missed).

        The parent's lock may be held by a thread the child does not have, so
        nothing here takes it (the cache makes it anew).
        """
        self.entries.clear()
        self._staged.clear()
        self._policy.clear()  # its queues held the parent's entries
        self._tags.clear()
        self._prefixes.clear()
        self._deadlines.clear()

    @property
    def size(self) -> int:
        """The estimated bytes currently held (staged copies settled first)."""
        self.settle()
        return self._policy.weight

    @property
    def policy(self) -> Policy[LocalEntry]:
        """The eviction policy (for tests and benchmarks: queue sizes, sketch)."""
        self.settle()
        return self._policy

    def settle(self) -> None:
        """Size and admit the staged promoted copies now (see :meth:`stage`)."""
        if self._staged:
            with self.lock:
                self._drain()

    def __len__(self) -> int:
        self.settle()
        return len(self.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.entries))

    # -- reads ---------------------------------------------------------------

    def lookup(self, key: str) -> LocalEntry | None:
        """Return the live entry for ``key``, purging it when expired."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        now = self.timer()
        if entry.expires_at > now:
            entry.visited = True
            return entry
        if entry.stale_until <= now:
            self._expire(entry)
        return None

    def peek(self, key: str) -> LocalEntry | None:
        """Return the fresh entry for ``key`` (marked visited), never removing one.

        For a read that goes on to a remote tier: an expired entry is left for
        the promotion to replace in place (no lock here, no index work there).
        """
        entry = self.entries.get(key)
        if entry is not None and entry.expires_at > self.timer():
            entry.visited = True
            return entry
        return None

    def lookup_stale(self, key: str) -> LocalEntry | None:
        """Return the entry for ``key`` while it is fresh *or* stale-but-servable."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.stale_until > self.timer():
            entry.visited = True
            return entry
        self._expire(entry)
        return None

    def _expire(self, entry: LocalEntry) -> None:
        with self.lock:
            if self._staged:
                self._drain()
            if self.entries.get(entry.key) is entry:
                self._remove(entry)
                self._listener.expired(1)

    # -- writes (lock held by the caller or taken here) ----------------------

    def put(
        self,
        key: str,
        value: Any,
        size: int,
        ttl: float | None,
        tags: frozenset[str] = frozenset(),
        grace: float = 0.0,
    ) -> bool:
        """Store ``value``; return False (after dropping any old entry) if oversize.

        ``ttl`` is the fresh lifetime; ``grace`` more seconds keep the entry
        servable as stale (``LocalEntry.stale_until``). Staged copies are
        admitted first; expired entries are purged.
        """
        size += charge(key, ttl is not None, tags)
        with self.lock:
            if self._staged:
                self._drain()
            old = self.entries.get(key)
            if old is not None:
                # An overwrite re-enters through the window, keeping its mark.
                self._remove(old, unindex=False)  # the key stays indexed
            if size > self.max_entry_size:
                if old is not None and self._prefixes.built:
                    self._prefixes.discard(key)
                self._listener.oversize()
                return False
            now = self.timer()
            expires_at = _INF if ttl is None else now + ttl
            stale_until = expires_at + grace
            entry = LocalEntry(key, value, expires_at, size, tags, stale_until)
            if old is not None:
                entry.visited = old.visited
            deadlines = self._deadlines
            if deadlines and deadlines[0][0] <= now:
                self._purge_expired(now)
            self.entries[key] = entry
            evicted = self._policy.add(entry)
            if old is None and self._prefixes.built:
                self._prefixes.add(key)
            for tag in tags:
                self._tags.setdefault(tag, set()).add(key)
            if ttl is not None:
                heapq.heappush(deadlines, (stale_until, key))
                if len(deadlines) > 2 * len(self.entries) + 1024:
                    self._compact_deadlines()
            if evicted:
                self._forget_evicted(evicted, now)
            return True

    def stage(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        tags: frozenset[str] = frozenset(),
        grace: float = 0.0,
    ) -> None:
        """Keep a promoted copy of a remote hit now; size and admit it later.

        The lock must be held by the caller. The copy is readable at once, but
        its sizing (a walk of the value), its indexes and the policy's
        admission and eviction wait for the next write, or for the
        ``STAGE_LIMIT``-th staged copy, and then run for all of them in one
        pass: a remote hit pays one dict write after its round trip, where
        Python code runs slowly (its caches are cold), and the batch runs
        warm. Until then at most ``STAGE_LIMIT`` copies are outside
        ``max_bytes``; ``size``, ``len()`` and ``policy`` settle them first.
        """
        entries = self.entries
        old = entries.get(key)
        if old is not None and old.queue != STAGED:
            # The old copy (often an expired one) leaves the policy now; its
            # key stays in the pattern index for the new copy.
            self._policy.remove(old)
            self._untag(old)
        expires_at = _INF if ttl is None else self.timer() + ttl
        entry = LocalEntry(key, value, expires_at, 0, tags, expires_at + grace)
        entry.queue = STAGED
        if old is not None:
            entry.visited = old.visited
        entries[key] = entry
        staged = self._staged
        staged.append(entry)
        if len(staged) >= STAGE_LIMIT:
            self._drain()

    def delete(self, key: str) -> bool:
        """Remove ``key``; tell whether a live entry was there."""
        with self.lock:
            if self._staged:
                self._drain()
            entry = self.entries.get(key)
            if entry is None:
                return False
            self._remove(entry)
            return entry.expires_at > self.timer()

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag``; return the count."""
        with self.lock:
            if self._staged:
                self._drain()
            keys = self._tags.get(tag)
            if not keys:
                return 0
            doomed = [self.entries[key] for key in list(keys)]
            for entry in doomed:
                self._remove(entry)
            return len(doomed)

    def invalidate_pattern(self, pattern: str) -> int:
        """Remove the keys matching the ``*`` wildcard ``pattern``; return the count.

        ``*`` matches any run of characters (``:`` included); every other
        character is literal. Only keys under the pattern's literal prefix are
        visited (see the module docstring).
        """
        star = pattern.find("*")
        with self.lock:
            if self._staged:
                self._drain()
            if star < 0:  # no wildcard: one literal key
                entry = self.entries.get(pattern)
                if entry is None:
                    return 0
                self._remove(entry)
                return 1
            if star == 0:
                candidates: list[str] = list(self.entries)
            else:
                candidates = self.keys_with_prefix(pattern[:star])
            if star == len(pattern) - 1:  # "prefix*": every candidate matches
                doomed = [self.entries[key] for key in candidates]
            else:
                fullmatch = wildcard_regex(pattern).fullmatch
                entries = self.entries
                doomed = [entries[key] for key in candidates if fullmatch(key)]
            for entry in doomed:
                self._remove(entry)
            return len(doomed)

    def clear(self) -> int:
        """Remove everything; return the count."""
        with self.lock:
            count = len(self.entries)
            self.entries.clear()
            self._staged.clear()
            self._policy.clear()
            self._tags.clear()
            self._prefixes.clear()
            self._deadlines.clear()
            return count

    def purge_expired(self) -> int:
        """Remove every expired entry now; return the count."""
        with self.lock:
            if self._staged:
                self._drain()
            return self._purge_expired(self.timer())

    @property
    def prefix_index(self) -> PrefixIndex:
        """The wildcard index (for tests: ``prefix_index.empty``)."""
        return self._prefixes

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """Return every key starting with ``prefix`` (non-empty), via the index."""
        with self.lock:
            if self._staged:
                self._drain()
            return self._prefixes.keys_with_prefix(prefix, self.entries)

    # -- internals (lock held) -------------------------------------------------

    def _remove(self, entry: LocalEntry, *, unindex: bool = True) -> None:
        self._policy.remove(entry)
        self._forget(entry, unindex=unindex)

    def _forget(self, entry: LocalEntry, *, unindex: bool = True) -> None:
        """Remove an entry the policy no longer holds from the dict and indexes."""
        key = entry.key
        del self.entries[key]
        if unindex and self._prefixes.built:
            self._prefixes.discard(key)
        if entry.tags:
            self._untag(entry)

    def _untag(self, entry: LocalEntry) -> None:
        key = entry.key
        for tag in entry.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]

    def _drain(self) -> None:
        """Size, index and admit every staged copy still current, in one pass."""
        staged, self._staged = self._staged, []
        entries, prefixes = self.entries, self._prefixes
        now = self.timer()
        evicted: list[LocalEntry] = []
        for entry in staged:
            key = entry.key
            if entries.get(key) is not entry:
                continue  # replaced by a later copy (staged too)
            tags = entry.tags
            size = measure(entry.value) + charge(key, entry.expires_at != _INF, tags)
            if size > self.max_entry_size:
                del entries[key]
                if prefixes.built:
                    prefixes.discard(key)
                self._listener.oversize()
                continue
            entry.size = size
            if prefixes.built:
                prefixes.add(key)
            for tag in tags:
                self._tags.setdefault(tag, set()).add(key)
            if entry.expires_at != _INF:
                heapq.heappush(self._deadlines, (entry.stale_until, key))
            evicted.extend(self._policy.add(entry))
        if len(self._deadlines) > 2 * len(entries) + 1024:
            self._compact_deadlines()
        if evicted:
            self._forget_evicted(evicted, now)

    def _purge_expired(self, now: float) -> int:
        deadlines = self._deadlines
        purged = 0
        entries = self.entries
        while deadlines and deadlines[0][0] <= now:
            entry = entries.get(heapq.heappop(deadlines)[1])
            # The key's current entry may be a later one: it goes only if it
            # is past its own deadline too.
            if entry is not None and entry.stale_until <= now:
                self._remove(entry)
                purged += 1
        if purged:
            self._listener.expired(purged)
        return purged

    def _compact_deadlines(self) -> None:
        entries = self.entries
        live = [
            item
            for item in self._deadlines
            if (entry := entries.get(item[1])) is not None
            and entry.stale_until == item[0]
        ]
        heapq.heapify(live)
        self._deadlines = live

    def _forget_evicted(self, victims: Sequence[LocalEntry], now: float) -> None:
        """Drop what the policy evicted, counted as evictions or expirations."""
        evicted = expired = 0
        for entry in victims:
            self._forget(entry)
            if entry.stale_until > now:
                evicted += 1
            else:
                expired += 1
        if evicted:
            self._listener.evicted(evicted)
        if expired:
            self._listener.expired(expired)
