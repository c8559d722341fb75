"""The contract a remote tier (Redis, Postgres, ...) implements; no I/O here.

A remote tier stores opaque envelope bytes (see ``hydracache_sync._envelope``)
under the cache's full keys. It adds its own prefix or table, maps its driver's
exceptions to :class:`~hydracache_sync.errors.TierError` (chained with
``from``), and never decodes values. Adding a tier is one new module with a
class that subclasses :class:`BaseTier` and implements the abstract methods.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "BaseTier",
    "Broadcaster",
    "Locking",
    "RemoteTier",
    "StoreItem",
    "Subscription",
    "Swapping",
    "Versioned",
    "wildcard_regex",
]


class StoreItem(NamedTuple):
    """One entry for :meth:`RemoteTier.set_many`."""

    key: str
    data: bytes
    ttl: float | None
    tags: Collection[str]


@runtime_checkable
class RemoteTier(Protocol):
    """What the cache core needs from a shared or durable tier.

    Keys are the cache's full keys (view prefixes included), ``str``. A ``ttl``
    is seconds (``float``), ``None`` meaning no expiry. Every method raises only
    :class:`~hydracache_sync.errors.TierError` (or a subclass) on failure.
    """

    name: str
    #: Whether negatives rebuilt by this tier (``_envelope.trusted_negative``)
    #: are accepted; true only for storage that writers must authenticate to.
    trusted: bool

    def get(self, key: str) -> bytes | None:
        """Return the stored bytes, or ``None`` when absent or expired."""

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Return one entry per key, in order, in one round trip."""

    def set(
        self, key: str, data: bytes, ttl: float | None, tags: Collection[str]
    ) -> None:
        """Store ``data`` with its tags, atomically with the tag bookkeeping."""

    def set_many(self, items: Sequence[StoreItem]) -> None:
        """Store several entries in one round trip."""

    def delete(self, key: str) -> bool:
        """Remove one key; tell whether it existed."""

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove several keys in one round trip; return how many existed."""

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag`` without scanning the keyspace."""

    def invalidate_pattern(self, pattern: str) -> int:
        """Remove every key matching ``pattern``.

        ``*`` matches any run of characters (``:`` included); every other
        character is literal, so the tier escapes its own metacharacters
        (Redis glob ``*?[]\\``, SQL ``LIKE`` ``%_\\``).
        """

    def clear(self) -> int:
        """Remove everything under this tier's own prefix or table."""

    def close(self) -> None:
        """Release connections the tier owns."""


class BaseTier(ABC):
    """Convenience base: loops for the batch forms and a context manager."""

    name: str = "tier"
    trusted: bool = False

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """Return the stored bytes, or ``None`` when absent or expired."""

    @abstractmethod
    def set(
        self, key: str, data: bytes, ttl: float | None, tags: Collection[str]
    ) -> None:
        """Store ``data`` with its tags."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove one key; tell whether it existed."""

    @abstractmethod
    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag``."""

    @abstractmethod
    def invalidate_pattern(self, pattern: str) -> int:
        """Remove every key matching the ``*`` wildcard ``pattern``."""

    @abstractmethod
    def clear(self) -> int:
        """Remove everything under this tier's prefix."""

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Return one entry per key (a loop; override with one round trip)."""
        return [self.get(key) for key in keys]

    def set_many(self, items: Sequence[StoreItem]) -> None:
        """Store several entries (a loop; override with one round trip)."""
        for item in items:
            self.set(item.key, item.data, item.ttl, item.tags)

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove several keys (a loop; override with one round trip)."""
        return sum(self.delete(key) for key in keys)

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release resources; the default has none."""

    def __enter__(self) -> BaseTier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Compile a ``*`` wildcard pattern; every other character is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.S)


# -- optional capabilities (checked once, at cache construction) ---------------


@runtime_checkable
class Subscription(Protocol):
    """An open subscription to a tier's invalidation channel."""

    def get(self, timeout: float) -> bytes | None:
        """Wait up to ``timeout`` seconds for one message; raise TierError when cut."""

    def close(self) -> None:
        """Unsubscribe and release the connection."""


@runtime_checkable
class Broadcaster(Protocol):
    """A tier that carries invalidation messages between processes."""

    def publish(self, message: bytes) -> None:
        """Send ``message`` to every subscriber of this tier's channel."""

    def subscribe(self) -> Subscription:
        """Open a subscription (raise TierError when the server is unreachable)."""


@runtime_checkable
class Versioned(Protocol):
    """A tier that keeps invalidation generations for a check-and-set write.

    Every invalidation bumps a generation (of the key, of the tag, or a global
    one for patterns and clear). A load notes the generations before it runs
    and stores its result only if none moved meanwhile, atomically.
    """

    def generations(self, key: str, tags: Collection[str]) -> Sequence[object]:
        """Return an opaque token of the generations guarding ``key``."""

    def set_if_current(
        self,
        key: str,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        token: Sequence[object],
    ) -> bool:
        """Store like ``set`` only if the generations still equal ``token``."""


@runtime_checkable
class Locking(Protocol):
    """A tier that offers a lease lock per key (distributed single-flight)."""

    def acquire_lock(self, key: str, token: str, lease: float) -> bool:
        """Take the lock of ``key`` for ``lease`` seconds unless someone holds it."""

    def release_lock(self, key: str, token: str) -> bool:
        """Release the lock if ``token`` still holds it."""


@runtime_checkable
class Swapping(Protocol):
    """A tier that can replace an entry atomically (compare-and-set).

    The cache's ``add``, ``incr``/``decr`` and ``touch`` are built on it: read
    the bytes, compute, and write back only if nobody wrote meanwhile.
    """

    def swap(
        self,
        key: str,
        expected: bytes | None,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
    ) -> bool:
        """Store like ``set`` only if the stored bytes still equal ``expected``.

        ``expected=None`` means "only if absent": an expired entry counts as
        absent and is taken over. Tell whether ``data`` was stored.
        """
