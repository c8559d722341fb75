"""LocalStore: the byte bound, exact event counts, TTL purge and memory held.

The policy's own behaviour (admission, scan and loop resistance) is in
``test_policy.py``; here the store is driven as the cache drives it, and its
invariants are checked after every step (hypothesis state machine), under
threads, and against the memory a real process holds (a subprocess).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import threading
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hydracache_sync.testing import FakeClock
from hydracache_sync.tiers.local import ENTRY_OVERHEAD, LocalStore

KEYS = [f"d{n % 3}:k{n}" for n in range(12)]
TAGS = ["t0", "t1", "t2"]


class Events:
    """Counts what the store reports, as the cache's listener does."""

    def __init__(self) -> None:
        self.evicted = 0
        self.expired = 0
        self.oversize = 0


class _Listener:
    def __init__(self, events: Events) -> None:
        self.events = events

    def evicted(self, count: int) -> None:
        self.events.evicted += count

    def expired(self, count: int) -> None:
        self.events.expired += count

    def oversize(self) -> None:
        self.events.oversize += 1


def _bound(store: LocalStore) -> Events:
    events = Events()
    store.bind(threading.RLock(), _Listener(events))
    return events


class StoreMachine(RuleBasedStateMachine):
    """Random puts, reads, deletes, invalidations and time; the books must balance.

    Every entry that went in is either still there, or was removed by an
    operation that said so (overwrite, delete, tag, pattern, clear), or was
    reported as evicted or expired: nothing is lost or counted twice.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.store = LocalStore(max_bytes=8_000, max_entry_size=3_000, timer=self.clock)
        self.events = _bound(self.store)
        self.stored = 0  # puts that stored an entry, and staged copies
        self.removed = 0  # entries removed by overwrites and invalidations
        self.refused = 0  # puts refused as oversize (staged ones are counted later)

    @rule(
        key=st.sampled_from(KEYS),
        size=st.integers(0, 2_600),
        ttl=st.sampled_from([None, 1.0, 5.0]),
        tags=st.frozensets(st.sampled_from(TAGS), max_size=2),
        grace=st.sampled_from([0.0, 2.0]),
    )
    def put(
        self,
        key: str,
        size: int,
        ttl: float | None,
        tags: frozenset[str],
        grace: float,
    ) -> None:
        """Store an entry (an overwrite removes the old one first)."""
        if key in self.store.entries:
            self.removed += 1
        if self.store.put(key, key, size, ttl, tags, grace):
            self.stored += 1
            assert key in self.store.entries  # never evicted by its own put
        else:
            self.refused += 1

    @rule(
        copies=st.lists(
            st.tuples(
                st.sampled_from(KEYS),
                st.sampled_from([0, 1_000, 2_900]),
                st.sampled_from([None, 1.0, 5.0]),
                st.frozensets(st.sampled_from(TAGS), max_size=2),
            ),
            min_size=1,
            max_size=40,
        ),
        then=st.sampled_from(["read", "delete", "tag", "pattern", "purge", "none"]),
    )
    def stage_then(
        self, copies: list[tuple[str, int, float | None, frozenset[str]]], then: str
    ) -> None:
        """Stage promoted copies (unsized until settled), then act on the store."""
        store = self.store
        with store.lock:
            for key, padding, ttl, tags in copies:
                if key in store.entries:
                    self.removed += 1
                store.stage(key, key + "v" * padding, ttl, tags)
                self.stored += 1
                entry = store.entries.get(key)  # readable at once (unless the
                assert entry is None or key == entry.value[: len(key)]  # batch ran)
        key = copies[-1][0]
        if then == "read":
            entry = store.lookup(key)
            assert entry is None or key == entry.value[: len(key)]
        elif then == "delete":
            # The delete settles the staged copies first: what that refused,
            # evicted or expired is not the delete's doing.
            events = self.events
            count = events.oversize + events.evicted + events.expired
            before = len(store.entries)
            store.delete(key)
            settled = events.oversize + events.evicted + events.expired - count
            self.removed += before - len(store.entries) - settled
            assert key not in store.entries
        elif then == "tag":
            self.removed += store.invalidate_tag(TAGS[0])
            assert not [e for e in store.entries.values() if TAGS[0] in e.tags]
        elif then == "pattern":
            self.removed += store.invalidate_pattern("d1:*")
            assert not [key for key in store.entries if key.startswith("d1:")]
        elif then == "purge":
            store.purge_expired()

    @rule(key=st.sampled_from(KEYS), stale=st.booleans())
    def read(self, key: str, stale: bool) -> None:
        """Read (marks the entry; may purge it when expired)."""
        entry = self.store.lookup_stale(key) if stale else self.store.lookup(key)
        if entry is not None:
            assert key == entry.value[: len(key)]

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        """Delete one key."""
        if key in self.store.entries:
            self.removed += 1
        self.store.delete(key)

    @rule(tag=st.sampled_from(TAGS))
    def invalidate_tag(self, tag: str) -> None:
        """Drop a tag's entries."""
        self.removed += self.store.invalidate_tag(tag)

    @rule(pattern=st.sampled_from(["d1:*", "*k1*", "d2:k5", "*"]))
    def invalidate_pattern(self, pattern: str) -> None:
        """Drop a pattern's entries."""
        self.removed += self.store.invalidate_pattern(pattern)

    @rule(seconds=st.sampled_from([0.5, 1.5, 4.0]))
    def advance(self, seconds: float) -> None:
        """Let time pass."""
        self.clock.advance(seconds)

    @rule()
    def purge(self) -> None:
        """Purge expired entries now."""
        self.store.purge_expired()

    @rule()
    def clear(self) -> None:
        """Drop everything."""
        self.removed += self.store.clear()

    @invariant()
    def within_budget(self) -> None:
        """The byte bound is never exceeded, and the books balance."""
        store = self.store
        store.settle()  # staged copies are sized (or refused) first
        assert store.size <= store.max_bytes
        assert sum(e.size for e in store.entries.values()) == store.size
        assert len(store.entries) == sum(store.policy.queue_sizes())
        assert store.size == sum(store.policy.queue_bytes())
        events = self.events
        # A staged copy refused as oversize when it was sized was never stored.
        assert self.stored - (events.oversize - self.refused) == (
            len(store.entries) + self.removed + events.evicted + events.expired
        )

    @invariant()
    def indexes_agree(self) -> None:
        """Tags and the pattern index name exactly the resident keys."""
        store = self.store
        store.settle()
        for tag in TAGS:
            expected = {k for k, e in store.entries.items() if tag in e.tags}
            assert expected == {
                k for k in store.entries if k in set(store._tags.get(tag, ()))
            }
        assert set(store.entries) == set(store.keys_with_prefix("d"))


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=150, stateful_step_count=60)


