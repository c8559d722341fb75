"""Structured keys and wildcard invalidation in the local tier.

Groups (select with ``--groups builder,set,invalidate``):

- ``builder``: ``cache.key("users", 1).get(loader)`` on a hit against
  ``cache.get("users:1")`` (target: within 2x). Rows: ``HydraCache.key``
  (the root view's builder, bound once per cache), a namespace view's
  ``key``, and ``get_or_load`` for reference.
- ``set``: ``cache.set`` (and ``LocalStore.put``) of structured keys
  (``users:<u>:item:<i>``), a new key each time with one eviction, and
  overwrites. The pattern index costs here; "no index" rows switch its
  bookkeeping off in a LocalStore subclass, interleaved in the same rounds.
- ``invalidate``: ``cache.invalidate("users:<u>:*")`` removing 100 keys out of
  ``--keys`` (default 1,000,000), against one regex pass over every key (what
  ``invalidate_pattern`` did before the index). Also reports the index size.

    python benchmarks/bench_keys.py [--quick] [--json FILE] [--check]
        [--groups builder,set,invalidate] [--keys N]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from typing import Any

from _harness import (
    Body,
    GroupResult,
    Harness,
    Progress,
    Report,
    Row,
    Settings,
    Target,
    bench_main,
    compile_loop,
)

OPS = 20
GROUPS = ("builder", "set", "invalidate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this module's options."""
    parser.add_argument(
        "--groups",
        default=",".join(GROUPS),
        help=f"comma-separated groups to run (of: {', '.join(GROUPS)})",
    )
    parser.add_argument(
        "--keys",
        type=int,
        default=None,
        help="keys in the invalidation cache (default 1,000,000; quick: 200,000)",
    )


def _loader() -> int:
    return 1


# -- builder ---------------------------------------------------------------------


def _builder_cache() -> Any:
    from hydracache_sync import HydraCache

    cache = HydraCache.local(default_ttl=300)
    for user in range(OPS):
        cache.set(f"users:{user}", user)
        cache.set(f"ns:users:{user}", user)
    return cache


def _builder_rows(harness: Harness) -> None:
    users = {f"u{i}": i for i in range(OPS)}
    keys = {f"k{i}": f"users:{i}" for i in range(OPS)}

    def get() -> Body:
        return compile_loop("c.get(k{i})", OPS, c=_builder_cache(), **keys)

    def get_or_load() -> Body:
        return compile_loop(
            "c.get_or_load(k{i}, L)", OPS, c=_builder_cache(), L=_loader, **keys
        )

    def builder() -> Body:
        return compile_loop(
            'c.key("users", u{i}).get(L)',
            OPS,
            c=_builder_cache(),
            L=_loader,
            **users,
        )

    def view() -> Body:
        ns = _builder_cache().namespace("ns")
        return compile_loop(
            'v.key("users", u{i}).get(L)', OPS, v=ns, L=_loader, **users
        )

    harness.group(
        "builder",
        baseline='cache.get("users:1")',
        title='structured key hit: key("users", n).get(loader) (ns per call)',
    )
    harness.add("builder", 'cache.get("users:1")', setup=get, ops=OPS)
    harness.add(
        "builder",
        "cache.get_or_load(...)",
        setup=get_or_load,
        ops=OPS,
        note="reference",
    )
    harness.add(
        "builder",
        "cache.key(...).get(loader)",
        setup=builder,
        ops=OPS,
        note="memoized segments, local hit inlined",
    )
    harness.add(
        "builder",
        'ns.key("users", n).get(loader)',
        setup=view,
        ops=OPS,
        note="namespace view kept by the caller",
    )


# -- set -------------------------------------------------------------------------


SET_USERS = 2000
SET_ITEMS = 50


def _store(index: bool, max_bytes: str) -> Any:
    """A LocalStore, or one whose pattern-index bookkeeping is switched off.

    The second is "before the index" for ``set`` and ``put`` (never used for
    invalidation), measured in the same process and rounds as the first.
    """
    from hydracache_sync.tiers.local import LocalStore

    if index:
        return LocalStore(max_bytes)

    class Unindexed(LocalStore):
        def _index(self, key: str) -> None:
            pass

        def _unindex(self, key: str) -> None:
            pass

    return Unindexed(max_bytes)


