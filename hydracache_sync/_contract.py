"""The cache-level contract suites and the tier stacks they run over."""

from __future__ import annotations

import abc
import itertools
import math
import pathlib
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

from ._cache import HydraCache
from ._envelope import pack
from ._options import Expires
from ._placement import Cost, Tier, TierPlan, TierTTLs
from ._stats import CacheStats
from .errors import InvalidKey
from .tiers.base import RemoteTier
from .tiers.local import LocalStore

__all__ = ["CacheContract", "FakeClock", "SharedCacheContract", "Stack", "TierProbe"]

METACHARACTER_KEYS = [
    "deal:50%_off:1",
    "deal:50%_off:2",
    "deal:50X_off:1",
    "deal:50%Xoff:1",
    "deal:a\\b:1",
    "deal:a[b]?:1",
]
BAD_KEYS = ("t" * 3000, "\u00e9" * 2048, "nul\x00", "lone\udc80")
EXPENSIVE: dict[str, Any] = {"cost": Cost.EXPENSIVE}  # the slowest tier of a stack


class FakeClock:
    """A clock that moves only when told: ``LocalStore(timer=clock)``,
    ``HydraCache(clock=clock)``. Start it at ``time.time()`` when it stands in
    for the wall clock next to a server that keeps real time (Postgres)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


class TierProbe(abc.ABC):
    """One remote tier of a :class:`Stack`: makes its stores and looks inside."""

    role: Tier  # Tier.SHARED or Tier.DURABLE

    @abc.abstractmethod
    def store(self) -> RemoteTier:
        """Return a new store over this tier's data (as another process would)."""

    @abc.abstractmethod
    def seconds_left(self, key: str) -> float | None:
        """Seconds ``key`` has left here: ``None`` absent, ``inf`` no expiry."""

    @abc.abstractmethod
    def plant(self, key: str, data: bytes) -> None:
        """Write raw bytes under ``key``, bypassing the cache (hostile input)."""

    @abc.abstractmethod
    def reads(self) -> int:
        """Read calls (``get``/``get_many``) that reached this tier so far."""


class Stack:
    """The tiers a contract runs over: the local tier plus ``probes``' tiers.

    Every cache it makes shares one :class:`FakeClock` (local timer and wall
    clock, started at the real time) and new stores over the same remote data,
    so two caches behave as two processes. :meth:`close` closes them all.
    """

    def __init__(self, *probes: TierProbe) -> None:
        self.probes = sorted(probes, key=lambda p: p.role is Tier.DURABLE)
        self.tiers = (Tier.LOCAL, *(p.role for p in self.probes))
        self.clock = FakeClock(time.time())
        self._caches: list[HydraCache] = []

    def cache(self, **options: Any) -> HydraCache:
        """Return a new cache over the stack (``options`` go to HydraCache)."""
        options.setdefault("local", LocalStore(timer=self.clock))
        options.update((p.role.value, p.store()) for p in self.probes)
        cache = HydraCache(clock=self.clock, **options)
        self._caches.append(cache)
        deadline = time.monotonic() + 5  # the first subscription, if any
        while cache.broadcasting and not cache.listening:
            assert time.monotonic() < deadline, "the listener never subscribed"
            time.sleep(0.01)
        return cache

    def seconds_left(self, cache: HydraCache, key: str) -> list[float | None]:
        """``key``'s seconds left in each tier, fastest first (see TierProbe)."""
        entry = cache.local_store.lookup(key)
        local = None if entry is None else entry.expires_at - cache.local_store.timer()
        return [local, *(probe.seconds_left(key) for probe in self.probes)]

    def plant(self, key: str, data: bytes) -> None:
        """Write raw bytes under ``key`` in every remote tier."""
        for probe in self.probes:
            probe.plant(key, data)

    def remote_reads(self) -> int:
        """Read calls that reached the remote tiers so far."""
        return sum(probe.reads() for probe in self.probes)

    def close(self) -> None:
        """Close every cache made (and with them their stores), all at once:
        each may wait about one poll for its listener thread."""
        closing = [threading.Thread(target=cache.close) for cache in self._caches]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()


