"""Coherence across processes on Redis: invalidation latency, lock, listener cost.

- invalidation visibility: 2 worker processes each hold a promoted local copy;
  this process invalidates its tag, each worker reports when it stops seeing
  the old value; p50/p99 over 50 rounds (20 with ``--quick``), target p99 <
  50 ms;
- loader runs for one cold key from 4 processes x 8 threads (the loader
  sleeps 0.3 s and INCRs a Redis counter), with and without ``lock="redis"``:
  expected 4 (one per process) and 1;
- local-hit cost with the invalidation listener running against
  ``broadcast=False``, target <= 1.05x.

The server: ``--redis URL``, else ``$HYDRACACHE_REDIS_URL``, else
redis://127.0.0.1:6379/0; keys under a unique prefix, removed at the end.
Skipped with a note when the server cannot be reached. The scenarios live in
``hydracache_sync.bench`` (``hydracache bench --redis URL`` runs them too).

    python benchmarks/bench_coherence.py [--quick] [--redis URL] [--json FILE]
"""

from __future__ import annotations

import argparse

from _harness import Report, bench_main, run_family


def run(args: argparse.Namespace) -> Report | None:
    """Measure coherence; ``None`` (with a note) when Redis is unreachable."""
    return run_family("coherence", args)


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
