"""Coherence across processes, with real OS processes and real Redis.

Invalidation broadcast (and its latency bound), a listener cut with CLIENT KILL,
the cross-process check-and-set of loads, and distributed single-flight with a
lease lock (including a holder killed mid-load).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hydracache_sync import HydraCache, TierTTLs
from hydracache_sync._coherence import DELETE, decode, encode

redis = pytest.importorskip("redis")

from hydracache_sync import RedisStore  # noqa: E402

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parent.parent


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh interpreter (line-buffered pipes)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env=env,
    )


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


def expect(proc: subprocess.Popen[str], word: str, timeout: float = 20) -> str:
    """Read lines from ``proc`` until one starts with ``word``; return it."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"child ended before {word!r}: {err[-2000:]}")
        if line.startswith(word):
            return line.strip()
    raise AssertionError(f"no {word!r} from child in {timeout}s")


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    """Poll ``condition()`` until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


@pytest.fixture
def cache_pair(
    redis_url: str, redis_prefix: str
) -> Iterator[tuple[HydraCache, HydraCache]]:
    """Two caches on one Redis prefix (as two workers of an app would be)."""
    first = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix),
        promotion=TierTTLs(local=60),
    )
    second = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix),
        promotion=TierTTLs(local=60),
    )
    yield first, second
    first.close()
    second.close()


def test_messages_round_trip_and_foreign_ones_are_ignored() -> None:
    """The wire format parses back; foreign or truncated bytes are ignored."""
    message = decode(encode(DELETE, "0123456789abcdef", "users:1:é"))
    assert (DELETE, "0123456789abcdef", "users:1:é") == message
    for junk in [b"", b"hello", b"HCI1x0123456789abcdefkey", b"HCI1k012"]:
        assert decode(junk) is None


def test_invalidation_reaches_another_cache(
    cache_pair: tuple[HydraCache, HydraCache],
) -> None:
    """A tag invalidated in one cache drops the other's local copy promptly."""
    first, second = cache_pair
    assert first.listening
    assert second.listening
    first.set("k", "old", tags=["t"])
    # The set itself tells the others to drop an older local copy of "k".
    assert wait_for(lambda: second.stats().remote_invalidations == 1, 2.0)
    assert "old" == second.get("k")
    assert "k" in second.local_store.entries
    first.invalidate_tag("t")
    assert wait_for(lambda: "k" not in second.local_store.entries, 2.0)
    assert second.get("k") is None
    assert 2 == second.stats().remote_invalidations
    assert 0 == first.stats().remote_invalidations, "own messages are skipped"


def test_set_elsewhere_replaces_local_copies(
    cache_pair: tuple[HydraCache, HydraCache],
) -> None:
    """An explicit set in one cache makes the other drop its old local copy."""
    first, second = cache_pair
    first.set("k", 1)
    assert 1 == second.get("k")
    first.set("k", 2)
    assert wait_for(lambda: second.get("k") == 2, 2.0)


def test_load_overlapped_by_another_process_invalidation_is_not_stored(
    redis_url: str, redis_prefix: str
) -> None:
    """The generations check-and-set keeps an overtaken load out of Redis."""
    loader_cache = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix), broadcast=False
    )
    other = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix), broadcast=False
    )
    started, release = threading.Event(), threading.Event()

    def loader() -> str:
        started.set()
        release.wait(5)
        return "loaded-before-invalidation"

    result: list[str] = []
    thread = threading.Thread(
        target=lambda: result.append(loader_cache.get_or_load("k", loader, tags=["t"]))
    )
    thread.start()
    assert started.wait(5)
    other.invalidate_tag("t")  # another process: this cache's flights know nothing
    release.set()
    thread.join(5)
    assert ["loaded-before-invalidation"] == result
    assert 1 == loader_cache.stats().stale_discards
    assert loader_cache.tiers["shared"].get("k") is None
    assert "k" not in loader_cache.local_store.entries
    assert "fresh" == loader_cache.get_or_load("k", lambda: "fresh", tags=["t"])
    assert "fresh" == other.get("k")
    loader_cache.close()
    other.close()


BROADCAST_CHILD = """
import json, sys, time
from hydracache_sync import HydraCache, RedisStore, TierTTLs
url, prefix, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
cache = HydraCache(shared=RedisStore.from_url(url, prefix=prefix),
                   promotion=TierTTLs(local=60))
print("ready", cache.listening, flush=True)
for r in range(rounds):
    sys.stdin.readline()
    old = f"v{r}"
    assert cache.get("k") == old, cache.get("k")
    print("loaded", flush=True)
    while cache.get("k") == old:
        time.sleep(0.0005)
    print("seen", json.dumps(time.time()), flush=True)
cache.close()
"""


