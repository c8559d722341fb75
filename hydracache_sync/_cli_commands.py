"""The ``hydracache`` commands: connection targets, each command, the stats tables."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .errors import MissingDependencyError

if TYPE_CHECKING:
    from ._cache import HydraCache
    from .tiers.postgres import PostgresStore
    from .tiers.redis import RedisStore


ENV_REDIS_URL = "HYDRACACHE_REDIS_URL"
ENV_POSTGRES_DSN = "HYDRACACHE_POSTGRES_DSN"
ENV_PREFIX = "HYDRACACHE_PREFIX"
ENV_SCHEMA = "HYDRACACHE_POSTGRES_SCHEMA"
ENV_TABLE = "HYDRACACHE_POSTGRES_TABLE"


#: Keys whose ``MEMORY USAGE`` ``stats`` measures; past this it extrapolates.
DEFAULT_MEMORY_SAMPLE = 1000

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A command cannot run; ``main`` prints the message and exits ``status``."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (for printing)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def redis_label(args: argparse.Namespace) -> str:
    return f"redis {mask_url(args.redis)} prefix {args.prefix!r}"


def postgres_label(args: argparse.Namespace) -> str:
    return f'postgres "{args.schema}"."{args.table}"'


def open_redis(args: argparse.Namespace) -> RedisStore:
    from .tiers.redis import RedisStore

    return RedisStore.from_url(args.redis, prefix=args.prefix)


def open_postgres(args: argparse.Namespace) -> PostgresStore:
    from .tiers.postgres import PostgresStore

    # One command, one thread: a pool of one connection is enough.
    return PostgresStore(
        args.postgres,
        schema=args.schema,
        table=args.table,
        min_connections=1,
        max_connections=1,
    )


def require_target(args: argparse.Namespace) -> None:
    if not args.redis and not args.postgres:
        args.subparser.error(
            "no tier to work on: give --redis URL and/or --postgres DSN "
            f"(or set {ENV_REDIS_URL} / {ENV_POSTGRES_DSN})"
        )


@contextlib.contextmanager
def tiered_cache(args: argparse.Namespace) -> Iterator[tuple[HydraCache, str]]:
    """Yield a strict HydraCache over the configured tiers and a description."""
    from ._cache import HydraCache
    from .tiers.local import LocalStore

    require_target(args)
    with contextlib.ExitStack() as stack:
        shared = durable = None
        labels = []
        if args.redis:
            shared = open_redis(args)
            stack.callback(shared.close)
            labels.append(redis_label(args))
        if args.postgres:
            durable = open_postgres(args)
            stack.callback(durable.close)
            labels.append(postgres_label(args))
        cache = HydraCache(
            LocalStore(max_bytes="1MB"),
            shared=shared,
            durable=durable,
            on_tier_error="raise",
        )
        # Stops the cache's background work (if any) before the stores close.
        stack.callback(cache.close)
        yield cache, " and ".join(labels)


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo()
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .tiers.postgres import migration_sql

    sys.stdout.write(migration_sql(args.schema, args.table))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    # The benchmarks live in a subpackage imported only here (rich: bench extra).
    try:
        from .bench.runner import run_from_args
    except MissingDependencyError:
        raise
    except ImportError as exc:
        raise CommandError(
            f"the benchmarks are not available in this installation: {exc}"
        ) from exc
    return run_from_args(args)


def cmd_invalidate_tag(args: argparse.Namespace) -> int:
    with tiered_cache(args) as (cache, where):
        removed = cache.invalidate_tag(args.tag)
    print(f"invalidated tag {args.tag!r} in {where}: {removed} removed")
    return 0


def cmd_invalidate(args: argparse.Namespace) -> int:
    with tiered_cache(args) as (cache, where):
        removed = cache.invalidate(args.pattern)
    print(f"invalidated {args.pattern!r} in {where}: {removed} removed")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with tiered_cache(args) as (cache, where):
        found = cache.delete(args.key)
    if found:
        print(f"deleted {args.key!r} from {where}")
    else:
        print(f"{args.key!r} was not cached in {where}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    if not args.postgres:
        args.subparser.error(
            f"cleanup needs --postgres DSN (or {ENV_POSTGRES_DSN} in the environment)"
        )
    store = open_postgres(args)
    try:
        removed = store.cleanup_expired()
    finally:
        store.close()
    print(f"removed {removed} expired rows from {postgres_label(args)}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    require_target(args)
    if args.sample < 0:
        args.subparser.error("--sample must be >= 0")
    report: dict[str, dict[str, Any]] = {}
    if args.redis:
        report["redis"] = redis_stats(args)
    if args.postgres:
        report["postgres"] = postgres_stats(args)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    if "redis" in report:
        print(format_redis(report["redis"], args))
    if "postgres" in report:
        print(format_postgres(report["postgres"], args))
    return 0


def redis_stats(args: argparse.Namespace) -> dict[str, Any]:
    """Ask the store for its key counts and memory (``RedisStore.usage``)."""
    store = open_redis(args)
    try:
        usage = store.usage(args.sample)
    finally:
        store.close()
    return {"prefix": args.prefix, **usage.as_dict()}


def postgres_stats(args: argparse.Namespace) -> dict[str, Any]:
    """Ask the store for its row counts and size (``PostgresStore.usage``)."""
    store = open_postgres(args)
    try:
        usage = store.usage()
    finally:
        store.close()
    return {"schema": args.schema, "table": args.table, **usage.as_dict()}


def human_bytes(size: int | None) -> str:
    if size is None:
        return "unknown (MEMORY USAGE not allowed)"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_redis(stats: dict[str, Any], args: argparse.Namespace) -> str:
    memory = human_bytes(stats["memory_bytes"])
    if stats["memory_bytes"] is not None and stats["keys"]:
        how = "sum" if stats["memory_exact"] else "estimate from"
        memory += f" ({how} MEMORY USAGE of {stats['memory_sampled_keys']} keys)"
    return "\n".join(
        [
            redis_label(args),
            f"  entries         {stats['entries']}",
            f"  tagged entries  {stats['tagged_entries']}",
            f"  tag sets        {stats['tag_sets']}",
            f"  keys            {stats['keys']}",
            f"  memory          {memory}",
        ]
    )


def format_postgres(stats: dict[str, Any], args: argparse.Namespace) -> str:
    expired = str(stats["expired_rows"])
    if stats["expired_rows"]:
        expired += "  (`hydracache cleanup` removes them)"
    return "\n".join(
        [
            postgres_label(args),
            f"  rows            {stats['rows']}",
            f"  live            {stats['live_rows']}",
            f"  expired         {expired}",
            f"  negative        {stats['negative_rows']}",
            f"  table size      {human_bytes(stats['table_bytes'])}",
        ]
    )
