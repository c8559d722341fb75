"""Redis driver plumbing for RedisStore: import, error mapping, key helpers, pub/sub."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection
from types import TracebackType
from typing import Any

from hydracache_sync.errors import (
    MissingDependencyError,
    TierError,
    TierTimeoutError,
    TierUnavailableError,
)
from hydracache_sync.tiers.base import Event

__all__ = [
    "MISSING_REDIS",
    "ErrorMap",
    "RedisSubscription",
    "decodes_responses",
    "glob_escape",
    "hash_tag_span",
    "import_redis",
    "ttl_ms",
]

MISSING_REDIS = "RedisStore needs redis-py: pip install 'hydracache_sync[redis]'"
GLOB_SPECIAL = frozenset("\\*?[]")


def import_redis() -> Any:
    """Import redis-py, or raise the error that names the extra to install."""
    try:
        import redis
        import redis.cluster
        import redis.exceptions
    except ImportError as exc:
        raise MissingDependencyError(MISSING_REDIS) from exc
    return redis


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so ``text`` matches only itself."""
    return "".join("\\" + char if char in GLOB_SPECIAL else char for char in text)


def hash_tag_span(text: str) -> bool:
    """Tell whether ``text`` holds a Redis Cluster hash tag (``{...}``, non-empty)."""
    start = text.find("{")
    if start < 0:
        return False
    end = text.find("}", start + 1)
    return end > start + 1


def ttl_ms(ttl: float | None) -> int:
    """Convert a ttl in seconds to whole milliseconds; ``0`` means no expiry."""
    if ttl is None or ttl == math.inf:
        return 0
    return max(1, round(ttl * 1000))


class ErrorMap:
    """Context manager mapping redis-py exceptions to :class:`TierError`.

    One instance per store, stateless and shared by every thread.
    """

    __slots__ = ("_timeout", "_unavailable", "base", "tier")

    def __init__(self, redis_module: Any, tier: str) -> None:
        exceptions = redis_module.exceptions
        self.tier = tier
        self._timeout: type[Exception] = exceptions.TimeoutError
        self._unavailable: tuple[type[Exception], ...] = (
            exceptions.ConnectionError,
            exceptions.ClusterDownError,
            exceptions.SlotNotCoveredError,
        )
        # RedisClusterException (client-side cluster trouble) is no RedisError.
        #: What the map translates: ``except errors.base as exc: raise
        #: errors.mapped(exc) from exc`` is the with-statement's inline form.
        self.base: tuple[type[Exception], ...] = (
            exceptions.RedisError,
            exceptions.RedisClusterException,
        )

    def mapped(self, exc: BaseException) -> TierError:
        """Return the TierError for a redis-py exception (one of ``base``)."""
        if isinstance(exc, self._timeout):
            return TierTimeoutError(f"redis timed out: {exc}", tier=self.tier)
        if isinstance(exc, self._unavailable):
            return TierUnavailableError(f"redis unavailable: {exc}", tier=self.tier)
        return TierError(f"redis error: {exc}", tier=self.tier)

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and isinstance(exc, self.base):
            raise self.mapped(exc) from exc


class RedisSubscription:
    """A pub/sub subscription; redis errors surface as TierError."""

    def __init__(self, pubsub: Any, errors: ErrorMap) -> None:
        self._pubsub = pubsub
        self._errors = errors

    def get(self, timeout: float) -> Event | None:
        """Wait up to ``timeout`` seconds for one message or confirmation.

        Raises:
            TierError: The connection was lost.
        """
        with self._errors:
            message = self._pubsub.get_message(timeout=timeout)
        if message is None:
            return None
        kind, channel = message.get("type"), message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        if not isinstance(channel, str):
            return None
        if kind == "subscribe":
            return Event(channel, None)
        data = message.get("data")
        if kind != "message" or not isinstance(data, bytes):
            return None
        return Event(channel, data)

    def add(self, channels: Collection[str]) -> None:
        """Subscribe to more channels (confirmed by later events).

        Raises:
            TierError: The connection was lost.
        """
        if channels:
            with self._errors:
                self._pubsub.subscribe(*channels)

    def remove(self, channels: Collection[str]) -> None:
        """Unsubscribe from ``channels``.

        Raises:
            TierError: The connection was lost.
        """
        if channels:
            with self._errors:
                self._pubsub.unsubscribe(*channels)

    def close(self) -> None:
        """Unsubscribe and drop the connection (errors ignored)."""
        with contextlib.suppress(Exception):  # a dead connection may fail to close
            self._pubsub.close()


def decodes_responses(client: Any) -> bool:
    """Tell whether ``client`` decodes replies to ``str`` (unknown: no)."""
    get_kwargs = getattr(client, "get_connection_kwargs", None)
    kwargs = get_kwargs() if callable(get_kwargs) else None
    return bool(isinstance(kwargs, dict) and kwargs.get("decode_responses"))
