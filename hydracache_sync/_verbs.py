"""The read-modify-write verbs of HydraCache: add, incr/decr, touch, ttl, delete_many.

Each verb reads the entry from its *base tier* (the tier that holds the
authoritative copy, chosen by ``cost`` as for ``set``), computes, and writes
back with a compare-and-set (:class:`~hydracache_sync.tiers.base.Swapping`):
Redis runs one Lua script (``GET`` + compare + the usual store), Postgres one
``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`` or ``UPDATE ... WHERE
value = old``. A lost race re-reads and retries, so no update is ever lost,
across threads and processes. Values keep their envelope (signature, tags,
expiry): a counter is an ordinary entry whose value is an ``int``, readable by
``get`` in every process. On the local tier (no remote base) the same steps
run under the cache's write lock.

The faster tiers then get the same bounded copy as after ``set``, the slower
ones lose the key (as after ``set``: no older value survives below), and other
processes are told to drop their local copy.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._coherence import DELETE, Invalidation
from ._keys import check_key
from ._options import TTL, CacheOptions, Resolved
from ._placement import Cost
from ._remotes import bounded
from ._stats import INVALIDATIONS
from ._types import UNSET, Unset
from ._writes import remove_below
from .errors import TierError, TierUnavailableError
from .tiers.base import Stored, Swapping

if TYPE_CHECKING:
    from ._coherence import Coherence, LocalDrops
    from ._framing import Framing
    from ._resilience import TierGuard
    from ._singleflight import SingleFlight
    from ._stats import Counters
    from .tiers.base import RemoteTier
    from .tiers.local import LocalStore

__all__ = ["AtomicVerbs"]

#: Compare-and-set attempts before a verb gives up (each loss means another
#: writer succeeded, so this only trips under extreme contention on one key).
MAX_ATTEMPTS = 200
_FAILED: Any = object()
_INF = float("inf")


class _Current(NamedTuple):
    """An entry as a verb sees it."""

    value: Any
    ttl: float | None  # seconds left; None: never expires
    tags: frozenset[str]


class _Write(NamedTuple):
    """What a verb wants stored (``ttl == 0``: remove the entry)."""

    value: Any
    ttl: float | None
    tags: frozenset[str]


Change = Callable[["_Current | None"], "tuple[_Write | None, Any]"]


def _checked_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"incr/decr need an int value; {key!r} holds {type(value).__name__}"
        )
    return value


class AtomicVerbs:
    """Mixed into :class:`~hydracache_sync.HydraCache`; uses its engine state."""

    if TYPE_CHECKING:
        _lock: threading.RLock
        _store: LocalStore
        _remotes: Sequence[Any]
        _framing: Framing
        _flights: SingleFlight
        _counters: Counters
        _base: dict[tuple[Cost, bool], int]
        _now: Callable[[], float]
        _resolve: Callable[..., Resolved]
        _drops: LocalDrops
        _coherence: Coherence

        def _ensure_open(self) -> None: ...

    # -- public verbs ------------------------------------------------------------

    def add(
        self,
        key: str,
        value: Any,
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        negative_ttl: float | Unset | None = UNSET,
        compress: bool | Unset = UNSET,
    ) -> bool:
        """Store ``value`` only if ``key`` is absent (atomic in the base tier).

        Takes the options of :meth:`set`. With ``ttl=0`` nothing is stored, and
        the result still tells whether the key was absent.

        Returns:
            Whether the key was absent (and ``value`` stored).

        Raises:
            CodecError: ``value`` cannot be encoded; nothing is stored.
            InvalidKey: ``key`` is not a usable key.
        """
        opts = self._resolve(options, ttl, tags, cost, negative_ttl, compress)
        entry_ttl = opts.entry_ttl(value)
        self._framing.encode(key, value, opts, envelope=False)  # fail early

        def change(current: _Current | None) -> tuple[_Write | None, bool]:
            if current is not None:
                return None, False
            if entry_ttl == 0:
                return None, True
            return _Write(value, entry_ttl, opts.tags), True

        other = self._base[(opts.cost, not opts.never)]
        if other != opts.base and self._read_current(key, other) is not None:
            return False  # present in the cost's other base tier (see _locate)
        try:
            return bool(self._update(key, opts, opts.base, change))
        except TierError:
            if self._strict(opts.base):
                raise
            return False

    def incr(
        self,
        key: str,
        delta: int = 1,
        *,
        initial: int | None = None,
        ttl: TTL | Unset = UNSET,
        cost: Cost | Unset = UNSET,
    ) -> int:
        """Add ``delta`` to the int stored under ``key``, atomically; return it.

        The entry keeps its remaining TTL and tags. A missing key starts from
        ``initial`` (stored with ``ttl``, else the default TTL), or raises
        ``KeyError`` when ``initial`` is None. Across threads and processes
        no increment is lost (compare-and-set in Redis/Postgres).

        Raises:
            KeyError: ``key`` is missing and ``initial`` is None.
            TypeError: The stored value (or ``delta``) is not an int.
            TierError: The base tier is unavailable (a counter cannot degrade).
        """
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"delta must be an int, not {type(delta).__name__}")
        opts = self._resolve(None, ttl, UNSET, cost, UNSET, UNSET)

        def change(current: _Current | None) -> tuple[_Write | None, int]:
            if current is None:
                if initial is None:
                    raise KeyError(key)
                result = _checked_int(initial, key) + delta
                return _Write(result, opts.ttl, opts.tags), result
            result = _checked_int(current.value, key) + delta
            return _Write(result, current.ttl, current.tags), result

        return int(self._update(key, opts, self._locate(key, opts.cost), change))

    def decr(
        self,
        key: str,
        delta: int = 1,
        *,
        initial: int | None = None,
        ttl: TTL | Unset = UNSET,
        cost: Cost | Unset = UNSET,
    ) -> int:
        """Subtract ``delta``: ``incr(key, -delta, ...)``."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"delta must be an int, not {type(delta).__name__}")
        return self.incr(key, -delta, initial=initial, ttl=ttl, cost=cost)

    def touch(self, key: str, ttl: TTL, *, cost: Cost | Unset = UNSET) -> bool:
        """Give ``key`` a new TTL from now (``Expires.NEVER``: none; ``0``: remove).

        Returns:
            Whether the key was present.
        """
        opts = self._resolve(None, ttl, UNSET, cost, UNSET, UNSET)
        new_ttl = opts.ttl

        def change(current: _Current | None) -> tuple[_Write | None, bool]:
            if current is None:
                return None, False
            return _Write(current.value, new_ttl, current.tags), True

        position = self._locate(key, opts.cost)
        try:
            return bool(self._update(key, opts, position, change))
        except TierError:
            if self._strict(position):
                raise
            return False

    def ttl(self, key: str, *, cost: Cost | Unset = UNSET) -> float | None:
        """Return the seconds ``key`` has left; ``None`` when it never expires.

        Raises:
            KeyError: ``key`` is missing (or expired).
        """
        opts = self._resolve(None, UNSET, UNSET, cost, UNSET, UNSET)
        current = self._read_current(key, self._locate(key, opts.cost))
        if current is None:
            raise KeyError(key)
        return current.ttl

    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove several keys from every tier (one round trip per tier).

        Returns:
            How many were present (in the tier that held the most).
        """
        self._ensure_open()
        unique = list(dict.fromkeys(check_key(key) for key in keys))
        if not unique:
            return 0
        with self._lock:
            removed = sum(self._drops.drop(Invalidation(DELETE, key)) for key in unique)
        for remote in self._remotes:
            store = remote.store
            count = remote.guard.invalidate(
                store.delete_many, unique, key=("tier", "delete_many", *unique)
            )
            removed = max(removed, count)
        if self._remotes:
            with self._lock:  # as in _invalidate: drop copies read meanwhile
                for key in unique:
                    self._drops.drop(Invalidation(DELETE, key))
        for key in unique:
            self._coherence.publish(Invalidation(DELETE, key))
        self._counters.add(INVALIDATIONS, len(unique))
        return removed

    # -- the read-modify-write loop ------------------------------------------------

    def _locate(self, key: str, cost: Cost) -> int:
        """Return the base tier holding ``key``'s authoritative copy.

        Entries stored with ``Expires.NEVER`` live in the durable tier when
        there is one, the others in their cost's tier: when the two differ,
        an entry found in the durable one is updated there (not through the
        bounded copy above it).
        """
        normal, never = self._base[(cost, False)], self._base[(cost, True)]
        if normal != never and self._read_current(key, never) is not None:
            return never
        return normal

    def _strict(self, position: int) -> bool:
        if position == 0:
            return True
        guard: TierGuard = self._remotes[position - 1].guard
        return guard.strict

    def _read_current(self, key: str, position: int) -> _Current | None:
        self._ensure_open()
        check_key(key)
        if position == 0 or not self._remotes:
            entry = self._store.lookup(key)
            if entry is None:
                return None
            left = None if entry.expires_at == _INF else entry.expires_at - self._now()
            return _Current(entry.value, left, entry.tags)
        remote = self._remotes[position - 1]
        raw = remote.guard.call(remote.store.get, key, default=None)
        return None if raw is None else self._decode_current(key, raw, position)

    def _decode_current(self, key: str, raw: Stored, position: int) -> _Current | None:
        store: RemoteTier = self._remotes[position - 1].store
        found = self._framing.decode(key, raw, trusted=store.trusted, position=position)
        if found is None:
            return None
        if found.expires_at is None:
            return _Current(found.value, None, found.tags)
        left = found.expires_at - self._framing.clock()
        return None if left <= 0 else _Current(found.value, left, found.tags)

    def _update(self, key: str, opts: Resolved, position: int, change: Change) -> Any:
        """Run ``change`` on the current entry and store its result atomically."""
        self._ensure_open()
        check_key(key)
        if position == 0:
            with self._lock:
                current = self._read_current(key, 0)
                write, result = change(current)
                if write is not None:
                    self._put_local(key, write, opts)
            if write is not None and self._remotes:
                remove_below(self._remotes, 0, (key,))
                self._coherence.notify_write(key)
            return result
        remote = self._remotes[position - 1]
        store = remote.store
        swap = store.swap if isinstance(store, Swapping) else None
        for _ in range(MAX_ATTEMPTS):
            raw = remote.guard.call(store.get, key, default=_FAILED)
            if raw is _FAILED:
                raise _unavailable(remote.guard.name)
            current = None if raw is None else self._decode_current(key, raw, position)
            write, result = change(current)
            if write is None:
                return result
            if write.ttl == 0:
                self._drop(key, remote, position)
                return result
            wopts = dataclasses.replace(
                opts, ttl=write.ttl, tags=write.tags, negative_ttl=None
            )
            _, data = self._framing.encode(key, write.value, wopts, envelope=True)
            assert data is not None  # noqa: S101 - envelope=True always frames
            negative = self._framing.native_negative(write.value)
            if swap is None:  # a tier without compare-and-set: best effort
                stored = remote.guard.call(
                    store.set,
                    key,
                    data,
                    write.ttl,
                    write.tags,
                    negative,
                    default=_FAILED,
                )
                stored = stored is not _FAILED
            else:
                stored = remote.guard.call(
                    swap,
                    key,
                    raw,
                    data,
                    write.ttl,
                    write.tags,
                    negative,
                    default=_FAILED,
                )
            if stored is _FAILED:
                raise _unavailable(remote.guard.name)
            if stored:
                self._after_write(key, write, data, position)
                return result
        raise TierError(
            f"{key!r}: gave up after {MAX_ATTEMPTS} lost compare-and-set races",
            tier=remote.guard.name,
        )

    def _drop(self, key: str, remote: Any, position: int) -> None:
        """Remove ``key`` (a write with ttl 0) from every tier."""
        for index in range(position, 0, -1):
            upper = self._remotes[index - 1]
            upper.guard.call(upper.store.delete, key, default=False)
        if position < len(self._remotes):
            remove_below(self._remotes, position, (key,))
        with self._lock:
            self._drops.drop(Invalidation(DELETE, key))
        self._coherence.publish(Invalidation(DELETE, key))

    def _after_write(self, key: str, write: _Write, data: bytes, position: int) -> None:
        """Put bounded copies in the faster remote tiers, remove the key from
        the slower ones (see ``remove_below``); drop the local copy."""
        if position < len(self._remotes):
            remove_below(self._remotes, position, (key,))
        for index in range(position - 1, 0, -1):
            upper = self._remotes[index - 1]
            upper.guard.call(
                upper.store.set,
                key,
                data,
                bounded(write.ttl, upper.bound),
                write.tags,
                default=None,
            )
        with self._lock:
            # Dropped, not copied: two writers of one process may finish in
            # either order, and a copy could go back in time. Dropping bumps
            # the epoch, so a reader that fetched the old value cannot promote
            # it either; the next read fetches the new one.
            self._drops.drop(Invalidation(DELETE, key))
        self._coherence.notify_write(key)

    def _put_local(self, key: str, write: _Write, opts: Resolved) -> None:
        """Store ``write`` in the local base tier (lock held); ttl 0 removes it."""
        self._drops.unsettle(self._flights.detach_key(key))
        if write.ttl == 0:
            self._drops.drop(Invalidation(DELETE, key))
            return
        size, _ = self._framing.encode(key, write.value, opts, envelope=False)
        self._store.put(key, write.value, size, write.ttl, write.tags)


def _unavailable(tier: str) -> TierError:
    return TierUnavailableError(
        f"{tier} is unavailable; add/incr/decr/touch need their base tier", tier=tier
    )
