"""The write path: removing the key from the tiers below a write's base tier.

What every tier stack does (no tier keeps an older value after a write) is the
contract in ``tests/test_contract.py``; here the round trips it costs and a
slower tier that fails during the removal.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hydracache_sync import Cost, Expires, HydraCache, TierError
from hydracache_sync.testing import MemoryTier


class Trips(MemoryTier):
    """A MemoryTier counting the cache's calls (a batch is one round trip)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.trips: list[str] = []
        self._inside = False

    def _trip(self, op: str, func: Any, *args: Any) -> Any:
        if not self._inside:
            self.trips.append(op)
        inside, self._inside = self._inside, True
        try:
            return func(*args)
        finally:
            self._inside = inside

    def set(self, *args: Any) -> None:
        """Counted ``set``."""
        self._trip("set", super().set, *args)

    def set_many(self, *args: Any) -> None:
        """Counted ``set_many``."""
        self._trip("set_many", super().set_many, *args)

    def delete(self, key: str) -> bool:
        """Counted ``delete``."""
        return bool(self._trip("delete", super().delete, key))

    def delete_many(self, keys: Any) -> int:
        """Counted ``delete_many``."""
        return int(self._trip("delete_many", super().delete_many, keys))


def _tiers() -> tuple[Trips, Trips]:
    return Trips("shared"), Trips("durable")


def test_nothing_below_the_base_costs_nothing_more() -> None:
    """With no tier below the base tier a write is one call to each tier that
    stores it: MODERATE over local+shared, EXPENSIVE over all three."""
    shared, durable = _tiers()
    two = HydraCache(shared=shared)
    two.set("k", 1)
    two.set_many({"a": 1, "b": 2})
    assert ["set", "set_many"] == shared.trips
    shared = Trips("shared")
    three = HydraCache(shared=shared, durable=durable)
    three.set("k", 1, cost=Cost.EXPENSIVE)
    three.set_many({"a": 1, "b": 2}, cost=Cost.EXPENSIVE)
    assert [["set", "set_many"]] * 2 == [shared.trips, durable.trips]


def test_one_round_trip_per_slower_tier() -> None:
    """A CHEAP write costs one delete per remote tier, a MODERATE one a delete
    in the durable tier; set_many batches its keys into one call per tier."""
    shared, durable = _tiers()
    cache = HydraCache(shared=shared, durable=durable)
    cache.set("k", 1, cost=Cost.CHEAP)
    cache.set_many({f"k{i}": i for i in range(100)}, cost=Cost.CHEAP)
    assert [["delete", "delete_many"]] * 2 == [shared.trips, durable.trips]
    cache.set_many({f"k{i}": i for i in range(100)})
    assert ["set_many", "delete_many"] == [shared.trips[-1], durable.trips[-1]]
    assert (3, 3) == (len(shared.trips), len(durable.trips))


def test_set_many_with_ttl_zero_removes_the_key_everywhere() -> None:
    """A value stored with ttl 0 by set_many leaves no tier holding the key,
    as with set."""
    shared, durable = _tiers()
    cache = HydraCache(shared=shared, durable=durable)
    cache.set_many({"a": "old", "b": "old"}, ttl=Expires.NEVER)
    cache.set_many({"a": "new", "b": None}, ttl=60, negative_ttl=0)
    assert (["a"], []) == (shared.keys(), durable.keys())
    assert ["new", "miss"] == [cache.get(k, "miss") for k in ("a", "b")]


def test_a_failed_removal_is_replayed_when_the_tier_is_back() -> None:
    """Degrade mode: with the durable tier down, the removal of the old
    Expires.NEVER value under a MODERATE write is counted, queued and
    delivered as soon as the tier answers, with no further call of the
    writer: another process never reads the old value."""
    shared, durable = _tiers()
    writer = HydraCache(shared=shared, durable=durable, breaker_cooldown=0.1)
    writer.set("k", "old", ttl=Expires.NEVER)
    durable.down = True
    writer.set("k", "new", ttl=60)
    assert (1, ["k"]) == (writer.stats().tier_errors, durable.keys())
    durable.down = False
    deadline = time.monotonic() + 5
    while durable.keys() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [] == durable.keys()
    shared.delete("k")  # the new value expired
    assert "miss" == HydraCache(shared=shared, durable=durable).get("k", "miss")
    writer.close()


def test_the_writer_replays_the_removal_before_reading_the_tier() -> None:
    """The writer's own next read of the recovered tier delivers the queued
    removal first, so even that read cannot return the old value."""
    shared, durable = _tiers()
    writer = HydraCache(shared=shared, durable=durable, breaker_cooldown=0)
    writer.set("k", "old", cost=Cost.EXPENSIVE)
    durable.down = True
    writer.set("k", "new", cost=Cost.CHEAP)
    durable.down = False
    shared.delete("k")
    writer.local_store.clear()
    assert "miss" == writer.get("k", "miss")
    assert [] == durable.keys()
    writer.close()


def test_strict_mode_raises_when_the_removal_fails() -> None:
    """on_tier_error='raise': a slower tier failing the removal raises."""
    shared, durable = _tiers()
    cache = HydraCache(shared=shared, durable=durable, on_tier_error="raise")
    durable.down = True
    with pytest.raises(TierError):
        cache.set("k", 1)
    with pytest.raises(TierError):
        cache.set_many({"k": 1})
