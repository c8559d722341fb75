"""RedisStore: the shared tier on Redis, with tag sets (helpers: tiers/_redis_*).

Key layout
----------
Every key a store writes starts with its ``prefix`` followed by a Redis Cluster
hash tag built from the prefix (the *base*), e.g. for ``prefix="hc:"``::

    hc:{hc:}v:<key>     the value: opaque envelope bytes, expiring with PX
    hc:{hc:}k:<key>     side record: a set of the key's current tags (same expiry)
    hc:{hc:}t:<tag>     tag set: the keys carrying ``<tag>``

Names under ``<prefix>`` that do not start with the hash tag (for instance an
invalidation pub/sub channel ``<prefix>events``) are reserved for future use.
If the prefix already holds a hash tag (``"{app}:cache:"``), it is the base as
it is and the user's hash tag picks the slot.

Trade-off: because every key of one store shares one hash tag, the whole cache
of a prefix lives in one hash slot, hence on one node of a Redis Cluster. That
is what lets a single Lua script update a value and its tag sets atomically on
a cluster. Spread a large cache over several nodes with several stores (one
prefix each). Prefixes of different stores should not nest; the ``v:`` marker
and the hash tag keep ``clear()`` of ``"hc:"`` away from the keys of
``"hc:x:"``, but a prefix crafted to look like another store's base is not
guarded against.

Tag sets and their expiry
-------------------------
A tag set's expiry is raised to the longest TTL of the entries added to it, and
the set is made persistent when an entry without expiry joins; it never
expires before a live member. Members whose entry is gone (expired, deleted,
overwritten with other tags) are harmless: ``invalidate_tag`` only removes a
member whose side record still lists the tag. Each write into a tag set also
samples two random members and drops the stale ones, so even a persistent tag
set stays within a small factor of its live members.

Needs Redis >= 4.0 (``UNLINK``); tested on Redis 7, standalone and Cluster.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from hydracache_sync.errors import (
    ConfigError,
)
from hydracache_sync.tiers._redis_coherence import RedisCoherence
from hydracache_sync.tiers._redis_scripts import (
    DELETE_SCRIPT,
    GENERATION_TTL_MS,
    INVALIDATE_TAG_SCRIPT,
    RELEASE_SCRIPT,
    SET_IF_CURRENT_SCRIPT,
    SET_SCRIPT,
    SWAP_SCRIPT,
)
from hydracache_sync.tiers._redis_support import (
    ErrorMap,
    RedisSubscription,
    decodes_responses,
    glob_escape,
    hash_tag_span,
    import_redis,
)
from hydracache_sync.tiers._redis_usage import RedisAdmin
from hydracache_sync.tiers.base import (
    BaseTier,
    Stored,
    StoreItem,
)

if TYPE_CHECKING:
    import redis
    import redis.cluster
    from redis.commands.core import Script

    RedisClient = redis.Redis | redis.cluster.RedisCluster

__all__ = ["RedisStore", "RedisSubscription"]


class RedisStore(RedisCoherence, RedisAdmin, BaseTier):
    """The shared tier on Redis (standalone or Cluster) through redis-py.

    Values are the cache's opaque envelope bytes; the store never decodes them.
    Thread-safe: one store (and one redis-py client with its connection pool) is
    shared by all threads. Every redis-py exception is mapped to
    :class:`~hydracache_sync.errors.TierError` (``TierTimeoutError`` for
    timeouts, ``TierUnavailableError`` when the server cannot be reached),
    chained with ``from``.

    Args:
        client: A ``redis.Redis`` or ``redis.cluster.RedisCluster`` client with
            ``decode_responses=False`` (the default). The caller keeps ownership:
            :meth:`close` does not close it.
        prefix: Start of every key this store writes; non-empty. Stores with
            different prefixes never see each other's entries.
        name: The tier's name in errors and logs.

    Raises:
        MissingDependencyError: redis-py is not installed.
        ConfigError: The prefix is empty or has unbalanced braces, or the
            client decodes responses to ``str``.

    Example::

        store = RedisStore(redis.Redis(), prefix="myapp:")
        cache = HydraCache(shared=store)

    .. versionadded:: 0.1
    """

    name = "redis"
    trusted = False

    def __init__(
        self, client: RedisClient, *, prefix: str = "hc:", name: str = "redis"
    ) -> None:
        redis_module = import_redis()
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError("RedisStore prefix must be a non-empty str")
        if hash_tag_span(prefix):
            base = prefix
        elif "{" in prefix or "}" in prefix:
            raise ConfigError(
                f"RedisStore prefix {prefix!r} has braces that are not a "
                "Redis Cluster hash tag ('{tag}' with a non-empty tag)"
            )
        else:
            base = f"{prefix}{{{prefix}}}"
        if decodes_responses(client):
            raise ConfigError(
                "RedisStore needs a client with decode_responses=False "
                "(values are bytes)"
            )
        self.name = name
        self._client = client
        self._owns_client = False
        self._closed = False
        self._prefix = prefix
        self._vbase = base + "v:"
        self._kbase = base + "k:"
        self._tbase = base + "t:"
        self._gkbase = base + "g:k:"  # generation of a key (bumped by delete)
        self._gtbase = base + "g:t:"  # generation of a tag
        self._gall = base + "g:*"  # global generation (patterns, clear)
        self._lbase = base + "l:"  # distributed single-flight locks
        self._channel = prefix + "events"
        self._errors = ErrorMap(redis_module, name)
        # Bound once: the hot path is one attribute load and one call.
        self._raw_get = cast("Callable[[str], bytes | None]", client.get)
        self._set_script: Script = client.register_script(SET_SCRIPT)
        self._delete_script: Script = client.register_script(DELETE_SCRIPT)
        self._tag_script: Script = client.register_script(INVALIDATE_TAG_SCRIPT)
        self._cas_script: Script = client.register_script(SET_IF_CURRENT_SCRIPT)
        self._release_script: Script = client.register_script(RELEASE_SCRIPT)
        self._swap_script: Script = client.register_script(SWAP_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "hc:",
        socket_timeout: float = 1.0,
        socket_connect_timeout: float = 1.0,
        name: str = "redis",
        **kwargs: Any,
    ) -> RedisStore:
        """Build a store on its own ``redis.Redis`` client (and connection pool).

        The store owns that client: :meth:`close` disconnects it. Unless
        ``retry`` is given, a command is retried once, at once, after a
        connection error (a pooled socket the server dropped, e.g. after a
        restart) and never after a timeout, so a dead or slow server fails
        fast and the cache degrades instead of stalling. There is no health
        check by default (``health_check_interval=0``): it would cost a PING
        after idle periods, and the retry already replaces a dead socket.

        Args:
            url: A redis-py URL, e.g. ``redis://127.0.0.1:6379/0``.
            prefix: See :class:`RedisStore`.
            socket_timeout: Seconds to wait for a reply.
            socket_connect_timeout: Seconds to wait for a connection.
            name: See :class:`RedisStore`.
            **kwargs: Passed to ``redis.Redis.from_url`` (e.g. ``max_connections``,
                ``health_check_interval``, ``retry``).

        Returns:
            A store that owns its client.

        Raises:
            MissingDependencyError: redis-py is not installed.
            ConfigError: The URL or an option is invalid.
        """
        redis_module = import_redis()
        if "retry" not in kwargs:
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            kwargs["retry"] = Retry(
                NoBackoff(), 1, supported_errors=(redis_module.ConnectionError,)
            )
        try:
            client = redis_module.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_connect_timeout,
                **kwargs,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"invalid Redis URL or option: {exc}") from exc
        try:
            store = cls(client, prefix=prefix, name=name)
        except BaseException:
            client.close()
            raise
        store._owns_client = True
        return store

    @property
    def prefix(self) -> str:
        """The prefix given at construction."""
        return self._prefix

    @property
    def client(self) -> RedisClient:
        """The redis-py client this store talks through."""
        return self._client

    def value_key(self, key: str) -> str:
        """Return the Redis key that holds ``key``'s envelope bytes.

        Args:
            key: A cache key.

        Returns:
            The full Redis key, e.g. ``"hc:{hc:}v:users:1"``.
        """
        return self._vbase + key

    def get(self, key: str) -> bytes | None:
        """Return the bytes stored for ``key``: one plain ``GET``.

        Args:
            key: A cache key.

        Returns:
            The stored bytes, or ``None`` when absent or expired.

        Raises:
            TierError: Redis failed (see the class docs for subclasses).
        """
        # try/except rather than ``with self._errors``: free when nothing
        # fails, where the context manager costs two calls per read.
        try:
            return self._raw_get(self._vbase + key)
        except self._errors.base as exc:
            raise self._errors.mapped(exc) from exc

    def get_many(self, keys: Sequence[str]) -> list[Stored | None]:
        """Return one entry per key, in order, with one ``MGET``.

        Args:
            keys: Cache keys.

        Returns:
            The stored bytes or ``None`` per key.

        Raises:
            TierError: Redis failed.
        """
        if not keys:
            return []
        vbase = self._vbase
        try:
            values = self._client.mget([vbase + key for key in keys])
        except self._errors.base as exc:
            raise self._errors.mapped(exc) from exc
        return cast("list[Stored | None]", values)

    def set(
        self,
        key: str,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool = False,
    ) -> None:
        """Store ``data`` with its tags in one atomic script call.

        Args:
            key: A cache key.
            data: Envelope bytes.
            ttl: Seconds until expiry (at least 1 ms), ``None`` for none.
            tags: The entry's tags; an overwrite leaves its old tags' sets.
            negative: Ignored: Redis stores every entry as its bytes.

        Raises:
            TierError: Redis failed.
        """
        self._store([StoreItem(key, data, ttl, tags)])

    def set_many(self, items: Sequence[StoreItem]) -> None:
        """Store several entries in one atomic script call (one round trip).

        Args:
            items: The entries.

        Raises:
            TierError: Redis failed.
        """
        if items:
            self._store(items)

    def _store(self, items: Iterable[StoreItem]) -> None:
        keys, args = self._store_call(items)
        with self._errors:
            self._set_script(keys=keys, args=args)

    def delete(self, key: str) -> bool:
        """Remove ``key`` and its tag bookkeeping in one script call.

        Args:
            key: A cache key.

        Returns:
            Whether the value existed.

        Raises:
            TierError: Redis failed.
        """
        return self._delete([key]) == 1

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove several keys in one script call.

        Args:
            keys: Cache keys.

        Returns:
            How many of them existed.

        Raises:
            TierError: Redis failed.
        """
        return self._delete(list(dict.fromkeys(keys))) if keys else 0

    def _delete(self, members: Sequence[str | bytes]) -> int:
        vbase, kbase = self._vbase, self._kbase
        if members and isinstance(members[0], bytes):
            vraw, kraw = vbase.encode(), kbase.encode()
            raw = cast("Sequence[bytes]", members)
            keys: list[str | bytes] = [vraw + m for m in raw]
            keys.extend(kraw + m for m in raw)
        else:
            text = cast("Sequence[str]", members)
            keys = [vbase + m for m in text]
            keys.extend(kbase + m for m in text)
        with self._errors:
            removed = self._delete_script(
                keys=keys,
                args=[self._tbase, self._gkbase, GENERATION_TTL_MS, *members],
            )
        return int(removed)

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag``, atomically, without a scan.

        Args:
            tag: The tag.

        Returns:
            How many existing entries were removed.

        Raises:
            TierError: Redis failed.
        """
        with self._errors:
            removed = self._tag_script(
                keys=[self._tbase + tag],
                args=[
                    self._vbase,
                    self._kbase,
                    self._tbase,
                    tag,
                    self._gtbase + tag,
                    GENERATION_TTL_MS,
                ],
            )
        return int(removed)

    def invalidate_pattern(self, pattern: str) -> int:
        """Remove every key matching ``pattern`` (``SCAN`` + batched deletes).

        ``*`` matches any run of characters, ``:`` included; every other
        character is literal (Redis glob metacharacters are escaped). A pattern
        without ``*`` is one key and costs one delete.

        Args:
            pattern: A ``*`` wildcard pattern over cache keys.

        Returns:
            How many existing entries were removed.

        Raises:
            TierError: Redis failed.
        """
        if "*" not in pattern:
            return int(self.delete(pattern))
        match = glob_escape(self._vbase) + "*".join(
            glob_escape(part) for part in pattern.split("*")
        )
        skip = len(self._vbase.encode())
        removed = 0
        with self._errors:
            self._bump_global()
            for batch in self._scan(match):
                removed += self._delete([raw[skip:] for raw in batch])
        return removed

    def clear(self) -> int:
        """Remove every key of this store (its prefix's base only).

        The invalidation generations (``g:`` keys) stay, bumped: removing them
        would reset the counters a load in flight compares against. They
        expire an hour after their last bump.

        Returns:
            How many existing entries were removed.

        Raises:
            TierError: Redis failed.
        """
        vraw = self._vbase.encode()
        # Only the three markers: a nested prefix's keys never match.
        match = glob_escape(self._vbase[: -len("v:")]) + "[vkt]:*"
        removed = 0
        with self._errors:
            self._bump_global()
            for batch in self._scan(match):
                values = [raw for raw in batch if raw.startswith(vraw)]
                others = [raw for raw in batch if not raw.startswith(vraw)]
                if values:
                    removed += int(self._client.unlink(*values))
                if others:
                    self._client.unlink(*others)
        return removed

    def bump_generation(self) -> None:
        """Bump the global generation: every load in flight will not store.

        What a clear does to loads in flight, without removing anything: the
        cache calls it when invalidations meant for this tier were lost.

        Raises:
            TierError: Redis failed.
        """
        with self._errors:
            self._bump_global()

    def _bump_global(self) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.incr(self._gall)
        pipe.pexpire(self._gall, GENERATION_TTL_MS)
        pipe.execute()

    def close(self) -> None:
        """Disconnect the client when this store built it (``from_url``).

        A client passed to the constructor belongs to the caller and stays open.
        Closing twice is harmless.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            with self._errors:
                self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self._prefix!r}, name={self.name!r})"
