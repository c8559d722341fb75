"""An ETL job that memoizes an expensive enrichment call with ``@hydra_cache``.

Memory only by default. With ``HYDRACACHE_POSTGRES_DSN`` set, results also go
to the durable Postgres tier, so the next run of the job (a new process)
starts warm. Create the table once::

    python -m hydracache_sync schema | psql "$HYDRACACHE_POSTGRES_DSN"

Run::

    python examples/etl_memoize.py                  # cold run, then warm run
    HYDRACACHE_POSTGRES_DSN="host=127.0.0.1 user=postgres dbname=test" \\
        python examples/etl_memoize.py --keep       # run it twice: warm from Postgres
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

from hydracache_sync import Cost, HydraCache, hydra_cache, set_default_cache

TAG = "etl-example"
CALLS: list[int] = []


@hydra_cache(ttl=3600, cost=Cost.EXPENSIVE, namespace="etl", tags=[TAG])
def enrich(record_id: int, currency: str = "EUR") -> dict[str, Any]:
    """Look up reference data for one record (an expensive remote call)."""
    CALLS.append(record_id)
    time.sleep(0.02)  # the remote service answers in 20 ms
    return {"id": record_id, "segment": record_id % 7, "currency": currency}


def build_cache() -> tuple[HydraCache, str]:
    """Return the cache (durable Postgres tier when configured) and a label."""
    dsn = os.environ.get("HYDRACACHE_POSTGRES_DSN")
    if not dsn:
        return HydraCache.local(), "memory only (set HYDRACACHE_POSTGRES_DSN)"
    from hydracache_sync import PostgresStore

    schema = os.environ.get("HYDRACACHE_POSTGRES_SCHEMA", "public")
    store = PostgresStore(dsn, schema=schema)
    # Cost.EXPENSIVE entries live in the durable tier, with a bounded local copy.
    return HydraCache(durable=store), f'memory + postgres "{schema}"."hydracache"'


def run(records: Sequence[int]) -> tuple[float, int, list[dict[str, Any]]]:
    """Transform the records; return (seconds, enrich() calls, rows)."""
    before = len(CALLS)
    started = time.perf_counter()
    rows = [enrich(record_id) for record_id in records]
    return time.perf_counter() - started, len(CALLS) - before, rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job twice and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=25, help="records per run")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep results from earlier runs (default: start cold)",
    )
    args = parser.parse_args(argv)
    cache, label = build_cache()
    set_default_cache(cache)
    try:
        if not args.keep:
            cache.invalidate_tag(TAG)  # every result carries the tag
        records = list(range(args.records))
        print(f"cache: {label}")
        cold, cold_calls, rows = run(records)
        print(f"cold run: {len(records)} records in {cold:.3f} s, {cold_calls} calls")
        warm, warm_calls, again = run(records)
        print(f"warm run: {len(records)} records in {warm:.3f} s, {warm_calls} calls")
        assert rows == again
        print(f"speed-up: {cold / max(warm, 1e-9):.0f}x")
        print(f"key of record 0: {enrich.cache_key(0)}")
    finally:
        set_default_cache(None)
        cache.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
