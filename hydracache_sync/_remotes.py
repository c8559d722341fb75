"""The remote tiers in read order: reading through them and promoting their hits.

A cache holds its remote tiers (shared, then durable) as a tuple of
:class:`Remote`. :class:`RemoteReads` reads a key (or many) through them,
slowest last, and :class:`Promotion` copies a hit into the faster tiers,
bounded by their TTLs, unless an invalidation came in meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from . import _stats as S
from ._framing import Found, Framing
from ._placement import Tier, TierTTLs
from ._resilience import TierGuard
from ._stats import Counters, Timings
from .errors import ConfigError
from .tiers.base import (
    Broadcaster,
    Deferred,
    Locking,
    RemoteTier,
    StoreItem,
    Versioned,
)
from .tiers.local import LocalStore

__all__ = [
    "Capabilities",
    "Promotion",
    "Remote",
    "RemoteReads",
    "bounded",
    "make_remotes",
]


class Remote(NamedTuple):
    """One configured remote tier, its error guard and its copy bound."""

    role: Tier
    store: RemoteTier
    guard: TierGuard
    bound: float | None  # TTL bound of copies placed here
    hit_counter: int


def bounded(ttl: float | None, bound: float | None) -> float | None:
    """Return ``ttl`` capped at ``bound`` (``None`` means no expiry / no bound)."""
    if bound is None:
        return ttl
    return bound if ttl is None else min(ttl, bound)


def make_remotes(
    shared: object,
    durable: object,
    *,
    strict: bool,
    counters: Counters,
    timings: Timings,
    cooldown: float,
    warn_interval: float,
    ttls: TierTTLs,
) -> tuple[Remote, ...]:
    """Check the remote tier arguments and guard each one.

    Raises:
        ConfigError: ``shared`` or ``durable`` is not a tier.
    """
    remotes: list[Remote] = []
    for role, store, counter in (
        (Tier.SHARED, shared, S.SHARED_HITS),
        (Tier.DURABLE, durable, S.DURABLE_HITS),
    ):
        if store is None:
            continue
        if not isinstance(store, RemoteTier):
            raise ConfigError(f"{role.value}= must be a tier, not {store!r}")
        if strict and isinstance(store, Deferred):
            store.ensure_ready()  # a server down at start-up fails here, strictly
        guard = TierGuard(
            f"{role.value}:{store.name}",
            strict=strict,
            counters=counters,
            timings=timings,
            cooldown=cooldown,
            warn_interval=warn_interval,
        )
        remotes.append(Remote(role, store, guard, ttls.bound(role), counter))
    return tuple(remotes)


class Capabilities(NamedTuple):
    """The shared tier's optional capabilities, probed once at construction."""

    broadcast: tuple[Remote, Broadcaster] | None
    versioned: tuple[Remote, Versioned] | None
    locking: tuple[Remote, Locking] | None

    @classmethod
    def probe(cls, remotes: Sequence[Remote]) -> Capabilities:
        """Return what the shared tier (if any) offers beyond the tier contract."""
        shared = next((r for r in remotes if r.role is Tier.SHARED), None)
        if shared is None:
            return cls(None, None, None)
        store: object = shared.store
        return cls(
            (shared, store) if isinstance(store, Broadcaster) else None,
            (shared, store) if isinstance(store, Versioned) else None,
            (shared, store) if isinstance(store, Locking) else None,
        )


class RemoteReads:
    """Reads through the remote tiers, skipping keys whose writes may be undone.

    Args:
        remotes: The remote tiers, fastest first.
        framing: Decodes what a tier returns (a bad payload is a counted miss).
        counters: Where hits are counted.
        unsettled: Tells whether a key's remote copy may be an overtaken write
            about to be undone (such keys are not read remotely).
    """

    __slots__ = ("_counters", "_framing", "_remotes", "_unsettled")

    def __init__(
        self,
        remotes: tuple[Remote, ...],
        framing: Framing,
        counters: Counters,
        unsettled: Callable[[str], bool],
    ) -> None:
        self._remotes = remotes
        self._framing = framing
        self._counters = counters
        self._unsettled = unsettled

    def read(self, key: str, *, count: bool = True) -> Found | None:
        """Return the first usable remote copy of ``key``, or ``None``."""
        if self._unsettled(key):
            return None
        for position, remote in enumerate(self._remotes, 1):
            data = remote.guard.call(remote.store.get, key, default=None)
            if data is None:
                continue
            found = self._framing.decode(
                key, data, trusted=remote.store.trusted, position=position
            )
            if found is not None:
                if count:
                    self._counters.add(remote.hit_counter)
                return found
        return None

    def read_many(
        self,
        missing: Iterable[str],
        promote: Callable[[Sequence[tuple[str, Found]]], None],
    ) -> tuple[dict[str, object], list[str]]:
        """Read ``missing`` keys tier by tier (one ``get_many`` per tier).

        Each tier's hits go to ``promote`` as soon as that tier answered.

        Returns:
            The values found by key, and the keys still missing.
        """
        found: dict[str, object] = {}
        unsettled = self._unsettled
        pending = list(missing)
        held = [key for key in pending if unsettled(key)]
        if held:
            skip = set(held)
            pending = [key for key in pending if key not in skip]
        decode = self._framing.decode
        for position, remote in enumerate(self._remotes, 1):
            if not pending:
                break
            datas = remote.guard.call(remote.store.get_many, pending, default=None)
            if datas is None:  # the tier failed: every key is still missing
                continue
            trusted = remote.store.trusted
            still: list[str] = []
            hits: list[tuple[str, Found]] = []
            for key, data in zip(pending, datas, strict=True):
                hit = (
                    None
                    if data is None
                    else decode(key, data, trusted=trusted, position=position)
                )
                if hit is None:
                    still.append(key)
                else:
                    hits.append((key, hit))
                    found[key] = hit.value
            if hits:
                self._counters.add(remote.hit_counter, len(hits))
                promote(hits)
            pending = still
        return found, pending + held


