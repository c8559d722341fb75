"""Build a HydraCache from a framework's settings (Flask config, Django OPTIONS).

The Flask extension and the Flask-Caching backend call
:func:`cache_from_config` with ``app.config``; the Django backend calls
:func:`cache_from_settings` with its ``OPTIONS``. Nothing here imports a
framework, so any mapping of settings works.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ._cache import HydraCache
from ._codec import Codec
from ._placement import TierPlan, TierTTLs
from .errors import ConfigError
from .tiers.base import RemoteTier
from .tiers.local import LocalStore

__all__ = [
    "DEFAULT_VIEW_TTL",
    "cache_from_config",
    "cache_from_settings",
    "postgres_only_plan",
    "seconds_setting",
]

#: The TTL of views and memoized results when no setting gives one.
DEFAULT_VIEW_TTL = 300


def seconds_setting(value: object, name: str) -> float | None:
    """Return seconds from an int, float or timedelta; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{name} must be seconds >= 0 or a timedelta, not {value!r}")
    return float(value)


def postgres_only_plan(redis_url: object, postgres_dsn: object) -> TierPlan | None:
    """Return the plan of a Postgres-without-Redis setup, else None (the default).

    Postgres without Redis is the shared store: the default plan would keep
    MODERATE entries in each process's memory only.
    """
    return TierPlan(moderate="durable") if postgres_dsn and not redis_url else None


def cache_from_settings(
    settings: Mapping[str, Any],
    *,
    prefix: str = "",
    redis_url: str | None,
    codec: Codec | None = None,
    plan: TierPlan | None = None,
    **engine: Any,
) -> HydraCache:
    """Build a HydraCache from settings named ``<prefix>MAX_BYTES`` and so on.

    Read: ``MAX_BYTES``, ``MAX_ENTRY_SIZE``, ``PREFIX``, ``POSTGRES_DSN``,
    ``POSTGRES_SCHEMA``, ``POSTGRES_TABLE``, ``LOCAL_TTL``, ``ON_TIER_ERROR``,
    ``SECRET``, ``COMPRESS``, ``LOCK`` and ``BROADCAST``. The remote tiers
    built are closed again when the cache cannot be built.

    Args:
        settings: The settings (Flask's ``app.config``, Django's ``OPTIONS``).
        prefix: What every setting's name starts with (``"HYDRACACHE_"``).
        redis_url: The Redis URL, or None/empty for no shared tier.
        codec: The value codec (default: CBOR).
        plan: Which tier each cost class lives in (default: ``TierPlan()``).
        **engine: Further ``HydraCache`` arguments.

    Raises:
        ConfigError: A setting is invalid (or the Postgres table is missing).
        MissingDependencyError: A configured tier's driver is not installed.
        TierUnavailableError: Postgres cannot be reached at construction.
    """

    def get(name: str, default: Any = None) -> Any:
        return settings.get(prefix + name, default)

    max_entry = get("MAX_ENTRY_SIZE")
    local = (
        LocalStore(get("MAX_BYTES", "64MB"))
        if max_entry is None
        else LocalStore(get("MAX_BYTES", "64MB"), max_entry)
    )
    shared: RemoteTier | None = None
    durable: RemoteTier | None = None
    try:
        if redis_url:
            from .tiers.redis import RedisStore

            shared = RedisStore.from_url(redis_url, prefix=get("PREFIX", "hc:"))
        if dsn := get("POSTGRES_DSN"):
            from .tiers.postgres import PostgresStore

            durable = PostgresStore(
                dsn,
                schema=get("POSTGRES_SCHEMA", "public"),
                table=get("POSTGRES_TABLE", "hydracache"),
            )
        return HydraCache(
            local,
            shared=shared,
            durable=durable,
            plan=plan,
            promotion=TierTTLs(local=get("LOCAL_TTL", 60.0)),
            on_tier_error=get("ON_TIER_ERROR", "degrade"),
            secret=get("SECRET"),
            compress=bool(get("COMPRESS", False)),
            codec=codec,
            lock=get("LOCK"),
            broadcast=bool(get("BROADCAST", True)),
            **engine,
        )
    except BaseException:
        for store in (shared, durable):
            if store is not None:
                store.close()
        raise


def cache_from_config(
    config: Mapping[str, Any],
    *,
    codec: Codec | None = None,
    plan: TierPlan | None = None,
) -> HydraCache:
    """Build a HydraCache from ``HYDRACACHE_*`` settings (see ``flask.py``'s docs).

    Args:
        config: A mapping such as ``app.config``.
        codec: The value codec (default: CBOR).
        plan: Which tier each cost class lives in (default: ``TierPlan()``).

    Returns:
        A cache with a local tier, plus Redis and Postgres when configured.

    Raises:
        ConfigError: A setting is invalid (or the Postgres table is missing).
        MissingDependencyError: A configured tier's driver is not installed.
        TierUnavailableError: Postgres cannot be reached at construction.
    """
    default_ttl = seconds_setting(
        config.get("HYDRACACHE_DEFAULT_TTL", DEFAULT_VIEW_TTL),
        "HYDRACACHE_DEFAULT_TTL",
    )
    return cache_from_settings(
        config,
        prefix="HYDRACACHE_",
        redis_url=config.get("HYDRACACHE_REDIS_URL"),
        codec=codec,
        plan=plan,
        default_ttl=default_ttl,
        stale_while_revalidate=config.get("HYDRACACHE_STALE_WHILE_REVALIDATE"),
    )
