"""Durable tier on Postgres: durable hit, get_many(100), thread scaling, vs psycopg2.

Rows (interleaved per round, ratios against the raw driver call):

- durable hit (a cache with only ``durable=PostgresStore``, local copy gone:
  local miss, prepared SELECT, decode, promotion) against a raw psycopg2
  ``SELECT value FROM t WHERE key = %s`` on the same table, with the store's
  connection settings;
- ``get_many`` of 100 keys against one raw ``SELECT key, value FROM t WHERE
  key = ANY(%s)``;
- durable-hit throughput of 8 threads against 1, with a pool of 8 connections
  (the store's own) and of 1 (threads waiting for it), plus what the store's
  own 1-connection pool does under 8 threads.

The server: ``--postgres DSN``, else ``$HYDRACACHE_POSTGRES_DSN``, else
``host=127.0.0.1 port=5432 user=postgres dbname=test``. The table lives in a
unique schema (``migration_sql``), dropped at the end. Skipped with a note when
the server cannot be reached. The scenarios live in ``hydracache_sync.bench``.

    python benchmarks/bench_postgres.py [--quick] [--postgres DSN] [--json FILE]
"""

from __future__ import annotations

import argparse

from _harness import Report, bench_main, run_family


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this module (shared parser: prefixed)."""
    parser.add_argument(
        "--postgres-threads",
        type=int,
        default=8,
        metavar="N",
        help="threads for the durable-hit scaling rows (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> Report | None:
    """Measure the durable tier; ``None`` (with a note) when Postgres is unreachable."""
    threads = getattr(args, "postgres_threads", 8)
    return run_family("postgres", args, threads=threads)


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__, add_arguments=add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