class Promotion:
    """Copies remote hits into the faster tiers, bounded by their TTLs.

    Args:
        remotes: The remote tiers, fastest first.
        framing: Tells which values a tier may keep as a negative flag.
        store: The local tier.
        lock: The cache's write lock.
        local_bound: TTL bound of local copies of remote entries.
        counters: Where promotions are counted.
        may_copy_locally: Whether a local copy of shared data may be kept now
            (called with the lock held).
    """

    __slots__ = (
        "_counters",
        "_framing",
        "_local_bound",
        "_lock",
        "_may_copy_locally",
        "_remotes",
        "_store",
    )

    def __init__(
        self,
        remotes: tuple[Remote, ...],
        framing: Framing,
        store: LocalStore,
        lock: threading.RLock,
        local_bound: float | None,
        counters: Counters,
        may_copy_locally: Callable[[], bool],
    ) -> None:
        self._remotes = remotes
        self._framing = framing
        self._store = store
        self._lock = lock
        self._local_bound = local_bound
        self._counters = counters
        self._may_copy_locally = may_copy_locally

    def promote(
        self,
        key: str,
        found: Found,
        still_valid: Callable[[], bool],
        grace: float = 0.0,
    ) -> None:
        """Copy one remote hit into the faster tiers (see :meth:`promote_many`).

        A hit from the first remote tier (nothing faster to copy it into but
        the local tier) costs one short critical section: the local copy is
        staged (``LocalStore.stage``: one dict write, replacing any expired
        copy in place), sized and admitted later with others in one batch.
        """
        if found.position > 1:
            self.promote_many([(key, found)], still_valid, grace)
            return
        ttl = self._local_bound
        if found.expires_at is not None:
            remaining = found.expires_at - self._framing.clock()
            if remaining <= 0:
                return
            if ttl is None or remaining < ttl:
                ttl = remaining
        with self._lock:
            if self._may_copy_locally() and still_valid():
                self._store.stage(key, found.value, ttl, found.tags, grace)
                self._counters.add(S.PROMOTIONS)

    def promote_many(
        self,
        hits: Sequence[tuple[str, Found]],
        still_valid: Callable[[], bool],
        grace: float = 0.0,
    ) -> None:
        """Copy remote hits into the faster tiers, bounded by their TTLs.

        One ``set_many`` per faster remote tier and one lock for every local
        copy. ``still_valid`` is checked under the lock: if an invalidation
        came in meanwhile, nothing is kept (the remote copies are undone).
        """
        now = self._framing.clock()
        live = [
            (key, found, None if found.expires_at is None else found.expires_at - now)
            for key, found in hits
        ]
        live = [item for item in live if item[2] is None or item[2] > 0]
        if not live:
            return
        promoted: list[tuple[Remote, list[str]]] = []
        negative = self._framing.native_negative
        deepest = max(found.position for _, found, _ in live)
        for index, remote in enumerate(self._remotes[: deepest - 1], 1):
            items = [
                StoreItem(
                    key,
                    found.data,
                    bounded(remaining, remote.bound),
                    found.tags,
                    negative(found.value),
                )
                for key, found, remaining in live
                if index < found.position
            ]
            if items:
                remote.guard.call(remote.store.set_many, items, default=None)
                promoted.append((remote, [item.key for item in items]))
        bound = self._local_bound
        with self._lock:
            valid = self._may_copy_locally() and still_valid()
            if valid:
                stage = self._store.stage
                for key, found, remaining in live:
                    ttl = bounded(remaining, bound)
                    stage(key, found.value, ttl, found.tags, grace)
                copies = sum(len(keys) for _, keys in promoted)
                self._counters.add(S.PROMOTIONS, len(live) + copies)
        if not valid:
            for remote, keys in promoted:
                remote.guard.call(remote.store.delete_many, keys, default=0)