def test_invalidation_visibility_across_processes(
    redis_url: str, redis_prefix: str
) -> None:
    """Two worker processes stop serving an invalidated value within a bound.

    Measured here on loopback (20 rounds x 2 processes); the benchmark
    ``benchmarks/bench_coherence.py`` reports p50/p99. The test bound is loose
    (1 s) so a loaded CI machine does not fail it; the target is p99 < 50 ms.
    """
    rounds = 20
    writer = HydraCache(shared=RedisStore.from_url(redis_url, prefix=redis_prefix))
    children = [
        spawn(BROADCAST_CHILD, redis_url, redis_prefix, str(rounds)) for _ in range(2)
    ]
    latencies: list[float] = []
    try:
        for child in children:
            assert "ready True" == expect(child, "ready")
        for r in range(rounds):
            writer.set("k", f"v{r}", tags=["t"])
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            for child in children:
                expect(child, "loaded")
            started = time.time()
            writer.invalidate_tag("t")
            for child in children:
                seen = json.loads(expect(child, "seen").split(" ", 1)[1])
                latencies.append(seen - started)
        for child in children:
            assert 0 == child.wait(10)
    finally:
        for child in children:
            reap(child)
        writer.close()
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(
        f"visibility p50={statistics.median(latencies) * 1000:.1f} ms "
        f"p99={p99 * 1000:.1f} ms"
    )
    assert 2 * rounds == len(latencies)
    assert p99 < 1.0


@pytest.mark.fault
def test_listener_cut_by_client_kill_recovers_without_serving_stale(
    tmp_path: Path,
) -> None:
    """A killed subscription drops local copies, reads through, then resyncs."""
    from tiers.test_redis_fault import PrivateRedis

    server = PrivateRedis(tmp_path / "redis")
    server.start()
    try:
        reader = HydraCache(
            shared=RedisStore.from_url(server.url, prefix="kill:"),
            promotion=TierTTLs(local=60),
        )
        writer = HydraCache(shared=RedisStore.from_url(server.url, prefix="kill:"))
        writer.set("k", "old", tags=["t"])
        assert "old" == reader.get("k")
        admin = redis.Redis.from_url(server.url)
        assert admin.client_kill_filter(_type="pubsub") >= 1
        assert wait_for(lambda: not reader.listening, 3.0)
        writer.invalidate_tag("t")  # its message cannot reach the reader
        assert reader.get("k") is None
        writer.set("k", "new")
        assert "new" == reader.get("k")
        assert "k" not in reader.local_store.entries, "no local copy while deaf"
        assert wait_for(lambda: reader.stats().resyncs == 1, 5.0)
        assert reader.listening
        assert "new" == reader.get("k")
        writer.set("k", "newer")
        assert wait_for(lambda: reader.get("k") == "newer", 2.0)
        reader.close()
        writer.close()
        admin.close()
    finally:
        server.stop()


LOCK_CHILD = """
import json, sys, threading, time
import redis
from hydracache_sync import HydraCache, RedisStore
url, prefix = sys.argv[1], sys.argv[2]
cache = HydraCache(shared=RedisStore.from_url(url, prefix=prefix), lock="redis")
client = redis.Redis.from_url(url)

def loader():
    client.incr(prefix + "loader-runs")
    time.sleep(0.5)
    return "value"

barrier = threading.Barrier(8)
results = []

def work():
    barrier.wait()
    results.append(cache.get_or_load("cold", loader))

threads = [threading.Thread(target=work) for _ in range(8)]
# Subscribed before the race: a first subscription landing mid-load would
# (rightly) make the loads stale and let a second process load.
deadline = time.monotonic() + 10
while not cache.listening and time.monotonic() < deadline:
    time.sleep(0.01)
print("ready", flush=True)
while not client.exists(prefix + "go"):
    time.sleep(0.002)
for t in threads:
    t.start()
for t in threads:
    t.join()
stats = cache.stats()
report = {"results": results, "loads": stats.loads, "lock_waits": stats.lock_waits,
          "lock_timeouts": stats.lock_timeouts}
print("done", json.dumps(report), flush=True)
cache.close()
"""


