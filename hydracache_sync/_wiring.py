"""Build one cache's helpers from its settings, each with explicit collaborators."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from ._coherence import Coherence, Invalidator, LocalDrops
from ._config import Settings
from ._framing import Framing
from ._lifecycle import ForkReset
from ._loading import Loading
from ._placement import Cost, TierPlan, base_positions
from ._remotes import Capabilities, Promotion, Remote, RemoteReads, make_remotes
from ._singleflight import SingleFlight
from ._stats import Counters, Timings
from ._writes import Writes
from .errors import ConfigError

__all__ = ["Parts", "wire"]


class Parts(NamedTuple):
    """The helpers a cache delegates to, built once (internal)."""

    remotes: tuple[Remote, ...]
    base: dict[tuple[Cost, bool], int]  # (cost, never) -> base tier position
    can: Capabilities
    drops: LocalDrops
    coherence: Coherence
    reads: RemoteReads
    promotion: Promotion
    writes: Writes
    loading: Loading
    invalidator: Invalidator
    fork_reset: ForkReset


def wire(
    cfg: Settings,
    *,
    shared: object,
    durable: object,
    plan: TierPlan | None,
    lock: threading.RLock,
    counters: Counters,
    timings: Timings,
    load_timings: Timings,
    framing: Framing,
    flights: SingleFlight,
    delete: Callable[[str], object],
    ensure_open: Callable[[], None],
) -> Parts:
    """Check the tiers and build the helpers (the listener is not started yet).

    Args:
        cfg: The validated scalar options.
        shared: The ``shared=`` argument.
        durable: The ``durable=`` argument.
        plan: The ``plan=`` argument.
        lock: The cache's write lock.
        counters: The cache's counters.
        timings: The cache's tier latency timings.
        load_timings: The cache's loader call timings.
        framing: The cache's value framing.
        flights: The cache's in-flight loads.
        delete: The cache's ``delete`` (a store with ``ttl=0`` deletes).
        ensure_open: Raises ``CacheClosedError`` once the cache is closed.

    Raises:
        ConfigError: A tier argument is not a tier, the plan names a missing
            tier, or ``lock="redis"`` without a shared tier offering locks.
    """
    store = cfg.local
    remotes = make_remotes(
        shared,
        durable,
        strict=cfg.strict,
        counters=counters,
        timings=timings,
        cooldown=cfg.cooldown,
        warn_interval=cfg.warn_interval,
        ttls=cfg.ttls,
    )
    can = Capabilities.probe(remotes)
    if cfg.lock and can.locking is None:
        raise ConfigError("lock='redis' needs a shared tier that offers locks")
    base = base_positions(plan, [r.role for r in remotes])
    drops = LocalDrops(store, flights)
    coherence = Coherence(
        can.broadcast if cfg.broadcast else None, lock, counters, drops.drop
    )
    reads = RemoteReads(remotes, framing, counters, drops.is_unsettled)
    promotion = Promotion(
        remotes,
        framing,
        store,
        lock,
        cfg.ttls.local,
        counters,
        coherence.may_copy_locally,
    )
    writes = Writes(
        store=store,
        lock=lock,
        flights=flights,
        drops=drops,
        remotes=remotes,
        versioned=can.versioned,
        framing=framing,
        local_bound=cfg.ttls.local,
        counters=counters,
        may_copy_locally=coherence.may_copy_locally,
        delete=delete,
        notify_write=coherence.notify_write,
    )
    loading = Loading(
        store=store,
        lock=lock,
        flights=flights,
        counters=counters,
        load_timings=load_timings,
        has_remotes=bool(remotes),
        reads=reads,
        promotion=promotion,
        writes=writes,
        versioned=can.versioned,
        locking=can.locking,
        lock_lease=cfg.lock_lease,
        lock_wait=cfg.lock_wait,
        refresh_workers=cfg.refresh_workers,
        ensure_open=ensure_open,
    )
    invalidator = Invalidator(drops, remotes, lock, coherence, counters)
    fork_reset = ForkReset(
        lock=lock,
        store=store,
        flights=flights,
        drops=drops,
        loading=loading,
        coherence=coherence,
        counters=(counters, timings, load_timings),
    )
    return Parts(
        remotes,
        base,
        can,
        drops,
        coherence,
        reads,
        promotion,
        writes,
        loading,
        invalidator,
        fork_reset,
    )
