"""The write path: encode once, check-and-set, write the tiers, undo an overtaken write.

A value is encoded once and the same bytes go to its base tier and to every
faster remote tier (bounded copies), then into the local tier; the key is
removed from every slower tier, whose older value would otherwise be read once
the new one expires (see :func:`remove_below`). A load's write
first asks the shared tier, when it keeps generations, to store only if no
invalidation happened since the load began; a write that an invalidation
overtook anyway is undone.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _stats as S
from ._coherence import DELETE, LocalDrops
from ._framing import Framing
from ._keys import check_key
from ._options import Resolved
from ._remotes import Remote, bounded
from ._singleflight import Flight, SingleFlight
from ._sizing import plain_size
from ._stats import Counters
from .tiers.base import StoreItem, Versioned
from .tiers.local import LocalStore

__all__ = ["Writes", "remove_below"]


def remove_below(remotes: Sequence[Remote], base: int, keys: Sequence[str]) -> None:
    """Remove ``keys`` from the remote tiers slower than position ``base``.

    A write stores its value in its base tier and the faster ones; the tiers
    below may hold an older value (stored with another cost or with
    ``Expires.NEVER``), read as soon as the new copies expire or by a process
    that misses above. One round trip per slower tier. A tier that fails gets
    the delete queued for replay, as an invalidation (coalesced with other
    removals of the key, delivered before this cache's next call to that tier):
    a skipped delete would leave the old value there for good.

    Raises:
        TierError: A slower tier failed in strict mode.
    """
    for remote in remotes[base:]:
        if len(keys) == 1:
            key = keys[0]
            remote.guard.invalidate(remote.store.delete, key, key=("tier", DELETE, key))
        else:
            remote.guard.invalidate(
                remote.store.delete_many, keys, key=("tier", "delete_many", *keys)
            )


class Writes:
    """Stores values in their base tier, the faster tiers above it and locally.

    Args:
        store: The local tier.
        lock: The cache's write lock.
        flights: The cache's in-flight loads.
        drops: The local invalidation state (unsettled keys).
        remotes: The remote tiers, fastest first.
        versioned: The shared tier, when it offers check-and-set writes.
        framing: Encodes values.
        local_bound: TTL bound of local copies of remote entries.
        counters: Where stale discards are counted.
        may_copy_locally: Whether a local copy of shared data may be kept now
            (called with the lock held).
        delete: Removes a key from every tier (a store with ``ttl=0``).
        notify_write: Tells other processes a key was overwritten.
    """

    def __init__(
        self,
        *,
        store: LocalStore,
        lock: threading.RLock,
        flights: SingleFlight,
        drops: LocalDrops,
        remotes: tuple[Remote, ...],
        versioned: tuple[Remote, Versioned] | None,
        framing: Framing,
        local_bound: float | None,
        counters: Counters,
        may_copy_locally: Callable[[], bool],
        delete: Callable[[str], object],
        notify_write: Callable[[str], None],
    ) -> None:
        self._store = store
        self._lock = lock
        self._flights = flights
        self._drops = drops
        self._remotes = remotes
        self._versioned = versioned
        self._framing = framing
        self._local_bound = local_bound
        self._counters = counters
        self._may_copy_locally = may_copy_locally
        self._delete = delete
        self._notify_write = notify_write
        self._plain_unencoded = framing.stores_plain_unencoded

    def write(
        self,
        key: str,
        value: Any,
        opts: Resolved,
        flight: Flight | None = None,
        load_time: float = 0.0,
        token: Sequence[object] | None = None,
    ) -> None:
        """Store one value; a load passes its ``flight`` and generation ``token``.

        Raises:
            CodecError: ``value`` cannot be encoded; nothing is stored.
        """
        size, data = self._framing.encode(
            key, value, opts, envelope=bool(self._remotes)
        )
        ttl = opts.entry_ttl(value)
        if ttl == 0:
            if flight is None:
                self._delete(key)
            return
        base = opts.base
        if flight is not None:
            # Checked and marked in one critical section: an invalidation that
            # detaches this flight from now on knows a remote write may land
            # (see LocalDrops.unsettle); one that came before is seen here.
            with self._lock:
                if flight.stale:
                    self._counters.add(S.STALE_DISCARDS)
                    return
                flight.writing = data is not None and base > 0
        written: list[Remote] = []
        if data is not None and base > 0:
            targets = [self._remotes[p - 1] for p in range(base, 0, -1)]
            if token is not None and self._versioned is not None:
                checked, versioned = self._versioned
                if checked in targets:
                    # The check-and-set write goes first: if another process
                    # invalidated meanwhile, no tier gets the value.
                    targets.remove(checked)
                    is_base = checked is self._remotes[base - 1]
                    bound = ttl if is_base else bounded(ttl, checked.bound)
                    current = checked.guard.call(
                        versioned.set_if_current,
                        key,
                        data,
                        bound,
                        opts.tags,
                        token,
                        default=True,
                    )
                    if not current:
                        self._counters.add(S.STALE_DISCARDS)
                        if flight is not None:
                            with self._lock:
                                self._flights.finish(flight)
                                if flight.stale:
                                    self._drops.settle(key)
                        return
                    written.append(checked)
            for remote in targets:
                is_base = remote is self._remotes[base - 1]
                remote_ttl = ttl if is_base else bounded(ttl, remote.bound)
                remote.guard.call(
                    remote.store.set,
                    key,
                    data,
                    remote_ttl,
                    opts.tags,
                    self._framing.native_negative(value),
                    default=None,
                )
                written.append(remote)
        if base < len(self._remotes):
            remove_below(self._remotes, base, (key,))
        local_ttl = ttl if base == 0 else bounded(ttl, self._local_bound)
        grace = opts.grace
        if opts.early is not None and local_ttl is not None and load_time > 0:
            # XFetch, drawn once per stored copy: the fresh deadline comes a
            # random, exponentially distributed time (mean load_time * beta)
            # early; until the real deadline the value is served while one
            # background refresh runs.
            early = load_time * opts.early * -math.log(1.0 - random.random())
            fresh = max(0.0, local_ttl - early)
            grace += local_ttl - fresh
            local_ttl = fresh
        with self._lock:
            if flight is not None and flight.stale:
                self._counters.add(S.STALE_DISCARDS)
                stale = True
            else:
                stale = False
                if flight is None:
                    self._drops.unsettle(self._flights.detach_key(key))
                else:
                    self._flights.finish(flight)
                if base == 0 or self._may_copy_locally():
                    self._store.put(key, value, size, local_ttl, opts.tags, grace)
                else:
                    self._store.delete(key)
        if stale and flight is not None and flight.writing:
            # An invalidation overtook our remote write: undo it, then let readers
            # of this key use the remote tiers again.
            for remote in written:
                remote.guard.call(remote.store.delete, key, default=False)
            with self._lock:
                self._drops.settle(key)

    def write_local(self, key: str, value: Any, opts: Resolved) -> None:
        """Store one value in a cache without remote tiers (memory-only).

        What :meth:`write` does there, without its remote and load branches:
        a plain value is sized, not encoded; an in-flight load of the key is
        still detached (its result is stale now).

        Raises:
            CodecError: ``value`` cannot be encoded; nothing is stored.
        """
        if (
            value is None
            or not self._plain_unencoded
            or (size := plain_size(value)) < 0
        ):
            size = self._framing.encode(key, value, opts, envelope=False)[0]
        ttl = opts.entry_ttl(value)
        if ttl == 0:
            self._delete(key)
            return
        with self._lock:
            flight = self._flights.detach_key(key)
            if flight is not None:
                self._drops.unsettle(flight)
            self._store.put(key, value, size, ttl, opts.tags, opts.grace)

    def write_many(self, mapping: Mapping[str, Any], opts: Resolved) -> None:
        """Store several values; all are encoded first, so a bad one stores none.

        Raises:
            CodecError: A value cannot be encoded; nothing is stored.
            InvalidKey: A key is not usable; nothing is stored.
        """
        prepared = [
            (
                check_key(k),
                v,
                *self._framing.encode(k, v, opts, envelope=bool(self._remotes)),
            )
            for k, v in mapping.items()
        ]
        base = opts.base
        # A value whose ttl is 0 removes its key from every tier, as in write().
        gone = [key for key, value, *_ in prepared if opts.entry_ttl(value) == 0]
        for position in range(base, 0, -1):
            remote = self._remotes[position - 1]
            items = []
            for key, value, _, data in prepared:
                entry_ttl = opts.entry_ttl(value)
                if entry_ttl == 0 or data is None:
                    continue
                capped = (
                    entry_ttl if position == base else bounded(entry_ttl, remote.bound)
                )
                negative = self._framing.native_negative(value)
                items.append(StoreItem(key, data, capped, opts.tags, negative))
            if items:
                remote.guard.call(remote.store.set_many, items, default=None)
        if gone and base > 0:
            remove_below(self._remotes[:base], 0, gone)
        if base < len(self._remotes) and prepared:
            remove_below(self._remotes, base, [key for key, *_ in prepared])
        with self._lock:
            for key, value, size, _ in prepared:
                entry_ttl = opts.entry_ttl(value)
                self._drops.unsettle(self._flights.detach_key(key))
                if entry_ttl == 0:
                    self._store.delete(key)
                    continue
                local_ttl = (
                    entry_ttl if base == 0 else bounded(entry_ttl, self._local_bound)
                )
                if base == 0 or self._may_copy_locally():
                    self._store.put(key, value, size, local_ttl, opts.tags)
                else:
                    self._store.delete(key)
        if self._remotes:  # the old value may be copied in other processes
            for key, *_ in prepared:
                self._notify_write(key)