def test_four_processes_eight_threads_one_loader_run(
    redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    """4 processes x 8 threads on one cold key with lock='redis': one loader run."""
    children = [spawn(LOCK_CHILD, redis_url, redis_prefix) for _ in range(4)]
    try:
        for child in children:
            expect(child, "ready")
        redis_client.set(redis_prefix + "go", 1)
        reports = [json.loads(expect(c, "done", 30).split(" ", 1)[1]) for c in children]
    finally:
        for child in children:
            reap(child)
    assert b"1" == redis_client.get(redis_prefix + "loader-runs")
    assert [["value"] * 8] * 4 == [r["results"] for r in reports]
    assert 1 == sum(r["loads"] for r in reports)
    assert 3 == sum(r["lock_waits"] for r in reports)
    assert 0 == sum(r["lock_timeouts"] for r in reports)


HOLDER_CHILD = """
import sys, time
from hydracache_sync import HydraCache, RedisStore
url, prefix = sys.argv[1], sys.argv[2]
cache = HydraCache(shared=RedisStore.from_url(url, prefix=prefix), lock="redis",
                   lock_lease=1.0)

def loader():
    print("loading", flush=True)
    time.sleep(60)

cache.get_or_load("k", loader)
"""


@pytest.mark.fault
def test_killed_lock_holder_blocks_no_one_past_its_lease(
    redis_url: str, redis_prefix: str
) -> None:
    """A holder killed mid-load: a waiter takes the lock once the lease ends."""
    holder = spawn(HOLDER_CHILD, redis_url, redis_prefix)
    try:
        expect(holder, "loading")
        holder.send_signal(signal.SIGKILL)
        holder.wait(5)
        cache = HydraCache(
            shared=RedisStore.from_url(redis_url, prefix=redis_prefix),
            lock="redis",
            lock_lease=1.0,
            lock_wait=10.0,
        )
        started = time.monotonic()
        assert "mine" == cache.get_or_load("k", lambda: "mine")
        elapsed = time.monotonic() - started
        assert elapsed < 2.5, elapsed
        stats = cache.stats()
        assert (1, 0) == (stats.loads, stats.lock_timeouts)
        cache.close()
    finally:
        reap(holder)


def test_lock_needs_a_locking_tier() -> None:
    """lock='redis' without a Redis tier is a configuration error."""
    from hydracache_sync import ConfigError

    with pytest.raises(ConfigError):
        HydraCache(lock="redis")
    with pytest.raises(ConfigError):
        HydraCache.local().get_or_load("k", lambda: 1, lock="redis")


def test_lock_held_elsewhere_then_value_lands_is_a_lock_wait(
    redis_url: str, redis_prefix: str
) -> None:
    """A waiter picks up the value the lock holder stores; its loader never runs."""
    cache = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix), lock="redis"
    )
    holder = HydraCache(shared=RedisStore.from_url(redis_url, prefix=redis_prefix))
    locking = holder.tiers["shared"]
    assert locking.acquire_lock("k", "other-process", 5.0)  # type: ignore[attr-defined]

    def land() -> None:
        time.sleep(0.2)
        holder.set("k", "from-the-holder")
        locking.release_lock("k", "other-process")  # type: ignore[attr-defined]

    threading.Thread(target=land).start()
    runs: list[int] = []
    value = cache.get_or_load("k", lambda: runs.append(1) or "mine")
    assert "from-the-holder" == value
    assert [] == runs
    assert (1, 0, 0) == (
        cache.stats().lock_waits,
        cache.stats().lock_timeouts,
        cache.stats().loads,
    )
    cache.close()
    holder.close()


def test_lock_held_past_lock_wait_loads_anyway(
    redis_url: str, redis_prefix: str
) -> None:
    """A holder that never delivers: after lock_wait the waiter loads itself."""
    cache = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix),
        lock="redis",
        lock_wait=0.3,
    )
    store = cache.tiers["shared"]
    assert store.acquire_lock("k", "stuck", 30.0)  # type: ignore[attr-defined]
    started = time.monotonic()
    assert "mine" == cache.get_or_load("k", lambda: "mine")
    assert 0.25 < time.monotonic() - started < 3
    assert (0, 1, 1) == (
        cache.stats().lock_waits,
        cache.stats().lock_timeouts,
        cache.stats().loads,
    )
    store.release_lock("k", "stuck")  # type: ignore[attr-defined]
    cache.close()


def test_delete_failing_part_way_still_broadcasts(
    redis_url: str, redis_prefix: str
) -> None:
    """A strict delete whose durable tier fails after Redis succeeded raises
    TierError, and the other processes still drop their local copies."""
    from hydracache_sync import TierError
    from hydracache_sync.testing import MemoryTier

    durable = MemoryTier()
    writer = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix),
        durable=durable,
        on_tier_error="raise",
    )
    reader = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix),
        promotion=TierTTLs(local=60),
    )
    try:
        assert wait_for(lambda: writer.listening and reader.listening)
        writer.set("k", "old")
        assert wait_for(lambda: reader.stats().remote_invalidations == 1, 2.0)
        assert "old" == reader.get("k")
        durable.down = True
        with pytest.raises(TierError):
            writer.delete("k")
        assert wait_for(lambda: "k" not in reader.local_store.entries, 2.0)
        assert 2 == reader.stats().remote_invalidations
    finally:
        durable.down = False
        writer.close()
        reader.close()
