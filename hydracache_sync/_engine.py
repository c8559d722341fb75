"""The engine: every public cache operation, over the local and remote tiers.

``HydraCache`` (``_cache.py``) is this engine plus the ways to view it; the
views (``_views.py``) are derived from the operations defined here.

Reads go local -> shared -> durable, writes go through to the base tier, and
invalidations reach every tier and (through ``_coherence``) other processes.
The local hit is answered here, inline; the rest is delegated to one helper
per concern, each built once in ``__init__`` with its collaborators:
``_loading`` (misses, refresh, the lease), ``_writes`` (the write path),
``_remotes`` (remote reads and promotion) and ``_coherence`` (invalidations).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import _stats as S
from ._codec import Codec
from ._coherence import CLEAR, DELETE, PATTERN, TAG, Invalidation
from ._config import Settings
from ._framing import Found, Framing
from ._keys import check_key, check_pattern, check_tag
from ._options import TTL, CacheOptions, Defaults, OptionResolver
from ._placement import Cost, Tier, TierPlan, TierTTLs
from ._singleflight import SingleFlight
from ._stats import CacheStats, Counters, StoreEvents, Timings
from ._types import MISSING, UNSET, Unset
from ._verbs import AtomicVerbs
from ._wiring import wire
from .errors import CacheClosedError
from .tiers.base import RemoteTier
from .tiers.local import LocalEntry, LocalStore

__all__ = ["Engine"]

T = TypeVar("T")
_E = TypeVar("_E", bound="Engine")
_NOT_SETTINGS = frozenset({"self", "shared", "durable", "plan"})
log = logging.getLogger("hydracache_sync")
_LOCAL_HITS = S.LOCAL_HITS
_INF = float("inf")


class Engine(AtomicVerbs):
    """The constructor and operations of ``HydraCache`` (arguments documented there)."""

    def __init__(
        self,
        local: LocalStore | None = None,
        shared: RemoteTier | None = None,
        durable: RemoteTier | None = None,
        *,
        plan: TierPlan | None = None,
        promotion: TierTTLs | None = None,
        default_ttl: TTL = None,
        on_tier_error: Literal["degrade", "raise"] = "degrade",
        codec: Codec | None = None,
        secret: bytes | str | None = None,
        compress: bool = False,
        compress_level: int = 1,
        breaker_cooldown: float = 2.0,
        warn_interval: float = 30.0,
        stale_while_revalidate: float | timedelta | None = None,
        early_refresh: float | None = None,
        refresh_workers: int = 2,
        broadcast: bool = True,
        lock: Literal["redis"] | None = None,
        lock_lease: float = 10.0,
        lock_wait: float | None = None,
        max_decompressed: int | str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        # Scalar options are checked in one place (tiers and plan: in ``wire``).
        options = {k: v for k, v in locals().items() if k not in _NOT_SETTINGS}
        cfg = Settings.check(**options)
        self._store = store = cfg.local
        self._lock = threading.RLock()
        self._counters = counters = Counters()
        self._timings = Timings()
        self._load_timings = Timings()  # the loader's calls, for the histogram
        store.bind(self._lock, StoreEvents(counters))
        # The hit path reads these three bound attributes and nothing else.
        self._entries_get: Callable[[str], LocalEntry | None] = store.entries.get
        self._now = store.timer
        self._hit = counters.hit

        self._framing = Framing(
            cfg.codec,
            counters,
            secret=cfg.secret,
            compress_level=cfg.compress_level,
            max_decompressed=cfg.max_decompressed,
            clock=cfg.clock,
        )
        self._closed = False
        self._flights = SingleFlight(self._lock)
        parts = wire(
            cfg,
            shared=shared,
            durable=durable,
            plan=plan,
            lock=self._lock,
            counters=counters,
            timings=self._timings,
            load_timings=self._load_timings,
            framing=self._framing,
            flights=self._flights,
            delete=self.delete,
            ensure_open=self._ensure_open,
        )
        self._remotes, self._base = parts.remotes, parts.base
        self._drops, self._coherence = parts.drops, parts.coherence
        self._reads, self._promotion = parts.reads, parts.promotion
        self._writes, self._loading = parts.writes, parts.loading
        self._load = parts.loading.load
        self._invalidator, self._fork_reset = parts.invalidator, parts.fork_reset
        self._resolve = OptionResolver(
            Defaults(
                ttl=cfg.default_ttl,
                compress=cfg.compress,
                stale_while_revalidate=cfg.stale_while_revalidate,
                early_refresh=cfg.early_refresh,
                lock=cfg.lock,
                can_lock=parts.can.locking is not None,
                base=self._base,
            )
        ).resolve
        # Last: from here on the listener thread may call back into this cache.
        self._coherence.start()

    # -- reads -----------------------------------------------------------------

    def local_hit(self, key: str) -> Any:
        """Return ``key``'s fresh local value (a counted hit), else ``MISSING``.

        For views, the decorator and integrations: no lock, no I/O; a miss is
        not counted (the caller's fallback counts it). *New in 0.2.*
        """
        try:
            entry = self._entries_get(key)
        except TypeError:
            return MISSING
        if entry is not None and (
            entry.expires_at == _INF or entry.expires_at > self._now()
        ):
            entry.visited = True
            self._hit()
            return entry.value
        return MISSING

    def get(self, key: str, default: Any = None) -> Any:
        """Return the cached value, or ``default`` when missing or expired."""
        # The local hit, written out here, in get_or_load and in local_hit: a
        # shared helper would add a call frame, about a fifth of a hit. One
        # dict read, no lock, no decode (STYLE.md rule 4).
        try:
            entry = self._entries_get(key)
        except TypeError:
            entry = None
        if entry is not None and (
            entry.expires_at == _INF or entry.expires_at > self._now()
        ):
            entry.visited = True
            self._hit()
            return entry.value
        return self._get_slow(key, default)

    def _get_slow(self, key: str, default: Any) -> Any:
        self._ensure_open()
        check_key(key)
        if self._remotes:
            # No lock before the round trip: an expired local copy stays for
            # the promotion to replace in place.
            entry = self._store.peek(key)
            if entry is not None:
                self._counters.add(_LOCAL_HITS)
                return entry.value
            drops = self._drops
            epoch = drops.epoch
            found = self._reads.read(key)
            if found is not None:
                self._promotion.promote(key, found, lambda: drops.epoch == epoch)
                return found.value
        entry = self._store.lookup(key)  # expires a dead copy
        if entry is not None:
            self._counters.add(_LOCAL_HITS)
            return entry.value
        self._counters.add(S.MISSES)
        return default

    def contains(self, key: str) -> bool:
        """Tell whether a usable value is present (expired entries are removed)."""
        self._ensure_open()
        check_key(key)
        if self._store.lookup(key) is not None:
            return True
        return self._reads.read(key, count=False) is not None

    __contains__ = contains
    contains_key = contains

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Return a dict of the keys found (missing keys are absent)."""
        self._ensure_open()
        found: dict[str, Any] = {}
        missing: list[str] = []
        # With remote tiers, an expired local copy stays for the promotion to
        # replace in place (no lock per key before the round trip).
        look = self._store.peek if self._remotes else self._store.lookup
        for key in keys:
            entry = look(check_key(key))
            if entry is not None:
                found[key] = entry.value
            else:
                missing.append(key)
        if found:
            self._counters.add(_LOCAL_HITS, len(found))
        if missing and self._remotes:
            drops = self._drops
            epoch = drops.epoch

            def promote(hits: Sequence[tuple[str, Found]]) -> None:
                self._promotion.promote_many(hits, lambda: drops.epoch == epoch)

            more, missing = self._reads.read_many(missing, promote)
            found.update(more)
        if missing:
            self._counters.add(S.MISSES, len(missing))
        return found

    # -- loads -------------------------------------------------------------------

    if TYPE_CHECKING:

        def get_or_load(
            self,
            key: str,
            loader: Callable[[], T],
            *,
            options: CacheOptions | None = None,
            ttl: TTL | Unset = UNSET,
            tags: Iterable[str] | Unset = UNSET,
            cost: Cost | Unset = UNSET,
            negative_ttl: float | Unset | None = UNSET,
            compress: bool | Unset = UNSET,
            stale_while_revalidate: float | timedelta | Unset | None = UNSET,
            early_refresh: float | Unset | None = UNSET,
            lock: Literal["redis"] | Unset | None = UNSET,
        ) -> T: ...  # documented on the run-time definition below

    else:
        # At run time the options are positional-or-keyword: CPython fills
        # keyword-only defaults from a dict on every call, which measured here
        # as +120 ns on a 500 ns hit. Type checkers see the keyword-only form,
        # and a misplaced positional option fails the CacheOptions check.
        def get_or_load(
            self,
            key,
            loader,
            options=None,
            ttl=UNSET,
            tags=UNSET,
            cost=UNSET,
            negative_ttl=UNSET,
            compress=UNSET,
            stale_while_revalidate=UNSET,
            early_refresh=UNSET,
            lock=UNSET,
        ):
            """Return the cached value, or run ``loader()`` once on a miss and store it.

            Concurrent callers for one missing key share one ``loader`` call; its
            exception reaches all of them and nothing is cached. A ``None`` result
            is cached (negative caching) for ``negative_ttl`` when given.

            With ``stale_while_revalidate=s`` an expired entry is still served for
            ``s`` seconds while one background refresh runs; with
            ``early_refresh=beta`` hot entries are refreshed in the background a
            random time before they expire (XFetch: the earlier, the longer the
            loader took and the larger ``beta``; 1.0 is the usual value).
            ``lock="redis"`` runs the loader once across processes sharing the
            Redis tier (a lease lock; the others wait for its value).
            """
            try:  # the local hit, as in get()
                entry = self._entries_get(key)
            except TypeError:
                entry = None
            if entry is not None and (
                entry.expires_at == _INF or entry.expires_at > self._now()
            ):
                entry.visited = True
                self._hit()
                return entry.value
            opts = self._resolve(
                options,
                ttl,
                tags,
                cost,
                negative_ttl,
                compress,
                stale_while_revalidate,
                early_refresh,
                lock,
            )
            return self._load(key, loader, opts)

    get_or_set = get_or_load
    get_or_insert_with = get_or_load
    try_get_or_insert_with = get_or_load

    # -- writes ------------------------------------------------------------------

    def set(
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
    ) -> None:
        """Store ``value`` under ``key`` in its base tier (and bounded copies above).

        Raises:
            CodecError: ``value`` cannot be encoded; nothing is stored.
            InvalidKey: ``key`` is not a usable key.
        """
        if self._closed:
            self._ensure_open()
        check_key(key)
        opts = self._resolve(options, ttl, tags, cost, negative_ttl, compress)
        if not self._remotes:  # a memory-only cache
            self._writes.write_local(key, value, opts)
            return
        self._writes.write(key, value, opts)
        # Other processes may hold a local copy of the old remote value.
        self._coherence.notify_write(key)

    put = set

    def set_many(
        self,
        mapping: Mapping[str, Any],
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        negative_ttl: float | Unset | None = UNSET,
        compress: bool | Unset = UNSET,
    ) -> None:
        """Store several values; all are encoded first, so a bad one stores none."""
        self._ensure_open()
        opts = self._resolve(options, ttl, tags, cost, negative_ttl, compress)
        self._writes.write_many(mapping, opts)

    # -- invalidation ------------------------------------------------------------

    def _invalidate(self, invalidation: Invalidation) -> int:
        self._ensure_open()
        return self._invalidator.apply(invalidation)

    def delete(self, key: str) -> bool:
        """Remove ``key`` from every tier; tell whether it was present."""
        return bool(self._invalidate(Invalidation(DELETE, check_key(key))))

    remove = delete
    invalidate_key = delete

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag`` in every tier.

        Returns:
            The number removed from the tier that held the most.
        """
        return self._invalidate(Invalidation(TAG, check_tag(tag)))

    def invalidate(self, pattern: str) -> int:
        """Remove every key matching ``pattern`` (``*`` is the only wildcard).

        Returns:
            The number removed from the tier that held the most.
        """
        return self._invalidate(Invalidation(PATTERN, check_pattern(pattern)))

    def clear(self) -> int:
        """Remove everything this cache owns (remote tiers: their prefix only)."""
        return self._invalidate(Invalidation(CLEAR))

    flush = clear

    # -- stats, lifecycle -------------------------------------------------

    @property
    def listening(self) -> bool:
        """Whether invalidations from other processes reach this cache right now."""
        return self._coherence.listening

    @property
    def broadcasting(self) -> bool:
        """Whether this cache publishes invalidations and runs a listener for
        other processes' (a shared tier that can, and ``broadcast=True``)."""
        return self._coherence.broadcasting

    def breaker_states(self) -> dict[str, str]:
        """Each remote tier's breaker by role (``"shared"``, ``"durable"``):
        ``"closed"`` (in use), ``"open"`` (skipped after a failure) or
        ``"half_open"`` (the cooldown is over: the next call probes it)."""
        return {remote.role.value: remote.guard.state for remote in self._remotes}

    @property
    def codec(self) -> Codec:
        """The value codec."""
        return self._framing.codec

    @property
    def local_store(self) -> LocalStore:
        """The local tier."""
        return self._store

    @property
    def tiers(self) -> dict[str, RemoteTier]:
        """The configured remote tiers by role (``"shared"``, ``"durable"``)."""
        return {remote.role.value: remote.store for remote in self._remotes}

    def base_tier(self, cost: Cost = Cost.MODERATE, *, never: bool = False) -> Tier:
        """Return the tier that entries of ``cost`` are stored in."""
        position = self._base[(cost, never)]
        return Tier.LOCAL if position == 0 else self._remotes[position - 1].role

    def stats(self) -> CacheStats:
        """Return an immutable snapshot of the counters."""
        self._store.settle()  # staged promoted copies: evictions counted now
        return self._counters.snapshot(
            self._timings.snapshot(), self._load_timings.row("loader", "load")
        )

    def __len__(self) -> int:
        return len(self._store)

    def close(self) -> None:
        """Close the cache for good: stop background work, close the remote tiers.

        Background refreshes finish first; no thread of this cache outlives
        ``close()``. The local copies are dropped, and every later operation
        raises :class:`~hydracache_sync.errors.CacheClosedError` (``stats()``
        still answers). Closing again does nothing.

        .. versionchanged:: 0.2
           ``close()`` is final; the local tier no longer serves afterwards.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # The hit paths (here, in views) read through this attribute: from
            # now on it refuses, at no cost to an open cache's hits.
            self._entries_get = self._closed_lookup
        self._loading.close()
        self._coherence.stop()
        with self._lock:
            self._store.clear()
        for remote in self._remotes:  # queued invalidations first, then stores
            remote.guard.close()
        for remote in self._remotes:
            remote.store.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (new in 0.2)."""
        return self._closed

    def _ensure_open(self) -> None:
        if self._closed:
            raise CacheClosedError(self._describe())

    def _closed_lookup(self, key: str) -> LocalEntry | None:
        raise CacheClosedError(self._describe())

    def _describe(self, detail: str = "") -> str:
        remotes = (f"{r.role.value}={r.store.name}" for r in self._remotes)
        tiers = ", ".join(["local", *remotes])
        return f"<HydraCache {tiers}{detail or f' at {id(self):#x}'}>"

    def __enter__(self: _E) -> _E:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return self._describe(f", {len(self._store)} local entries")