def whole(seconds: list[float | None]) -> list[float | None]:
    """Round seconds left up to whole seconds (``None`` and ``inf`` kept)."""
    return [s if s is None or s == math.inf else math.ceil(s - 1e-6) for s in seconds]


def held(seconds: list[float | None]) -> list[bool]:
    """Which tiers hold the key."""
    return [s is not None for s in seconds]


def _alone(stack: Stack, probe: TierProbe) -> HydraCache:
    """A cache reading ``probe``'s tier only (closed by the caller)."""
    tier: dict[str, Any] = {probe.role.value: probe.store()}
    local = LocalStore(timer=stack.clock)
    return HydraCache(local=local, clock=stack.clock, broadcast=False, **tier)


def remote_hits(stats: CacheStats) -> int:
    """Hits in any remote tier."""
    return stats.shared_hits + stats.durable_hits


class CacheContract:
    """What every tier stack does; needs a ``stack`` fixture returning a Stack."""

    def test_placement_by_cost_and_expiry(self, stack: Stack) -> None:
        """Each cost's base tier keeps the full TTL (none for Expires.NEVER),
        faster tiers a copy bounded by TierTTLs, slower tiers nothing."""
        cache = stack.cache(promotion=TierTTLs(local=5, shared=50))
        bounds = {Tier.LOCAL: 5, Tier.SHARED: 50}
        for cost in Cost:
            for ttl in (100, Expires.NEVER):
                key = f"{cost.name}:{ttl}"
                cache.set(key, {"v": 1}, ttl=ttl, cost=cost)
                base = stack.tiers.index(cache.base_tier(cost, never=ttl != 100))
                expected: list[float | None] = [
                    bounds[tier] if n < base else None
                    for n, tier in enumerate(stack.tiers)
                ]
                expected[base] = 100 if ttl == 100 else math.inf
                assert (key, expected) == (key, whole(stack.seconds_left(cache, key)))
                assert {"v": 1} == cache.get(key)

    def test_default_ttl_and_plan_reach_the_base_tier(self, stack: Stack) -> None:
        """``default_ttl`` applies to entries stored without one, and a TierPlan
        may send CHEAP entries to the slowest tier."""
        slowest = stack.tiers[-1]
        cache = stack.cache(default_ttl=30, plan=TierPlan(cheap=slowest))
        assert slowest == cache.base_tier(Cost.CHEAP)
        cache.set("default", "v", **EXPENSIVE)
        cache.set("cheap", "v", ttl=100, cost=Cost.CHEAP)
        assert 30 == whole(stack.seconds_left(cache, "default"))[-1]
        assert 100 == whole(stack.seconds_left(cache, "cheap"))[-1]

    def test_entry_expires_after_its_ttl(self, stack: Stack) -> None:
        """An entry is served until its ttl has passed, then is a miss in every
        tier (the clock is advanced, nothing sleeps)."""
        cache = stack.cache()
        cache.set("k", "v", ttl=10, **EXPENSIVE)
        stack.clock.advance(9.9)
        assert "v" == cache.get("k")
        stack.clock.advance(0.2)
        assert "miss" == cache.get("k", "miss")
        assert "new" == cache.get_or_load("k", lambda: "new", ttl=10, **EXPENSIVE)

    def test_invalidations_reach_every_tier(self, stack: Stack) -> None:
        """Tag, wildcard, key and clear invalidations empty every tier of what
        they name, and only that; counts are of distinct keys. In a pattern
        ``%``, ``_``, ``\\``, ``[``, ``]`` and ``?`` are literal, ``*`` alone the
        wildcard."""
        cache = stack.cache()
        cache.set("u:1", 1, ttl=60, tags=["users", "user:1"], **EXPENSIVE)
        cache.set("u:2", 2, ttl=Expires.NEVER, tags=["users"])
        for key in METACHARACTER_KEYS:
            cache.set(key, key, ttl=100, tags=["deals"], **EXPENSIVE)
        assert 2 == cache.invalidate_tag("users")
        assert 2 == cache.invalidate("deal:50%_off:*")
        assert 1 == cache.invalidate("deal:a\\b:*")
        assert 1 == cache.invalidate("deal:a[b]?:1")
        assert 0 == cache.invalidate("deal:50_*")
        assert (True, False) == (cache.delete("deal:50X_off:1"), cache.delete("u:1"))
        survivor, gone = "deal:50%Xoff:1", ["u:1", "u:2", *METACHARACTER_KEYS[:3]]
        gone += METACHARACTER_KEYS[4:]
        n = len(stack.tiers)
        assert [True] * n == held(stack.seconds_left(cache, survivor))
        assert [[False] * n] * 7 == [held(stack.seconds_left(cache, k)) for k in gone]
        assert [survivor] + ["gone"] * 7 == [
            cache.get(k, "gone") for k in [survivor, *gone]
        ]
        cache.clear()
        assert [False] * n == held(stack.seconds_left(cache, survivor))
        assert "gone" == cache.get(survivor, "gone")

    def test_none_is_cached_for_negative_ttl(self, stack: Stack) -> None:
        """A loader returning None runs once; the None lives ``negative_ttl``
        (not the entry ttl) in every tier holding it."""
        calls: list[str] = []
        cache = stack.cache()
        kwargs: dict[str, Any] = {"ttl": 600, "negative_ttl": 60, **EXPENSIVE}
        for _ in range(2):
            assert (
                cache.get_or_load("user:404", lambda: calls.append("ran"), **kwargs)
                is None
            )
        assert ["ran"] == calls
        assert [60] * len(stack.tiers) == whole(stack.seconds_left(cache, "user:404"))

    def test_bad_keys_and_tags_never_reach_the_tiers(self, stack: Stack) -> None:
        """Keys and tags over PostgreSQL's index row limit, with NUL or a lone
        surrogate are InvalidKey, even in degrade mode: no tier error. A long
        but valid tag reaches every tier."""
        cache = stack.cache()
        operations: list[Callable[[str], object]] = [
            lambda bad: cache.set(bad, 1, **EXPENSIVE),
            lambda bad: cache.set("k", 1, tags=[bad], **EXPENSIVE),
            cache.delete,
            cache.invalidate_tag,
            cache.get,
        ]
        refused = []
        for bad in BAD_KEYS:
            for operation in operations:
                try:
                    operation(bad)
                except InvalidKey:
                    refused.append(True)
        assert [True] * len(BAD_KEYS) * len(operations) == refused
        cache.set("ok", "v", tags=["t" * 2000], **EXPENSIVE)
        assert [True] * len(stack.tiers) == held(stack.seconds_left(cache, "ok"))
        assert ("v", 0) == (cache.get("ok"), cache.stats().tier_errors)


