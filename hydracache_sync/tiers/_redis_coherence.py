"""RedisStore's coherence verbs: pub/sub, generations, compare-and-set, leases."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from hydracache_sync.tiers._redis_support import ErrorMap, RedisSubscription, ttl_ms
from hydracache_sync.tiers.base import NativeNegative, Stored, StoreItem

if TYPE_CHECKING:
    import redis
    import redis.cluster
    from redis.commands.core import Script

    RedisClient = redis.Redis | redis.cluster.RedisCluster

__all__ = ["RedisCoherence"]


class RedisCoherence:
    """The coherence half of :class:`~hydracache_sync.tiers.redis.RedisStore`.

    A mixin: the ``Broadcaster``, ``Versioned``, ``Locking`` and ``Swapping``
    capabilities and the script arguments every write shares. The store's
    constructor sets the attributes declared here.
    """

    _client: RedisClient
    _errors: ErrorMap
    _channel: str
    _prefix: str
    _tbase: str
    _kbase: str
    _vbase: str
    _gall: str
    _gkbase: str
    _gtbase: str
    _lbase: str
    _cas_script: Script
    _swap_script: Script
    _release_script: Script

    def _store_call(
        self, items: Iterable[StoreItem]
    ) -> tuple[list[str], list[str | bytes | int]]:
        keys: list[str] = []
        args: list[str | bytes | int] = [self._tbase, self._kbase]
        vbase, kbase, tbase = self._vbase, self._kbase, self._tbase
        for key, data, ttl, tags, _ in items:
            tag_list = list(tags)
            keys.append(vbase + key)
            keys.append(kbase + key)
            keys.extend(tbase + tag for tag in tag_list)
            args.extend((key, data, ttl_ms(ttl), len(tag_list)))
            args.extend(tag_list)
        return keys, args

    @property
    def channel(self) -> str:
        """The pub/sub channel carrying this prefix's invalidations."""
        return self._channel

    def publish(self, message: bytes) -> None:
        """Publish an invalidation message on :attr:`channel`.

        Raises:
            TierError: Redis failed.
        """
        with self._errors:
            self._client.publish(self._channel, message)

    @property
    def listener_group(self) -> object:
        """The client's connection pool: stores over one pool share a listener."""
        return getattr(self._client, "connection_pool", self._client)

    def subscribe(self, channels: Collection[str] = ()) -> RedisSubscription:
        """Subscribe to ``channels`` (default: :attr:`channel`) on one connection.

        Raises:
            TierError: Redis cannot be reached.
        """
        wanted = list(channels) or [self._channel]
        with self._errors:
            pubsub = cast("Any", self._client).pubsub()
            try:
                pubsub.subscribe(*wanted)
                # redis-py reconnects and resubscribes a PubSub silently when
                # its connection may retry; messages sent meanwhile would be
                # lost unnoticed. With no retries a drop surfaces as an error,
                # and the cache's listener drops its local copies.
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                connection = getattr(pubsub, "connection", None)
                if connection is not None:
                    connection.retry = Retry(NoBackoff(), 0)
            except BaseException:
                pubsub.close()
                raise
        return RedisSubscription(pubsub, self._errors)

    def generations(self, key: str, tags: Collection[str]) -> list[bytes | None]:
        """Return the generations guarding ``key``: global, key, then tags (one MGET).

        Raises:
            TierError: Redis failed.
        """
        names = [self._gall, self._gkbase + key, *(self._gtbase + t for t in tags)]
        with self._errors:
            return cast("list[bytes | None]", self._client.mget(names))

    def set_if_current(
        self,
        key: str,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        token: Sequence[object],
    ) -> bool:
        """Store like :meth:`set`, atomically, only if no generation moved.

        Args:
            key: A cache key.
            data: Envelope bytes.
            ttl: Seconds until expiry, ``None`` for none.
            tags: The entry's tags, in the order given to :meth:`generations`.
            token: What :meth:`generations` returned before the load.

        Returns:
            Whether the entry was stored.

        Raises:
            TierError: Redis failed.
        """
        tag_list = list(tags)
        names = [self._gall, self._gkbase + key, *(self._gtbase + t for t in tag_list)]
        if len(token) != len(names):
            raise ValueError("token does not match the key's generations")
        keys, args = self._store_call([StoreItem(key, data, ttl, tag_list)])
        expected = [b"" if value is None else cast("bytes", value) for value in token]
        with self._errors:
            stored = self._cas_script(
                keys=[*names, *keys], args=[len(names), *expected, *args]
            )
        return bool(stored)

    def swap(
        self,
        key: str,
        expected: Stored | None,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool = False,
    ) -> bool:
        """Store like :meth:`set`, atomically, only if the value is still ``expected``.

        One script call: ``GET`` compared with ``expected`` (``None``: the key
        must be absent; Redis drops expired keys itself), then the same write
        as :meth:`set`, tag sets included.

        Returns:
            Whether ``data`` was stored.

        Raises:
            TierError: Redis failed.
        """
        if isinstance(expected, NativeNegative):
            return False  # never stored here: this store returns bytes only
        keys, args = self._store_call([StoreItem(key, data, ttl, tags)])
        head: list[str | bytes | int] = (
            ["0", b""] if expected is None else ["1", expected]
        )
        with self._errors:
            stored = self._swap_script(keys=keys, args=[*head, *args])
        return bool(stored)

    def acquire_lock(self, key: str, token: str, lease: float) -> bool:
        """Take ``key``'s lock for ``lease`` seconds (``SET NX PX``).

        Raises:
            TierError: Redis failed.
        """
        with self._errors:
            taken = self._client.set(
                self._lbase + key, token, nx=True, px=max(1, int(lease * 1000))
            )
        return bool(taken)

    def release_lock(self, key: str, token: str) -> bool:
        """Release ``key``'s lock if ``token`` still holds it.

        Raises:
            TierError: Redis failed.
        """
        with self._errors:
            released = self._release_script(keys=[self._lbase + key], args=[token])
        return bool(released)