class TestBudget:
    def test_sizes_are_memory_estimates(self) -> None:
        """An entry is charged its value's size, its key's and the overhead."""
        store = LocalStore()
        store.put("k", 1, 100, None)
        assert 100 + sys.getsizeof("k") + ENTRY_OVERHEAD == store.size

    def test_oversize_is_refused_and_counted(self) -> None:
        """An entry over max_entry_size is not stored and is reported."""
        store = LocalStore(max_bytes=100_000, max_entry_size=2_000)
        events = _bound(store)
        assert not store.put("k", 1, 5_000, None)
        assert (0, 1) == (len(store), events.oversize)

    def test_evicted_values_are_not_kept_alive(self) -> None:
        """The deadline heap holds keys, so an evicted value can be freed."""

        class Blob:
            pass

        store = LocalStore(max_bytes=20_000)
        blob = Blob()
        ref = weakref.ref(blob)
        store.put("first", blob, 1_000, 60.0)
        del blob
        for n in range(200):
            store.put(f"k{n}", n, 1_000, 60.0)
        gc.collect()
        assert "first" not in store.entries
        assert ref() is None


def _in_threads(work: Callable[[int], None], threads: int) -> None:
    """Run ``work(0..threads-1)`` in threads started together; re-raise a failure."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            barrier.wait()
            work(number)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [] == errors


class TestThreads:
    def test_concurrent_writers_and_readers_keep_exact_counts(self) -> None:
        """8 threads writing and reading: every entry is resident or evicted, once."""
        store = LocalStore(max_bytes=200_000)
        events = _bound(store)
        threads, per_thread = 8, 2_000

        def work(number: int) -> None:
            for n in range(per_thread):
                key = f"t{number}:k{n}"
                store.put(key, n, 200, None)
                for back in (n, n // 2, n // 7):
                    entry = store.lookup(f"t{number}:k{back}")
                    assert entry is None or entry.value == back

        _in_threads(work, threads)
        assert threads * per_thread == len(store) + events.evicted
        assert store.size <= store.max_bytes
        assert sum(e.size for e in store.entries.values()) == store.size

    def test_staged_copies_under_threads_keep_exact_counts(self) -> None:
        """Stagers, writers, readers and tag invalidations: the books balance."""
        store = LocalStore(max_bytes=150_000)
        events = _bound(store)
        threads, per_thread = 6, 1_500
        dropped = [0] * threads  # entries each thread's invalidations removed

        def work(number: int) -> None:
            for n in range(per_thread):
                key = f"t{number}:k{n}"
                tags = frozenset({f"g{n % 5}"})
                if number % 2:
                    with store.lock:
                        store.stage(key, [number, n], None, tags)
                else:
                    store.put(key, [number, n], 100, None, tags)
                entry = store.lookup(f"t{number}:k{n // 2}")
                assert entry is None or entry.value == [number, n // 2]
                if n % 97 == 0:
                    dropped[number] += store.invalidate_tag(f"g{number}")

        _in_threads(work, threads)
        store.settle()
        assert threads * per_thread == (
            len(store.entries) + events.evicted + events.expired + sum(dropped)
        )
        assert 0 == events.oversize
        assert store.size <= store.max_bytes
        assert sum(e.size for e in store.entries.values()) == store.size
        assert len(store.entries) == sum(store.policy.queue_sizes())


_FILL = textwrap.dedent(
    """
    import gc, json, sys, tracemalloc
    from hydracache_sync import HydraCache

    kind, traced, budget = sys.argv[1], sys.argv[2] == "traced", int(sys.argv[3])

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def value(i):
        if kind == "int":
            return i
        if kind == "str":
            return "v" + str(i)
        if kind == "nested":
            return {"a": [i, i + 1, {"b": str(i), "c": [1.5, None]}], "d": (i, "x")}
        return [[i], {"k": [i, i]}, [], {}]

    if traced:
        tracemalloc.start()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0] if traced else rss()
    cache = HydraCache.local(max_bytes=budget, default_ttl=300)
    for i in range(budget // 100):
        cache.set("user:%d:item:%d" % (i % 500, i), value(i))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if traced else rss()
    print(json.dumps({"grew": after - before, "entries": len(cache.local_store),
                      "charged": cache.local_store.size}))
    """
)


def _fill(kind: str, mode: str, budget: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _FILL, kind, mode, str(budget)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


class TestMemoryHeld:
    """max_bytes bounds the memory held, not the encoded size (was 37-80x more).

    Each run fills a fresh process with ``budget / 100`` writes (far more than
    fit) of small or nested values.
    """

    @pytest.mark.parametrize("kind", ["int", "str", "nested", "lists"])
    def test_traced_memory_stays_near_max_bytes(self, kind: str) -> None:
        """Python allocations after filling 1 MB: at most 1.5x max_bytes."""
        budget = 1 << 20
        result = _fill(kind, "traced", budget)
        assert result["charged"] <= budget
        assert result["entries"] > 500
        assert result["grew"] <= 1.5 * budget, result

    @pytest.mark.parametrize("kind", ["int", "nested"])
    def test_process_memory_stays_in_tens_of_mb(self, kind: str) -> None:
        """Resident memory after filling 8 MB: at most 32 MB more (was 294-640 MB)."""
        budget = 8 << 20
        result = _fill(kind, "rss", budget)
        assert result["grew"] <= 32 << 20, result
