"""The in-process tier: decoded entries read without a lock, bounded by bytes.

Reads are one ``dict`` lookup (atomic in CPython) plus a deadline check against
the store's monotonic ``timer``; a hit sets the entry's ``visited`` bit. Every
mutation (insert, delete, eviction, expiry purge, tag bookkeeping) runs under
the write lock, which the owning cache shares so that invalidations and
single-flight bookkeeping are atomic with the store.

Eviction is CLOCK (second chance) over insertion order, an approximate LRU:
the oldest entry is evicted unless it was read since it was last looked at, in
which case it moves to the back. Expired entries are purged first, from a
deadline heap, on every write.

Wildcard invalidation does not scan the whole store when the pattern has a
literal prefix (the text before its first ``*``): keys are indexed by their
*directory* (the text before their last ``:``), and directories form a tree
(each knows its child directories). ``invalidate_pattern("users:42:*")`` visits
only the ``users:42`` subtree; ``"users:4*"`` visits the ``users`` directory's
own keys and its children whose name starts with ``4``. The index is kept
under the write lock by ``put`` (new keys only) and ``_remove``; reads never
touch it. A pattern starting with ``*`` still scans every key.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .._types import UNSET, Unset
from .._units import parse_size
from ..errors import ConfigError
from .base import wildcard_regex

__all__ = ["LocalEntry", "LocalStore"]

_INF = float("inf")


class LocalEntry:
    """One stored value with its deadlines, size and tags.

    ``expires_at`` is the *fresh* deadline the hit path checks; ``stale_until``
    (never earlier) is when the entry is really gone. Between the two it may be
    served by ``get_or_load`` while one background refresh runs
    (stale-while-revalidate, early refresh).
    """

    __slots__ = ("expires_at", "key", "size", "stale_until", "tags", "value", "visited")

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


class _NullListener:
    """Default event sink until a cache binds the store."""

    def evicted(self, count: int) -> None:
        """Entries were evicted for space."""

    def expired(self, count: int) -> None:
        """Expired entries were purged."""

    def oversize(self) -> None:
        """An entry was too large to store."""


class LocalStore:
    """The local tier.

    Args:
        max_bytes: Budget for the encoded size of all entries (default 64 MB),
            an int of bytes or a string such as ``"64MB"``.
        max_entry_size: Entries whose encoded size exceeds this are not stored
            here and are counted as ``oversize_drops`` (default: 1 MB, or
            ``max_bytes`` when smaller).
        timer: The monotonic clock (tests inject a fake one).

    The size of an entry is ``len(key)`` plus the length of its encoded value.
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
        self.entries: OrderedDict[str, LocalEntry] = OrderedDict()
        self.lock: threading.RLock = threading.RLock()
        self._bytes = 0
        self._tags: dict[str, set[str]] = {}
        # The pattern index (see the module docstring). Directory -> its keys,
        # and directory -> its child directories; a lone member is stored as
        # the bare str (a set only from the second one on), which halves the
        # index for one-key dirs. The root (keys without ':') is ``None``.
        self._dir_keys: dict[str | None, str | set[str]] = {}
        self._dir_children: dict[str | None, str | set[str]] = {}
        self._deadlines: list[tuple[float, int, LocalEntry]] = []
        self._seq = itertools.count()
        self._listener: Any = _NullListener()
        self._bound = False

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
        self._tags.clear()
        self._dir_keys.clear()
        self._dir_children.clear()
        self._deadlines.clear()
        self._bytes = 0

    @property
    def size(self) -> int:
        """The encoded bytes currently held."""
        return self._bytes

    def __len__(self) -> int:
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
        *,
        purge: bool = True,
    ) -> bool:
        """Store ``value``; return False (after dropping any old entry) if oversize.

        ``ttl`` is the fresh lifetime; ``grace`` more seconds keep the entry
        servable as stale (``LocalEntry.stale_until``). ``purge=False`` skips
        the sweep of expired entries (a promotion on the read path leaves it
        to the next write; eviction still makes room).
        """
        size += len(key)
        with self.lock:
            old = self.entries.get(key)
            if old is not None:
                self._remove(old, unindex=False)  # the key stays indexed
            if size > self.max_entry_size:
                if old is not None:
                    self._unindex(key)
                self._listener.oversize()
                return False
            now = self.timer()
            expires_at = _INF if ttl is None else now + ttl
            stale_until = expires_at + grace
            entry = LocalEntry(key, value, expires_at, size, tags, stale_until)
            if purge:
                self._purge_expired(now)
            self._make_room(size, now)
            self.entries[key] = entry
            self._bytes += size
            if old is None:
                self._index(key)
            for tag in tags:
                self._tags.setdefault(tag, set()).add(key)
            if ttl is not None:
                heapq.heappush(self._deadlines, (stale_until, next(self._seq), entry))
                if len(self._deadlines) > 2 * len(self.entries) + 1024:
                    self._compact_deadlines()
            return True

    def delete(self, key: str) -> bool:
        """Remove ``key``; tell whether a live entry was there."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return False
            self._remove(entry)
            return entry.expires_at > self.timer()

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag``; return the count."""
        with self.lock:
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
            if star < 0:  # no wildcard: one literal key
                entry = self.entries.get(pattern)
                if entry is None:
                    return 0
                self._remove(entry)
                return 1
            if star == 0:
                candidates: list[str] = list(self.entries)
            else:
                candidates = self._keys_with_prefix(pattern[:star])
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
            self._tags.clear()
            self._dir_keys.clear()
            self._dir_children.clear()
            self._deadlines.clear()
            self._bytes = 0
            return count

    def purge_expired(self) -> int:
        """Remove every expired entry now; return the count."""
        with self.lock:
            return self._purge_expired(self.timer())

    # -- internals (lock held) -------------------------------------------------

    def _remove(self, entry: LocalEntry, *, unindex: bool = True) -> None:
        del self.entries[entry.key]
        if unindex:
            self._unindex(entry.key)
        self._bytes -= entry.size
        for tag in entry.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(entry.key)
                if not keys:
                    del self._tags[tag]

    # -- the pattern index (lock held) ---------------------------------------------

    def _index(self, key: str) -> None:
        # Inlined (no helper calls): this runs on every set of a new key.
        cut = key.rfind(":")
        directory = key[:cut] if cut >= 0 else None
        members = self._dir_keys.get(directory)
        if members is None:
            self._dir_keys[directory] = key
            if directory is not None and directory not in self._dir_children:
                self._link(directory)
        elif members.__class__ is str:
            self._dir_keys[directory] = {members, key}
        else:
            members.add(key)  # type: ignore[union-attr]

    def _link(self, directory: str | None) -> None:
        """Record a new directory under its parents, up to a known one."""
        while directory is not None:
            cut = directory.rfind(":")
            parent = directory[:cut] if cut >= 0 else None
            known = (
                parent is None
                or parent in self._dir_children
                or parent in self._dir_keys
            )
            _add(self._dir_children, parent, directory)
            if known:
                return
            directory = parent

    def _unindex(self, key: str) -> None:
        # Inlined like _index: runs for every removal (delete, expiry, eviction).
        cut = key.rfind(":")
        directory = key[:cut] if cut >= 0 else None
        members = self._dir_keys.get(directory)
        if members is None:
            return
        if members.__class__ is str:
            if members != key:
                return
        else:
            members.discard(key)  # type: ignore[union-attr]
            if members:
                return
        del self._dir_keys[directory]
        if directory is not None and directory not in self._dir_children:
            self._unlink(directory)

    def _unlink(self, directory: str) -> None:
        """Forget a directory left with no keys and no children, and empty parents."""
        current: str | None = directory
        while current is not None:
            cut = current.rfind(":")
            parent = current[:cut] if cut >= 0 else None
            if not _discard(self._dir_children, parent, current):
                return  # the parent still has other children
            if parent in self._dir_keys:
                return  # the parent still has keys
            current = parent

    def _keys_with_prefix(self, prefix: str) -> list[str]:
        """Return every key starting with ``prefix`` (non-empty), via the index."""
        cut = prefix.rfind(":")
        directory = prefix[:cut] if cut >= 0 else None
        partial = prefix[cut + 1 :]  # the unfinished last segment (may be "")
        found = [
            key for key in _members(self._dir_keys, directory) if key.startswith(prefix)
        ]
        skip = 0 if directory is None else len(directory) + 1
        stack = [
            child
            for child in _members(self._dir_children, directory)
            if child.startswith(partial, skip)
        ]
        while stack:
            current = stack.pop()
            found.extend(_members(self._dir_keys, current))
            stack.extend(_members(self._dir_children, current))
        return found

    def _purge_expired(self, now: float) -> int:
        deadlines = self._deadlines
        purged = 0
        while deadlines and deadlines[0][0] <= now:
            entry = heapq.heappop(deadlines)[2]
            if self.entries.get(entry.key) is entry:
                self._remove(entry)
                purged += 1
        if purged:
            self._listener.expired(purged)
        return purged

    def _compact_deadlines(self) -> None:
        live = [
            item for item in self._deadlines if self.entries.get(item[2].key) is item[2]
        ]
        heapq.heapify(live)
        self._deadlines = live

    def _make_room(self, size: int, now: float) -> None:
        entries = self.entries
        evicted = 0
        while entries and self._bytes + size > self.max_bytes:
            key, entry = next(iter(entries.items()))
            if entry.visited and entry.stale_until > now:
                entry.visited = False
                entries.move_to_end(key)
                continue
            self._remove(entry)
            if entry.stale_until > now:
                evicted += 1
            else:
                self._listener.expired(1)
        if evicted:
            self._listener.evicted(evicted)


# -- str-or-set multimap helpers for the pattern index -------------------------------


def _add(
    mapping: dict[str | None, str | set[str]], name: str | None, member: str
) -> None:
    current = mapping.get(name)
    if current is None:
        mapping[name] = member
    elif isinstance(current, str):
        if current != member:
            mapping[name] = {current, member}
    else:
        current.add(member)


def _discard(
    mapping: dict[str | None, str | set[str]], name: str | None, member: str
) -> bool:
    """Remove ``member``; return True when ``name`` is left with no members."""
    current = mapping.get(name)
    if current is None:
        return False
    if isinstance(current, str):
        if current != member:
            return False
    else:
        current.discard(member)
        if current:
            return False
    del mapping[name]
    return True


def _members(
    mapping: dict[str | None, str | set[str]], name: str | None
) -> Iterable[str]:
    current = mapping.get(name)
    if current is None:
        return ()
    if isinstance(current, str):
        return (current,)
    return current
