"""The floors under two targets: what the design's own parts cost, in CPython.

Two groups, each a ratio to its peer in one run, rows alternating round by
round (the median of per-round ratios is printed):

* ``set`` into a full byte-bounded local tier against cachetools
  ``TTLCache`` + ``Lock`` (45 entries of the 5-field user dict; 20,000
  distinct keys in shuffled order, every write evicts one entry). Floor rows:
  a ``LocalStore.put`` of a pre-sized value (the entry, the W-TinyLFU
  admission with its eviction, the dict write, the lock), then the same with
  the walk that sizes the value for the memory bound, then ``HydraCache.set``.
* A shared-tier hit against a raw redis-py ``GET`` (10,000 keys in shuffled
  order, 87-byte envelopes, local copies gone through eviction: a 64 KB
  local tier). Floor rows: ``GET``, then the envelope slice, ``cbor2.loads``
  and a dict write; then also the sizing walk and a ``LocalStore.put`` (the
  W-TinyLFU admission, unbatched); then ``HydraCache.get``.

It reads two private helpers on purpose (``_envelope.unpack_plain``,
``_sizing.plain_size``): the point is to time the parts without the rest.
The Redis group runs on a unique key prefix that is removed at the end.

    python benchmarks/measure_floors.py [--rounds N] [--redis URL]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import cbor2
from cachetools import TTLCache

from hydracache_sync import HydraCache, LocalStore, RedisStore
from hydracache_sync._envelope import unpack_plain
from hydracache_sync._sizing import plain_size
from hydracache_sync.bench.local import VALUE

SET_KEYS = 20_000
SET_ENTRIES = 45
SET_WRITES = 20_000
HIT_KEYS = 10_000
HIT_READS = 2_000
LOCAL = 64 * 1024


def _shuffled(keys: list[str]) -> list[str]:
    random.Random(13).shuffle(keys)
    return keys


def _run(rows: dict[str, Callable[[], None]], rounds: int, ops: int) -> None:
    """Print median ns per op and the median per-round ratio to the first row."""
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(rounds + 1):  # the first round warms up and is dropped
        for name, body in rows.items():
            started = time.perf_counter()
            body()
            samples[name].append((time.perf_counter() - started) / ops * 1e9)
    base = next(iter(samples))
    for name, values in samples.items():
        kept, ref = values[1:], samples[base][1:]
        ratio = statistics.median(v / b for v, b in zip(kept, ref, strict=True))
        print(f"  {name:52s} {statistics.median(kept):9,.0f} ns  {ratio:5.2f}x")


def set_floor(rounds: int) -> None:
    """The write group."""
    probe = HydraCache.local(default_ttl=300)
    probe.set("item:1", VALUE)
    max_bytes = probe.local_store.size * SET_ENTRIES
    keys = itertools.cycle(_shuffled([f"item:{n}" for n in range(SET_KEYS)]))
    peer: TTLCache[str, Any] = TTLCache(maxsize=SET_ENTRIES, ttl=300)
    lock = threading.Lock()
    sized, walked = LocalStore(max_bytes), LocalStore(max_bytes)
    charged = plain_size(VALUE)
    cache = HydraCache.local(max_bytes=max_bytes, default_ttl=300)

    def ttlcache() -> None:
        for _ in range(SET_WRITES):
            with lock:
                peer[next(keys)] = VALUE

    def put_presized() -> None:
        for _ in range(SET_WRITES):
            sized.put(next(keys), VALUE, charged, None)

    def put_walked() -> None:
        for _ in range(SET_WRITES):
            walked.put(next(keys), VALUE, plain_size(VALUE), None)

    def hydra() -> None:
        for _ in range(SET_WRITES):
            cache.set(next(keys), VALUE)

    print(f"set, {SET_KEYS:,} shuffled keys into {SET_ENTRIES} entries (ns/set)")
    _run(
        {
            "cachetools TTLCache + Lock": ttlcache,
            "floor: entry + W-TinyLFU + dict + lock": put_presized,
            "floor: ... + the sizing walk (memory bound)": put_walked,
            "HydraCache.set": hydra,
        },
        rounds,
        SET_WRITES,
    )


def hit_floor(rounds: int, url: str) -> None:
    """The shared-tier hit group, on a sandbox prefix of ``url``."""
    prefix = f"hcfloor:{uuid.uuid4().hex[:12]}:"
    store = RedisStore.from_url(url, prefix=prefix)
    writer = HydraCache(shared=store, broadcast=False)
    reader = HydraCache(
        local=LocalStore(LOCAL), shared=RedisStore.from_url(url, prefix=prefix)
    )
    try:
        keys = _shuffled([f"user:{n}" for n in range(HIT_KEYS)])
        for key in keys:
            writer.set(key, VALUE)
        walk = keys[:HIT_READS]
        raw = [store.value_key(key) for key in walk]
        get = store.client.get

        def raw_get() -> None:
            for name in raw:
                get(name)

        def decoded() -> None:
            copies: dict[str, Any] = {}
            for key, name in zip(walk, raw, strict=True):
                copies[key] = cbor2.loads(unpack_plain(get(name))[1])  # type: ignore[index]

        def admitted() -> None:
            local = LocalStore(LOCAL)
            for key, name in zip(walk, raw, strict=True):
                value = cbor2.loads(unpack_plain(get(name))[1])  # type: ignore[index]
                local.put(key, value, plain_size(value), None)

        def hydra() -> None:
            for key in walk:
                reader.get(key)

        print(
            f"shared-tier hit, {HIT_KEYS:,} shuffled keys, 87-byte envelopes, "
            f"local copies evicted ({LOCAL // 1024} KB local tier) (ns/read)"
        )
        _run(
            {
                "redis-py GET": raw_get,
                "floor: + envelope slice, cbor2.loads, dict write": decoded,
                "floor: ... + sizing and W-TinyLFU admission": admitted,
                "HydraCache.get": hydra,
            },
            rounds,
            HIT_READS,
        )
    finally:
        writer.clear()
        reader.close()
        writer.close()
        left = list(store.client.scan_iter(match=prefix + "*"))
        if left:
            store.client.delete(*left)


def main() -> None:
    """Run both groups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    set_floor(args.rounds)
    hit_floor(args.rounds, args.redis)


if __name__ == "__main__":
    main()
