"""Local tier: HydraCache against cachetools + Lock, dogpile.cache, lru_cache.

Rows: get hit, set with eviction, get_or_load hit, 32 threads on one cold key,
and 8-thread hit throughput, with the issue's targets marked PASS/MISS.
The scenarios live in ``hydracache_sync.bench`` (``hydracache bench`` runs
them too); this module plugs them into ``benchmarks/run.py``.

    python benchmarks/bench_local.py [--quick] [--json FILE] [--check]
"""

from __future__ import annotations

import argparse

from _harness import Report, bench_main, run_family


def run(args: argparse.Namespace) -> Report | None:
    """Measure the local tier with the common options in ``args``."""
    return run_family("local", args)


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
