"""The remote read path: local copies replaced in place, one pass per tier.

A remote hit whose local copy expired costs one critical section: the copy
is left in place before the round trip (no lock, no purge) and the promotion
replaces it. ``get_many`` reads each tier once and decodes in one pass; a
failing tier leaves its keys missing for the next one.
"""

from __future__ import annotations

import pytest

from hydracache_sync import Cost, HydraCache, LocalStore, TierTTLs
from hydracache_sync.testing import FakeClock, MemoryTier
from hydracache_sync.tiers.local import STAGE_LIMIT


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


def reader(shared: MemoryTier, clock: FakeClock, **options: object) -> HydraCache:
    """A cache over ``shared`` whose local copies live 1 s (fake clock)."""
    return HydraCache(
        LocalStore(timer=clock),
        shared=shared,
        broadcast=False,
        promotion=TierTTLs(local=1),
        **options,  # type: ignore[arg-type]
    )


class TestLocalPeek:
    def test_peek_serves_fresh_and_never_removes(self, clock: FakeClock) -> None:
        """peek() returns a fresh entry marked visited; an expired one stays put."""
        store = LocalStore(timer=clock)
        store.put("k", "v", 10, 1.0)
        entry = store.peek("k")
        assert entry is not None
        assert "v" == entry.value
        assert entry.visited
        clock.advance(2)
        assert None is store.peek("k")
        assert ["k"] == list(store.entries)
        assert None is store.lookup("k")  # lookup expires it
        assert [] == list(store.entries)

    def test_stage_defers_sizing_purge_and_admission(self, clock: FakeClock) -> None:
        """A staged copy is readable at once; the next write sizes and admits it."""
        store = LocalStore(timer=clock)
        for n in range(5):
            store.put(f"old{n}", n, 10, 1.0)
        clock.advance(2)
        with store.lock:
            store.stage("new", [1, 2, 3], 1.0)
        assert [1, 2, 3] == store.peek("new").value  # type: ignore[union-attr]
        assert 6 == len(store.entries)  # no purge sweep yet
        assert 0 == store.entries["new"].size  # not sized yet
        store.put("newer", 1, 10, 1.0)
        assert ["new", "newer"] == sorted(store.entries)
        assert store.entries["new"].size > 0

    def test_stage_limit_settles_a_batch(self, clock: FakeClock) -> None:
        """The STAGE_LIMIT-th staged copy sizes and admits the whole batch."""
        store = LocalStore(timer=clock)
        with store.lock:
            for n in range(STAGE_LIMIT - 1):
                store.stage(f"k{n}", n, None)
            assert 0 == store.entries["k0"].size
            store.stage("last", "x", None)
            assert all(entry.size > 0 for entry in store.entries.values())


class TestSingleRead:
    def test_expired_copy_is_replaced_in_place(self, clock: FakeClock) -> None:
        """A shared hit over an expired copy: same key, fresh entry, no expiry count."""
        shared = MemoryTier()
        writer = HydraCache(shared=shared, broadcast=False)
        writer.set("user:1", {"id": 1})
        cache = reader(shared, clock)
        assert {"id": 1} == cache.get("user:1")
        first = cache.local_store.entries["user:1"]
        clock.advance(5)
        assert {"id": 1} == cache.get("user:1")
        second = cache.local_store.entries["user:1"]
        assert first is not second
        assert second.expires_at == clock.now + 1
        stats = cache.stats()
        assert (2, 2, 0, 0) == (
            stats.shared_hits,
            stats.promotions,
            stats.expirations,
            stats.local_hits,
        )

    def test_miss_still_expires_the_dead_copy(self, clock: FakeClock) -> None:
        """No remote copy either: the expired local copy is dropped, a miss counted."""
        shared = MemoryTier()
        cache = reader(shared, clock)
        cache.set("k", 1, ttl=1)
        shared.delete("k")
        clock.advance(5)
        assert None is cache.get("k")
        assert "k" not in cache.local_store.entries
        assert (1, 1) == (cache.stats().misses, cache.stats().expirations)

    def test_invalidation_during_the_read_keeps_no_copy(
        self, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A delete landing between the round trip and the promotion wins."""
        shared = MemoryTier()
        HydraCache(shared=shared, broadcast=False).set("k", "old")
        cache = reader(shared, clock)
        real_get = shared.get

        def get_then_delete(key: str) -> bytes | None:
            data = real_get(key)
            cache.delete(key)  # lands after the GET answered, before promotion
            return data

        monkeypatch.setattr(shared, "get", get_then_delete)
        assert "old" == cache.get("k")  # the read raced the delete: its value...
        assert "k" not in cache.local_store.entries  # ...but no copy kept
        assert 0 == cache.stats().promotions


class TestGetMany:
    def test_one_get_many_per_tier_and_one_promotion_pass(
        self, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """100 keys: one get_many, every hit promoted, expired copies replaced."""
        shared = MemoryTier()
        HydraCache(shared=shared, broadcast=False).set_many(
            {f"k{n}": n for n in range(100)}
        )
        cache = reader(shared, clock)
        keys = [f"k{n}" for n in range(100)]
        assert dict(zip(keys, range(100), strict=True)) == cache.get_many(keys)
        clock.advance(5)
        batches: list[list[str]] = []
        real_get_many = shared.get_many

        def get_many(keys: list[str]) -> list[bytes | None]:
            batches.append(list(keys))
            return real_get_many(keys)

        monkeypatch.setattr(shared, "get_many", get_many)
        assert dict(zip(keys, range(100), strict=True)) == cache.get_many(keys)
        assert [keys] == batches
        stats = cache.stats()
        assert (200, 200, 0) == (stats.shared_hits, stats.promotions, stats.expirations)
        assert sorted(keys) == sorted(cache.local_store.entries)

    def test_failing_first_tier_falls_through_to_the_next(self) -> None:
        """A shared tier that fails: its keys are read from the durable tier."""
        shared, durable = MemoryTier("shared"), MemoryTier("durable")
        HydraCache(durable=durable, broadcast=False).set_many(
            {"a": 1, "b": 2}, cost=Cost.EXPENSIVE
        )
        cache = HydraCache(shared=shared, durable=durable, broadcast=False)
        shared.down = True
        assert {"a": 1, "b": 2} == cache.get_many(["a", "b", "c"])
        stats = cache.stats()
        assert (2, 1) == (stats.durable_hits, stats.misses)
