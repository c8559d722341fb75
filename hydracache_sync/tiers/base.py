"""The contract a remote tier (Redis, Postgres, ...) implements; no I/O here.

A remote tier stores opaque envelope bytes under the cache's full keys. It adds
its own prefix or table, maps its driver's exceptions to
:class:`~hydracache_sync.errors.TierError` (chained with ``from``), and never
decodes values: what it needs to know about an entry (its expiry as ``ttl``,
its tags, whether it is a cached ``None`` it may keep as a flag) comes with the
call. The contract is declared once, by the :class:`RemoteTier` protocol;
:class:`BaseTier` only adds default batch loops and a context manager. Adding a
tier is one new module with a class that implements :class:`RemoteTier`
(usually subclassing :class:`BaseTier`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import NamedTuple, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "BaseTier",
    "Broadcaster",
    "Deferred",
    "Event",
    "Locking",
    "NativeNegative",
    "RemoteTier",
    "StoreItem",
    "Stored",
    "Subscription",
    "Swapping",
    "Versioned",
    "wildcard_regex",
]


class NativeNegative(NamedTuple):
    """A cached ``None`` that a tier kept as a flag instead of its bytes.

    A tier may store an entry written with ``negative=True`` this way (Postgres:
    ``value NULL, is_none TRUE``) and returns this for it. The cache accepts it
    only from a tier with ``trusted = True`` and only without ``secret=``.

    .. versionadded:: 0.2
    """

    expires_at: float | None  # Unix time; None: no expiry
    tags: tuple[str, ...]


Stored: TypeAlias = "bytes | NativeNegative"
"""What a remote tier hands back for a live entry."""


class StoreItem(NamedTuple):
    """One entry for :meth:`RemoteTier.set_many` (fields as in ``set``)."""

    key: str
    data: bytes
    ttl: float | None
    tags: Collection[str]
    negative: bool = False


@runtime_checkable
class RemoteTier(Protocol):
    """What the cache core needs from a shared or durable tier.

    Keys are the cache's full keys (view prefixes included), ``str``. A ``ttl``
    is seconds (``float``), ``None`` meaning no expiry. Every method raises only
    :class:`~hydracache_sync.errors.TierError` (or a subclass) on failure.
    """

    name: str
    #: Whether the cache may accept a :class:`NativeNegative` from this tier
    #: (without ``secret=``); true only for storage writers authenticate to.
    trusted: bool

    def get(self, key: str) -> Stored | None:
        """Return the stored entry, or ``None`` when absent or expired."""

    def get_many(self, keys: Sequence[str]) -> list[Stored | None]:
        """Return one entry per key, in order, in one round trip."""

    def set(
        self,
        key: str,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool = False,
    ) -> None:
        """Store ``data`` with its tags, atomically with the tag bookkeeping.

        ``negative`` tells that ``data`` frames a cached ``None`` with nothing
        the tier must keep (no signature): a tier may then store a flag instead
        and return a :class:`NativeNegative` for it. Other tiers ignore it.
        """

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


class BaseTier:
    """Convenience base for a :class:`RemoteTier`: batch loops, a context manager.

    It declares nothing of the contract itself (that is :class:`RemoteTier`'s
    job): a subclass implements ``get``, ``set``, ``delete``,
    ``invalidate_tag``, ``invalidate_pattern`` and ``clear``, and overrides
    the loops below with one round trip where its server allows.
    """

    name: str = "tier"
    trusted: bool = False

    def get_many(self: RemoteTier, keys: Sequence[str]) -> list[Stored | None]:
        """Return one entry per key (a loop; override with one round trip)."""
        return [self.get(key) for key in keys]

    def set_many(self: RemoteTier, items: Sequence[StoreItem]) -> None:
        """Store several entries (a loop; override with one round trip)."""
        for item in items:
            self.set(item.key, item.data, item.ttl, item.tags, item.negative)

    def delete_many(self: RemoteTier, keys: Sequence[str]) -> int:
        """Remove several keys (a loop; override with one round trip)."""
        return sum(self.delete(key) for key in keys)

    def close(self) -> None:
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


class Event(NamedTuple):
    """What a :class:`Subscription` hands over: a message, or a confirmation.

    ``data`` is the message's bytes, or ``None`` once the subscription to
    ``channel`` is confirmed (messages published from then on arrive).
    """

    channel: str
    data: bytes | None


@runtime_checkable
class Subscription(Protocol):
    """An open subscription to one or more invalidation channels.

    Used by one thread at a time (the listener's): ``add`` and ``remove`` are
    called between two ``get`` calls.
    """

    def get(self, timeout: float) -> Event | None:
        """Wait up to ``timeout`` seconds for one event; raise TierError when cut."""

    def add(self, channels: Collection[str]) -> None:
        """Subscribe to more channels (each is confirmed by an event)."""

    def remove(self, channels: Collection[str]) -> None:
        """Unsubscribe from channels."""

    def close(self) -> None:
        """Unsubscribe and release the connection."""


@runtime_checkable
class Broadcaster(Protocol):
    """A tier that carries invalidation messages between processes.

    Tiers whose :attr:`listener_group` is the same object (for Redis: the
    connection pool) share one subscription, so one listener thread and one
    connection serve every cache over that pool.
    """

    @property
    def channel(self) -> str:
        """The channel carrying this tier's invalidations."""

    @property
    def listener_group(self) -> object:
        """What subscriptions are shared by (an object compared by identity)."""

    def publish(self, message: bytes) -> None:
        """Send ``message`` to every subscriber of this tier's channel."""

    def subscribe(self, channels: Collection[str]) -> Subscription:
        """Open a subscription (raise TierError when the server is unreachable)."""


@runtime_checkable
class Deferred(Protocol):
    """A tier that defers its start-up checks while its server is down."""

    def ensure_ready(self) -> None:
        """Run the deferred checks now; raise TierError if still unreachable."""


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

    def bump_generation(self) -> None:
        """Bump the global generation (no entry removed): loads in flight fail."""


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
        expected: Stored | None,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool = False,
    ) -> bool:
        """Store like ``set`` only if the stored entry still equals ``expected``.

        ``expected`` is what ``get`` returned; ``None`` means "only if absent":
        an expired entry counts as absent and is taken over. Tell whether
        ``data`` was stored.
        """
