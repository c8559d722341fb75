"""HydraCache: the engine plus its views (namespaces, typed views, structured keys)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

from ._engine import Engine
from ._keys import check_key
from ._loading import Uncached
from ._options import TTL
from ._types import UNSET, Unset
from ._views import CacheView, KeyBuilder, TypedView
from .tiers.local import LocalStore

__all__ = ["HydraCache", "Uncached", "check_key"]

T = TypeVar("T")


class HydraCache(Engine):
    """A thread-safe cache over a local tier and optional Redis/Postgres tiers.

    Args:
        local: The in-process tier (default: ``LocalStore()``, 64 MB).
        shared: A shared tier such as ``RedisStore``.
        durable: A durable tier such as ``PostgresStore``.
        plan: A ``TierPlan`` overriding which tier each cost class lives in.
        promotion: ``TierTTLs`` bounding copies in faster tiers.
        default_ttl: Seconds (or timedelta) for entries stored without a ttl;
            ``None`` means no expiry.
        on_tier_error: ``"degrade"`` (miss, skip, count, break) or ``"raise"``.
        codec: Value codec (default ``CborCodec``; never pickle).
        secret: Signs remote envelopes with HMAC-SHA256 when given (at least
            16 bytes); every entry read must then verify, negatives included.
        compress: Gzip remote payloads over 1 KB when smaller, cache-wide.
        compress_level: gzip level (default 1).
        breaker_cooldown: Seconds a failed tier is skipped before a probe.
        warn_interval: Minimum seconds between two warnings for one tier.
        max_decompressed: Most bytes a compressed remote entry may inflate
            to (default: the local tier's ``max_entry_size``); past it the
            entry is a miss counted in ``decode_errors``.
        clock: The wall clock (Unix seconds; ``None``: ``time.time``) remote
            entries' expiry is written with and checked against; tests pass
            a ``testing.FakeClock`` (the local tier's clock is
            ``LocalStore(timer=)``).

    The operations (``get``, ``set``, ``get_or_load``, ...) are the engine's
    (``_engine.Engine``); this class adds the views over them.
    """

    @classmethod
    def local(
        cls,
        *,
        max_bytes: int | str = "64MB",
        max_entry_size: int | str | Unset = UNSET,
        default_ttl: TTL = None,
        timer: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> HydraCache:
        """Return a memory-only cache (no server needed)."""
        store = LocalStore(max_bytes, max_entry_size, timer=timer)
        return cls(store, default_ttl=default_ttl, **kwargs)

    @cached_property
    def _root(self) -> CacheView:
        return CacheView(self, "")

    @cached_property
    def key(self) -> Callable[..., KeyBuilder[Any]]:
        """Return a structured-key builder: ``cache.key("users", 42).get(loader)``.

        The root view's builder, looked up once and then kept in the instance
        (a method that forwarded would cost a quarter of a hit).
        """
        return self._root.key

    def namespace(self, name: str) -> CacheView:
        """Return a view whose keys are prefixed ``name:``."""
        return self._root.namespace(name)

    def typed(self, cls: type[T], namespace: str) -> TypedView[T]:
        """Return a typed, namespaced view: ``set`` rejects non-``cls`` values."""
        return self._root.typed(cls, namespace)
