"""Policy (W-TinyLFU over CLOCK queues), driven through LocalStore.

A read is ``lookup`` (it sets the entry's mark, as the cache's hit path does);
a miss that is filled is ``put``.
"""

from __future__ import annotations

from hydracache_sync.tiers.local import LocalStore


def _store(entries: int) -> tuple[LocalStore, int]:
    """A store that holds ``entries`` entries of value size 100, and that size."""
    probe = LocalStore()
    probe.put("k:000000", 0, 100, None)
    size = probe.size
    return LocalStore(max_bytes=entries * size), size


def _read_through(store: LocalStore, key: str) -> bool:
    if store.lookup(key) is not None:
        return True
    store.put(key, key, 100, None)
    return False


class TestAdmission:
    def test_one_time_scan_does_not_flush_the_popular_entries(self) -> None:
        """Entries read again survive a scan of keys seen once (LRU would lose them)."""
        store, _ = _store(100)
        popular = [f"k:{n:06d}" for n in range(50)]
        for _ in range(4):
            for key in popular:
                _read_through(store, key)
        for n in range(1_000, 3_000):
            _read_through(store, f"k:{n:06d}")
        kept = sum(1 for key in popular if key in store.entries)
        assert kept >= 45

    def test_loop_larger_than_the_cache_keeps_hitting(self) -> None:
        """A loop over 1.2 x capacity: LRU gets 0; this policy most of the cache."""
        store, _ = _store(200)
        keys = [f"k:{n:06d}" for n in range(240)]
        hits = sum(_read_through(store, key) for _ in range(20) for key in keys)
        assert hits / (20 * 240) >= 0.5

    def test_the_newest_entry_survives_its_own_write(self) -> None:
        """A put never evicts the entry it stores, however cold."""
        store, _ = _store(10)
        for n in range(200):
            key = f"k:{n:06d}"
            store.put(key, n, 100, None)
            assert key in store.entries

    def test_a_read_window_entry_never_pushes_out_the_new_one(self) -> None:
        """A read entry's second turn in the window never makes the newcomer leave.

        Found by the state machine: the read entry went behind the new one,
        which then left the window first and lost the admission test.
        """
        store = LocalStore(max_bytes=8_000, max_entry_size=3_000)
        store.put("a", 1, 400, 1.0)
        store.put("b", 1, 250, 1.0)
        store.put("c", 1, 830, 1.0)
        store.put("d", 1, 1_740, 1.0)
        store.lookup("d")  # the window's only entry, now marked
        store.put("e", 1, 1_350, 1.0)  # over budget: something must go
        assert "e" in store.entries
        assert store.size <= store.max_bytes

    def test_entries_bigger_than_the_window_still_fit(self) -> None:
        """An entry larger than the window's 1 % share is admitted like any other."""
        store = LocalStore(max_bytes=100_000, max_entry_size=40_000)
        store.put("big", 1, 30_000, None)
        store.put("small", 1, 10, None)
        assert {"big", "small"} == set(store.entries)

    def test_read_entries_are_promoted_to_protected(self) -> None:
        """A probation entry read since it was last looked at moves to protected."""
        store, _ = _store(50)
        for n in range(50):
            store.put(f"k:{n:06d}", n, 100, None)
        for n in range(10):
            store.lookup(f"k:{n:06d}")
        for n in range(100, 140):
            store.put(f"k:{n:06d}", n, 100, None)
        _, _, protected = store.policy.queue_sizes()
        assert protected >= 10
        assert all(f"k:{n:06d}" in store.entries for n in range(10))