class SharedCacheContract:
    """What every stack with a remote tier does: two caches are two processes."""

    def test_entries_outlive_the_cache(self, stack: Stack) -> None:
        """Entries with a remote base tier, a cached None included, are read
        back by a brand-new cache after the first was closed, without running
        a loader; CHEAP entries with a ttl were local only."""
        first = stack.cache()
        first.set("config", {"feature": True, "limit": 3}, ttl=Expires.NEVER)
        first.set("scratch", "local only", ttl=60, cost=Cost.CHEAP)
        first.set("report", [1, 2, 3], ttl=60, **EXPENSIVE)
        kwargs: dict[str, Any] = {"ttl": 600, "negative_ttl": 60, **EXPENSIVE}
        assert first.get_or_load("user:404", lambda: None, **kwargs) is None
        first.close()
        second = stack.cache()
        assert {"feature": True, "limit": 3} == second.get("config")
        assert [1, 2, 3] == second.get("report")
        assert "gone" == second.get("scratch", "gone")
        assert second.get_or_load("user:404", lambda: "ran", **kwargs) is None
        stats = second.stats()
        assert (3, 1, 0, 0) == (
            remote_hits(stats),
            stats.misses,
            stats.loads,
            stats.decode_errors,
        )

    def test_promotion_is_bounded(self, stack: Stack) -> None:
        """A remote hit is promoted into local for min(remaining, TierTTLs.local):
        a long-lived entry for TierTTLs.local, one about to expire only for what
        is left, and it is a miss everywhere once that has passed."""
        writer = stack.cache()
        writer.set("long", {"n": 1}, ttl=100, **EXPENSIVE)
        writer.set("short", "v", ttl=10, **EXPENSIVE)
        stack.clock.advance(9.5)
        reader = stack.cache(promotion=TierTTLs(local=2))
        assert [{"n": 1}, "v"] == [reader.get("long"), reader.get("short")]
        left = [stack.seconds_left(reader, k)[0] or 0 for k in ("long", "short")]
        assert [2, 0.5] == [round(seconds, 3) for seconds in left]
        assert {"n": 1} == reader.get("long")
        stats = reader.stats()
        assert (1, 2, 2) == (stats.local_hits, remote_hits(stats), stats.promotions)
        stack.clock.advance(0.6)
        assert ["miss", "miss"] == [c.get("short", "miss") for c in (reader, writer)]

    def test_get_many_promotes_each_hit(self, stack: Stack) -> None:
        """``get_many`` reads the remote tiers in batches and promotes its hits."""
        stack.cache().set_many({"a": 1, "b": 2}, ttl=60, **EXPENSIVE)
        reader = stack.cache()
        assert {"a": 1, "b": 2} == reader.get_many(["a", "b", "c"])
        stats = reader.stats()
        assert (2, 2, 1) == (remote_hits(stats), stats.promotions, stats.misses)
        assert {"a": 1} == reader.get_many(["a"])
        assert 1 == reader.stats().local_hits

    def test_another_cache_reads_remote_entries(self, stack: Stack) -> None:
        """A value set by one cache (long tags included) is read by another from
        a remote tier; each lookup counts once: a remote hit through get_or_load
        is no miss."""
        value = {"name": "Ada"}
        stack.cache().set("k", value, ttl=60, tags=["t" * 2000], **EXPENSIVE)
        reader = stack.cache()
        assert value == reader.get_or_load("k", lambda: {"loaded": "!"})  # remote
        assert value == reader.get_or_load(
            "k", lambda: {"loaded": "!"}
        )  # the promoted copy
        assert 3 == reader.get_or_load("cold", lambda: 3)  # nowhere: loaded
        stats = reader.stats()
        assert (1, 1, 1, 1) == (
            remote_hits(stats),
            stats.local_hits,
            stats.misses,
            stats.loads,
        )
        assert 2 / 3 == stats.hit_ratio

    def test_hot_entry_costs_one_remote_read_per_promotion_ttl(
        self, stack: Stack
    ) -> None:
        """1,000 reads of one remote entry over ten promotion TTLs reach the
        remote tiers once per TierTTLs.local, not once per call."""
        stack.cache().set("hot", "value", ttl=Expires.NEVER)
        reader = stack.cache(promotion=TierTTLs(local=1))
        before = stack.remote_reads()
        values: set[object] = set()
        for _ in range(10):
            values.update(reader.get("hot") for _ in range(100))
            stack.clock.advance(1.5)
        stats = reader.stats()
        assert {"value"} == values
        assert (990, 10, 10) == (
            stats.local_hits,
            remote_hits(stats),
            stack.remote_reads() - before,
        )

    def test_invalidations_reach_another_cache_within_the_promotion_ttl(
        self, stack: Stack
    ) -> None:
        """After a wildcard, tag or key invalidation by one cache, the other
        serves its local copies at most TierTTLs.local longer."""
        ttls = TierTTLs(local=5)
        one, two = stack.cache(promotion=ttls), stack.cache(promotion=ttls)
        tags = {"users:1": "u", "users:1:posts:2": "u", "users:12": "u"}
        tags.update({"team:1": "teams", "team:2": "teams", "keep": "k", "gone": "k"})
        for key, tag in tags.items():
            one.set(key, key, ttl=60, tags=[tag], **EXPENSIVE)
        assert list(tags) == [two.get(key) for key in tags]
        assert 3 == one.invalidate("users:1*")
        assert 2 == two.invalidate_tag("teams")
        assert one.delete("gone") is True
        stack.clock.advance(5.1)
        expected = ["gone"] * 5 + ["keep", "gone"]
        seen = [[cache.get(key, "gone") for key in tags] for cache in (one, two)]
        assert [expected, expected] == seen

    def test_a_write_leaves_no_older_value_in_any_tier(self, stack: Stack) -> None:
        """Whatever tier the old value lived in (Expires.NEVER, EXPENSIVE,
        MODERATE), a write of any cost (set, a cached None, set_many, add,
        incr) leaves each remote tier holding nothing or the value the writer
        now reads: one stored in a faster base tier removes the key from the
        slower ones, so no process reads the old value."""
        writes: dict[str, Callable[[HydraCache, str, Cost], object]] = {
            "set": lambda c, k, cost: c.set(k, 2, ttl=100, cost=cost),
            "None": lambda c, k, cost: c.set(k, None, ttl=100, cost=cost),
            "set_many": lambda c, k, cost: c.set_many({k: 2}, ttl=100, cost=cost),
            "add": lambda c, k, cost: c.add(k, 2, ttl=100, cost=cost),
            "incr": lambda c, k, cost: c.incr(k, initial=1, ttl=100, cost=cost),
        }
        olds: dict[str, dict[str, Any]] = {
            "never": {"ttl": Expires.NEVER},
            "expensive": {"ttl": 1000, **EXPENSIVE},
            "moderate": {"ttl": 1000, "cost": Cost.MODERATE},
        }
        writer = stack.cache()
        alone = [_alone(stack, probe) for probe in stack.probes]
        seen = []
        for (verb, write), (old, placed), cost in itertools.product(
            writes.items(), olds.items(), Cost
        ):
            key = f"{verb}:{old}:{cost.name}"
            writer.set(key, 10, **placed)
            write(writer, key, cost)
            current = writer.get(key, "absent")
            for reader in alone:
                reader.local_store.clear()
            values = [reader.get(key, "absent") for reader in alone]
            seen.append((key, [v for v in values if v not in ("absent", current)]))
        for reader in alone:
            reader.close()
        stale = [(key, values) for key, values in seen if values]
        assert [] == stale, stale

    def test_secret_mismatch_is_a_miss(self, stack: Stack) -> None:
        """With ``secret=``, entries signed with another secret (or none) are
        misses, one decode error per remote tier holding them."""
        alpha = "alpha" * 4
        stack.cache(secret=alpha).set("k", "v", ttl=60, **EXPENSIVE)
        assert "v" == stack.cache(secret=alpha).get("k")
        for other in (stack.cache(secret="beta" * 4), stack.cache()):
            assert "miss" == other.get("k", "miss")
            assert len(stack.probes) == other.stats().decode_errors

    def test_untrusted_bytes_are_a_counted_miss(
        self, stack: Stack, tmp_path: pathlib.Path
    ) -> None:
        """Garbage, truncated or foreign bytes and pickles (raw or inside a
        well-framed envelope) planted in every remote tier are misses, one
        decode error per tier, and no code runs; a load replaces them."""
        marker = tmp_path / "pwned"
        planted = {
            "garbage": b"\xc8\x01garbage",
            "truncated": b"\xc8\x01",
            "foreign": b"\x00\x01not an envelope",
            "pickled": _exploit(marker),
            "enveloped": pack(
                "enveloped", _exploit(marker), flags=0, expires_at=None, tags=()
            ),
        }
        for key, data in planted.items():
            stack.plant(key, data)
        cache = stack.cache()
        assert ["miss"] * len(planted) == [cache.get(key, "miss") for key in planted]
        assert not marker.exists()
        stats = cache.stats()
        assert (len(planted) * len(stack.probes), 0) == (
            stats.decode_errors,
            remote_hits(stats),
        )
        assert "fresh" == cache.get_or_load(
            "garbage", lambda: "fresh", ttl=60, **EXPENSIVE
        )
        assert "fresh" == stack.cache().get("garbage")


def _exploit(marker: pathlib.Path) -> bytes:
    """A pickle whose loading creates ``marker`` (proved on a control file)."""

    class Exploit:
        def __init__(self, path: pathlib.Path) -> None:
            self.path = path

        def __reduce__(self) -> tuple[Any, tuple[pathlib.Path]]:
            return (pathlib.Path.touch, (self.path,))

    control = marker.with_name(marker.name + ".control")
    pickle.loads(pickle.dumps(Exploit(control)))  # noqa: S301 - the control
    assert control.exists()
    return pickle.dumps(Exploit(marker))
