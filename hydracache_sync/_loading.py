"""Loading on a miss: single-flight leader/follower, refresh, the distributed lease.

``get_or_load`` answers a local hit inline (in ``HydraCache``); everything
after a local miss is here. One caller per key leads: it reads the slower
tiers, and only when none has the key runs the loader (optionally under the
shared tier's lease lock, so one process loads) and stores the result; the
others wait for its value. A stale entry kept for stale-while-revalidate or
early refresh (XFetch) is served while one background refresh runs on a
small executor.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from . import _stats as S
from ._keys import check_key
from ._options import Resolved
from ._remotes import Promotion, Remote, RemoteReads
from ._singleflight import Flight, SingleFlight
from ._stats import Counters, Timings
from ._writes import Writes
from .errors import CodecError
from .tiers.base import Locking, Versioned
from .tiers.local import LocalEntry, LocalStore

__all__ = ["Loading", "Uncached"]

T = TypeVar("T")
log = logging.getLogger("hydracache_sync")


class Uncached(Generic[T]):
    """Wrap a loader's result to hand it to every caller without storing it.

    ``cache.get_or_load(key, lambda: Uncached(value))`` returns ``value`` (to the
    single-flight waiters too) and caches nothing; unlike raising, it is not a
    load error. ``@hydra_cache(unless=...)`` uses it.

    .. versionadded:: 0.1
    """

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Uncached({self.value!r})"


class Loading:
    """Loads missing keys once per key (and, with a lease, once across processes).

    Args:
        store: The local tier.
        lock: The cache's write lock.
        flights: The cache's in-flight loads.
        counters: Where loads, joins, refreshes and lock waits are counted.
        load_timings: Where the loader's call durations are recorded.
        has_remotes: Whether any remote tier is configured.
        reads: Reads through the remote tiers.
        promotion: Copies remote hits into faster tiers.
        writes: Stores loaded values.
        versioned: The shared tier, when it keeps generations.
        locking: The shared tier, when it offers lease locks.
        lock_lease: Seconds a lease lock is held at most.
        lock_wait: Seconds a process waits for another's lease before loading.
        refresh_workers: Threads of the background refresh executor.
        ensure_open: Raises ``CacheClosedError`` once the cache is closed.
    """

    def __init__(
        self,
        *,
        store: LocalStore,
        lock: threading.RLock,
        flights: SingleFlight,
        counters: Counters,
        load_timings: Timings,
        has_remotes: bool,
        reads: RemoteReads,
        promotion: Promotion,
        writes: Writes,
        versioned: tuple[Remote, Versioned] | None,
        locking: tuple[Remote, Locking] | None,
        lock_lease: float,
        lock_wait: float,
        refresh_workers: int,
        ensure_open: Callable[[], None],
    ) -> None:
        self._store = store
        self._now = store.timer
        self._lock = lock
        self._flights = flights
        self._counters = counters
        self._load_timings = load_timings
        self._has_remotes = has_remotes
        self._reads = reads
        self._promotion = promotion
        self._writes = writes
        self._versioned = versioned
        self._locking = locking
        self._lock_lease = lock_lease
        self._lock_wait = lock_wait
        self._refresh_workers = refresh_workers
        self._ensure_open = ensure_open
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def load(self, key: str, loader: Callable[[], T], opts: Resolved) -> T:
        """Return the value after a local miss: join or lead the key's load."""
        self._ensure_open()
        check_key(key)
        if opts.refreshing:
            entry = self._store.lookup_stale(key)
        else:
            entry = self._store.lookup(key)
        if entry is not None:
            self._counters.add(S.LOCAL_HITS)
            if entry.expires_at <= self._now():
                self._counters.add(S.STALE_HITS)
                self._refresh(key, loader, opts, entry)
            return entry.value  # type: ignore[no-any-return]
        flight, leader = self._flights.join(key, opts.tags)
        if not leader:
            # Served by another caller's load: a join, neither hit nor miss.
            self._counters.add(S.JOINS)
            return flight.future.result()  # type: ignore[no-any-return]
        try:
            return self._lead(key, loader, opts, flight)
        finally:
            self._abandon(flight)

    def _lead(
        self, key: str, loader: Callable[[], T], opts: Resolved, flight: Flight
    ) -> T:
        """Fill ``flight``: from a slower tier when one has the key, else the loader."""
        token: Sequence[object] | None = None
        if self._has_remotes:
            found = self._reads.read(key)  # a hit there counts as that hit
            if found is not None:
                self._promotion.promote(
                    key, found, lambda: not flight.stale, opts.grace
                )
                flight.future.set_result(found.value)
                return found.value  # type: ignore[no-any-return]
        self._counters.add(S.MISSES)  # no tier had it
        if self._has_remotes:
            if self._versioned is not None:
                # Noted before the loader reads its source: an invalidation
                # anywhere from now on makes the shared tier refuse our write.
                remote, versioned = self._versioned
                token = remote.guard.call(
                    versioned.generations, key, opts.tags, default=None
                )
            if opts.dlock and opts.base > 0:
                return self._lead_locked(key, loader, opts, flight, token)
        return self._run_loader(key, loader, opts, flight, token)

    def _run_loader(
        self,
        key: str,
        loader: Callable[[], T],
        opts: Resolved,
        flight: Flight,
        token: Sequence[object] | None,
    ) -> T:
        self._counters.add(S.LOADS)
        started = time.monotonic()
        try:
            value = loader()
        except BaseException as exc:
            self._counters.add(S.LOAD_ERRORS)
            elapsed = time.monotonic() - started
            self._load_timings.record("loader", "load", elapsed, True)
            flight.future.set_exception(exc)
            raise
        elapsed = time.monotonic() - started
        self._load_timings.record("loader", "load", elapsed, False)
        if isinstance(value, Uncached):
            result: T = value.value
            flight.future.set_result(result)
            return result
        try:
            self._writes.write(key, value, opts, flight, elapsed, token)
        except CodecError as exc:
            flight.future.set_exception(exc)
            raise
        flight.future.set_result(value)
        return value

    def _lead_locked(
        self,
        key: str,
        loader: Callable[[], T],
        opts: Resolved,
        flight: Flight,
        token: Sequence[object] | None,
    ) -> T:
        """Load under the shared tier's lease lock, or wait for its holder's value.

        The holder's value lands in the shared tier; waiters poll for it. If the
        holder dies, its lease runs out and a waiter takes the lock. After
        ``lock_wait`` seconds a waiter loads by itself; if the tier fails, too.
        """
        if self._locking is None:  # _lock_choice refuses dlock without a lock tier
            return self._run_loader(key, loader, opts, flight, token)
        remote, locking = self._locking
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self._lock_wait
        pause = 0.005
        while True:
            taken = remote.guard.call(
                locking.acquire_lock, key, owner, self._lock_lease, default=None
            )
            if taken is None:
                break
            if taken:
                try:
                    return self._run_loader(key, loader, opts, flight, token)
                finally:
                    remote.guard.call(locking.release_lock, key, owner, default=False)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
            found = self._reads.read(key, count=False)
            if found is not None:
                self._counters.add(S.LOCK_WAITS)
                self._promotion.promote(
                    key, found, lambda: not flight.stale, opts.grace
                )
                flight.future.set_result(found.value)
                return found.value  # type: ignore[no-any-return]
            if time.monotonic() >= deadline:
                self._counters.add(S.LOCK_TIMEOUTS)
                break
        return self._run_loader(key, loader, opts, flight, token)

    def _abandon(self, flight: Flight) -> None:
        self._flights.finish(flight)
        if not flight.future.done():  # a bug or KeyboardInterrupt path
            flight.future.set_exception(RuntimeError("load abandoned"))

    def _refresh(
        self, key: str, loader: Callable[[], Any], opts: Resolved, entry: LocalEntry
    ) -> None:
        """Start one background refresh of a stale entry (none if one runs)."""
        flight, leader = self._flights.join(key, opts.tags)
        if not leader:
            return
        self._counters.add(S.REFRESHES)
        if self._now() < entry.stale_until - opts.grace:
            self._counters.add(S.EARLY_REFRESHES)
        try:
            self._refresher().submit(self._background, key, loader, opts, flight)
        except RuntimeError:  # the cache was closed meanwhile
            self._abandon(flight)

    def _background(
        self, key: str, loader: Callable[[], Any], opts: Resolved, flight: Flight
    ) -> None:
        try:
            self._lead(key, loader, opts, flight)
        except BaseException:  # already on the flight's future; the stale value stays
            log.debug("hydracache_sync: background refresh of %r failed", key)
        finally:
            self._abandon(flight)

    def _refresher(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("cache closed")
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self._refresh_workers,
                        thread_name_prefix="hydracache-refresh",
                    )
                executor = self._executor
        return executor

    def after_fork(self) -> None:
        """In a forked child: forget the parent's refresh pool (threads gone)."""
        self._executor = None

    def close(self) -> None:
        """Refuse new background refreshes and wait for the running ones."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