def _new_keys() -> list[str]:
    return [f"users:{u}:item:{i}" for u in range(SET_USERS) for i in range(SET_ITEMS)]


def _set_new(index: bool = True) -> Body:
    """Set a new structured key each time; the cache is full, so one is evicted."""
    from hydracache_sync import HydraCache

    cache = HydraCache(_store(index, "2MB"), default_ttl=300)
    keys = _new_keys()
    for key in keys[: len(keys) // 2]:
        cache.set(key, 1)
    position = [len(keys) // 2]
    count = len(keys)

    def body() -> None:
        start = position[0]
        for offset in range(OPS):
            cache.set(keys[(start + offset) % count], 1)
        position[0] = (start + OPS) % count

    return body


def _put_new(index: bool = True) -> Body:
    """LocalStore.put of a new key (one eviction): the index's share is visible."""
    store = _store(index, "2MB")
    keys = _new_keys()
    for key in keys[: len(keys) // 2]:
        store.put(key, 1, 8, 300.0)
    position = [len(keys) // 2]
    count = len(keys)

    def body() -> None:
        start = position[0]
        for offset in range(OPS):
            store.put(keys[(start + offset) % count], 1, 8, 300.0)
        position[0] = (start + OPS) % count

    return body


def _set_overwrite() -> Body:
    from hydracache_sync import HydraCache

    cache = HydraCache.local(max_bytes="64MB", default_ttl=300)
    keys = [f"users:{u}:item:{i}" for u in range(200) for i in range(SET_ITEMS)]
    for key in keys:
        cache.set(key, 1)
    chosen = {f"k{i}": keys[i * 97 % len(keys)] for i in range(OPS)}
    return compile_loop("c.set(k{i}, 2)", OPS, c=cache, **chosen)


def _set_rows(harness: Harness) -> None:
    harness.group(
        "set",
        baseline="cache.set new key, no index",
        title="cache.set of users:<u>:item:<i> keys (ns per set)",
    )
    harness.add(
        "set",
        "cache.set new key, no index",
        setup=lambda: _set_new(index=False),
        ops=OPS,
        note="before: index bookkeeping off",
    )
    harness.add(
        "set",
        "cache.set new key",
        setup=_set_new,
        ops=OPS,
        note="max_bytes=2MB: each set evicts one",
    )
    harness.add(
        "set",
        "cache.set overwrite",
        setup=_set_overwrite,
        ops=OPS,
        note="10k keys, value replaced",
    )
    harness.group(
        "put",
        baseline="LocalStore.put new key, no index",
        title="LocalStore.put of a new key, one eviction (ns per put)",
    )
    harness.add(
        "put",
        "LocalStore.put new key, no index",
        setup=lambda: _put_new(index=False),
        ops=OPS,
        note="before: index bookkeeping off",
    )
    harness.add("put", "LocalStore.put new key", setup=_put_new, ops=OPS)


# -- invalidate ------------------------------------------------------------------


def _index_bytes(store: Any) -> int | None:
    """Approximate memory of the pattern index (None on a tree without it)."""
    maps = [getattr(store, name, None) for name in ("_dir_keys", "_dir_children")]
    if any(m is None for m in maps):
        return None
    total = 0
    for mapping in maps:
        total += sys.getsizeof(mapping)
        for name, members in mapping.items():
            if name is not None:
                total += sys.getsizeof(name) // (2 if mapping is maps[1] else 1)
            if isinstance(members, set):
                total += sys.getsizeof(members)
    return total


def _invalidate_group(keys_total: int, rounds: int) -> tuple[GroupResult, list[str]]:
    from hydracache_sync import HydraCache
    from hydracache_sync.tiers.base import wildcard_regex

    per_user = 100
    users = keys_total // per_user
    cache = HydraCache.local(max_bytes="4GB", default_ttl=None)
    store = cache.local_store
    started = time.perf_counter()
    for user in range(users):
        head = f"users:{user}:item:"
        for item in range(per_user):
            store.put(head + str(item), item, 8, None)
    filled = time.perf_counter() - started
    notes = [
        f"invalidate: {len(store):,} keys users:<u>:item:<i> ({users:,} users x "
        f"{per_user}), filled with LocalStore.put in {filled:.1f} s"
    ]
    index = _index_bytes(store)
    if index is not None:
        notes.append(
            f"pattern index: ~{index / 2**20:.0f} MiB, ~{index / len(store):.0f} "
            "bytes per key (sys.getsizeof of its dicts, sets and directory names)"
        )
    step = max(1, users // (rounds + 1))
    targets = [f"users:{(n + 1) * step}:*" for n in range(rounds)]
    prefix_samples = []
    removed = []
    gc.disable()
    try:
        for pattern in targets:
            begin = time.perf_counter_ns()
            removed.append(cache.invalidate(pattern))
            prefix_samples.append(time.perf_counter_ns() - begin)
        # What every pattern cost before the index: one regex pass over all keys.
        scan_samples = []
        regex = wildcard_regex(f"users:{step // 2}:*")
        for _ in range(max(3, rounds // 4)):
            begin = time.perf_counter_ns()
            _ = [k for k in store.entries if regex.fullmatch(k)]
            scan_samples.append(time.perf_counter_ns() - begin)
    finally:
        gc.enable()
    if set(removed) != {per_user}:
        notes.append(f"unexpected removal counts: {sorted(set(removed))}")
    median_scan = statistics.median(scan_samples)
    scan_rounds = tuple(median_scan for _ in prefix_samples)
    group = GroupResult(
        "invalidate",
        f"invalidate 100 of {len(store) + sum(removed):,} keys (ns per call)",
        "regex scan of every key",
        (
            Row(
                'cache.invalidate("users:<u>:*")',
                "invalidate",
                1,
                tuple(float(s) for s in prefix_samples),
                note="100 keys removed per call",
            ),
            Row(
                "regex scan of every key",
                "invalidate",
                1,
                tuple(float(s) for s in scan_rounds),
                note="before the index (median of a few passes)",
            ),
        ),
    )
    return group, notes


def run(args: argparse.Namespace) -> Report:
    """Measure the selected groups; return the report."""
    started = time.perf_counter()
    chosen = [g.strip() for g in (getattr(args, "groups", None) or "").split(",")]
    chosen = [g for g in chosen if g] or list(GROUPS)
    unknown = set(chosen) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown group(s): {', '.join(sorted(unknown))}")
    settings = Settings.for_run(args.quick)
    bar = Progress(enabled=args.progress)
    harness = Harness(settings, bar)
    if "builder" in chosen:
        _builder_rows(harness)
    if "set" in chosen:
        _set_rows(harness)
    bar.total = harness.planned_steps()
    try:
        groups = harness.run()
    finally:
        bar.close()
    notes = ["ratios are medians of per-round ratios (rows interleaved per round)"]
    targets = []
    by_name = {g.name: g for g in groups}
    if "builder" in by_name:
        group = by_name["builder"]
        targets.extend(
            Target(f"{row} / cache.get", group.ratio(row), "<=", 2.0)
            for row in ("cache.key(...).get(loader)",)
        )
    if "invalidate" in chosen:
        keys = args.keys or (200_000 if args.quick else 1_000_000)
        group, extra = _invalidate_group(keys, 9 if args.quick else 25)
        groups.append(group)
        notes += extra
        targets.append(
            Target(
                "invalidate 100 keys (median ms)",
                group.row('cache.invalidate("users:<u>:*")').median_ns / 1e6,
                "<=",
                1.0,
                unit=" ms",
            )
        )
    report = Report(
        title=(
            "structured keys and wildcard invalidation "
            f"({'quick, ' if args.quick else ''}{settings.rounds} rounds, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        targets=targets,
        notes=notes,
    )
    report.seconds = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__, add_arguments=add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
