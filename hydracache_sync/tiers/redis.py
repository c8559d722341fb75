"""RedisStore: the shared tier on Redis, with tag sets; sole importer of redis.

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

import contextlib
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from hydracache_sync.errors import (
    ConfigError,
    MissingDependencyError,
    TierError,
    TierTimeoutError,
    TierUnavailableError,
)
from hydracache_sync.tiers._usage import RedisUsage
from hydracache_sync.tiers.base import (
    BaseTier,
    Event,
    NativeNegative,
    Stored,
    StoreItem,
)

if TYPE_CHECKING:
    import redis
    import redis.cluster
    from redis.commands.core import Script

    RedisClient = redis.Redis | redis.cluster.RedisCluster

__all__ = ["RedisStore"]

_MISSING_REDIS = "RedisStore needs redis-py: pip install 'hydracache_sync[redis]'"
_SCAN_COUNT = 1000
_BATCH = 1000
_GLOB_SPECIAL = frozenset("\\*?[]")

# Store items: for each item the value key, its side record, then one tag set per
# tag in KEYS; ARGV[1] is the tag-set base, ARGV[2] the side-record base, then per
# item its member name, data, ttl in ms (0: none), tag count and the tags.
_STORE_FUNCTION = """
local function store(KEYS, ARGV)
local tbase, kbase = ARGV[1], ARGV[2]
local a, k = 3, 1
while a <= #ARGV do
  local member, data = ARGV[a], ARGV[a + 1]
  local ttl, n = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local vkey, skey = KEYS[k], KEYS[k + 1]
  a = a + 4
  k = k + 2
  local keep = {}
  for i = 0, n - 1 do keep[ARGV[a + i]] = true end
  for _, old in ipairs(redis.call('SMEMBERS', skey)) do
    if not keep[old] then redis.call('SREM', tbase .. old, member) end
  end
  redis.call('DEL', skey)
  if ttl > 0 then
    redis.call('SET', vkey, data, 'PX', ttl)
  else
    redis.call('SET', vkey, data)
  end
  if n > 0 then
    for i = 0, n - 1 do
      local tkey = KEYS[k + i]
      redis.call('SADD', skey, ARGV[a + i])
      local left = redis.call('PTTL', tkey)
      redis.call('SADD', tkey, member)
      if ttl == 0 then
        if left >= 0 then redis.call('PERSIST', tkey) end
      elseif left == -2 or (left >= 0 and left < ttl) then
        redis.call('PEXPIRE', tkey, ttl)
      end
    end
    if ttl > 0 then redis.call('PEXPIRE', skey, ttl) end
    for i = 0, n - 1 do
      local tag, tkey = ARGV[a + i], KEYS[k + i]
      for _, m in ipairs(redis.call('SRANDMEMBER', tkey, 2)) do
        if redis.call('SISMEMBER', kbase .. m, tag) == 0 then
          redis.call('SREM', tkey, m)
        end
      end
    end
  end
  a = a + n
  k = k + n
end
return 0
end
"""
_SET_SCRIPT = _STORE_FUNCTION + "return store(KEYS, ARGV)\n"

# Check-and-set: KEYS starts with ARGV[1] generation keys whose values must still
# equal ARGV[2..1+g] ('' for absent); the rest of KEYS/ARGV is a store() call.
_SET_IF_CURRENT_SCRIPT = (
    _STORE_FUNCTION
    + """
local g = tonumber(ARGV[1])
for i = 1, g do
  local current = redis.call('GET', KEYS[i]) or ''
  if current ~= ARGV[1 + i] then return 0 end
end
local keys, args = {}, {}
for i = g + 1, #KEYS do keys[#keys + 1] = KEYS[i] end
for i = g + 2, #ARGV do args[#args + 1] = ARGV[i] end
store(keys, args)
return 1
"""
)

# Compare-and-set: ARGV[1] is '0' (store only if absent) or '1' (only if the
# value key still holds ARGV[2]); KEYS and ARGV[3..] are one store() call.
_SWAP_SCRIPT = (
    _STORE_FUNCTION
    + """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
local args = {}
for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
store(KEYS, args)
return 1
"""
)

# Release a lock only while the caller's token holds it.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

#: Generation counters outlive any reasonable load (refreshed on every bump).
_GENERATION_TTL_MS = 3_600_000

# Delete entries: KEYS holds n value keys then their n side records; ARGV[1] is
# the tag-set base, ARGV[2] the key-generation base, ARGV[3] the generation TTL,
# ARGV[4..] the members. Bumps each key's generation. Returns how many value
# keys existed.
_DELETE_SCRIPT = """
local tbase, gbase, gttl = ARGV[1], ARGV[2], ARGV[3]
local n, removed = #KEYS / 2, 0
for i = 1, n do
  local skey = KEYS[n + i]
  local member = ARGV[i + 3]
  redis.call('INCR', gbase .. member)
  redis.call('PEXPIRE', gbase .. member, gttl)
  for _, tag in ipairs(redis.call('SMEMBERS', skey)) do
    redis.call('SREM', tbase .. tag, member)
  end
  redis.call('UNLINK', skey)
  removed = removed + redis.call('UNLINK', KEYS[i])
end
return removed
"""

# Invalidate a tag: KEYS[1] is the tag set; ARGV holds the value-key, side-record
# and tag-set bases and the tag. A member counts only while its side record still
# lists the tag, so stale members never remove a re-tagged entry.
_INVALIDATE_TAG_SCRIPT = """
local vbase, kbase, tbase, tag = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('INCR', ARGV[5])
redis.call('PEXPIRE', ARGV[5], ARGV[6])
local removed = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local skey = kbase .. m
  if redis.call('SISMEMBER', skey, tag) == 1 then
    for _, other in ipairs(redis.call('SMEMBERS', skey)) do
      if other ~= tag then redis.call('SREM', tbase .. other, m) end
    end
    redis.call('UNLINK', skey)
    removed = removed + redis.call('UNLINK', vbase .. m)
  end
end
redis.call('UNLINK', KEYS[1])
return removed
"""


def _import_redis() -> Any:
    """Import redis-py, or raise the error that names the extra to install."""
    try:
        import redis
        import redis.cluster
        import redis.exceptions
    except ImportError as exc:
        raise MissingDependencyError(_MISSING_REDIS) from exc
    return redis


def _glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so ``text`` matches only itself."""
    return "".join("\\" + char if char in _GLOB_SPECIAL else char for char in text)


def _hash_tag_span(text: str) -> bool:
    """Tell whether ``text`` holds a Redis Cluster hash tag (``{...}``, non-empty)."""
    start = text.find("{")
    if start < 0:
        return False
    end = text.find("}", start + 1)
    return end > start + 1


def _ttl_ms(ttl: float | None) -> int:
    """Convert a ttl in seconds to whole milliseconds; ``0`` means no expiry."""
    if ttl is None or ttl == math.inf:
        return 0
    return max(1, round(ttl * 1000))


class _ErrorMap:
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


class RedisStore(BaseTier):
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
        redis_module = _import_redis()
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError("RedisStore prefix must be a non-empty str")
        if _hash_tag_span(prefix):
            base = prefix
        elif "{" in prefix or "}" in prefix:
            raise ConfigError(
                f"RedisStore prefix {prefix!r} has braces that are not a "
                "Redis Cluster hash tag ('{tag}' with a non-empty tag)"
            )
        else:
            base = f"{prefix}{{{prefix}}}"
        if _decodes_responses(client):
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
        self._errors = _ErrorMap(redis_module, name)
        # Bound once: the hot path is one attribute load and one call.
        self._raw_get = cast("Callable[[str], bytes | None]", client.get)
        self._set_script: Script = client.register_script(_SET_SCRIPT)
        self._delete_script: Script = client.register_script(_DELETE_SCRIPT)
        self._tag_script: Script = client.register_script(_INVALIDATE_TAG_SCRIPT)
        self._cas_script: Script = client.register_script(_SET_IF_CURRENT_SCRIPT)
        self._release_script: Script = client.register_script(_RELEASE_SCRIPT)
        self._swap_script: Script = client.register_script(_SWAP_SCRIPT)

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
        redis_module = _import_redis()
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
            args.extend((key, data, _ttl_ms(ttl), len(tag_list)))
            args.extend(tag_list)
        return keys, args

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
                args=[self._tbase, self._gkbase, _GENERATION_TTL_MS, *members],
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
                    _GENERATION_TTL_MS,
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
        match = _glob_escape(self._vbase) + "*".join(
            _glob_escape(part) for part in pattern.split("*")
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
        match = _glob_escape(self._vbase[: -len("v:")]) + "[vkt]:*"
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
        pipe.pexpire(self._gall, _GENERATION_TTL_MS)
        pipe.execute()

    # -- coherence across processes (Broadcaster, Versioned, Locking) ---------

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

    # -- administration -----------------------------------------------------------

    def usage(self, sample: int = 1000) -> RedisUsage:
        """Count this store's keys with ``SCAN`` and measure their memory.

        Every key of the store (values, tag records, tag sets) is counted;
        ``MEMORY USAGE`` runs on the first ``sample`` keys ``SCAN`` returns
        (``SCAN`` order follows the hash table, so it is an unbiased sample).
        With more keys than that, the memory is the sample's mean times the
        key count, and ``memory_exact`` is false.

        Args:
            sample: How many keys to measure with ``MEMORY USAGE`` (>= 0).

        Raises:
            ConfigError: ``sample`` is negative.
            TierError: Redis failed.

        .. versionadded:: 0.2
        """
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
            raise ConfigError(f"sample must be an int >= 0, not {sample!r}")
        base = self._vbase[: -len("v:")]
        skip = len(base.encode())
        counts = {b"v": 0, b"k": 0, b"t": 0}
        measured: list[bytes] = []
        with self._errors:
            for batch in self._scan(_glob_escape(base) + "[vkt]:*"):
                for raw in batch:
                    marker = raw[skip : skip + 1]
                    counts[marker] = counts.get(marker, 0) + 1
                    if len(measured) < sample:
                        measured.append(raw)
            sizes = self._memory_usage(measured)
        keys = sum(counts.values())
        known = [size for size in sizes if size is not None]
        if keys == 0:
            memory: int | None = 0
        elif not known:
            memory = None  # MEMORY USAGE refused (ACL, renamed command) or sample 0
        elif len(measured) == keys:
            memory = sum(known)
        else:
            memory = round(sum(known) / len(known) * keys)
        return RedisUsage(
            entries=counts[b"v"],
            tagged_entries=counts[b"k"],
            tag_sets=counts[b"t"],
            keys=keys,
            memory_bytes=memory,
            memory_exact=memory is not None and len(measured) == keys,
            memory_sampled_keys=len(known),
        )

    def _memory_usage(self, keys: Sequence[bytes]) -> list[int | None]:
        """Return ``MEMORY USAGE`` per key (``None`` for a key gone meanwhile)."""
        refused = _import_redis().exceptions.ResponseError
        sizes: list[int | None] = []
        for start in range(0, len(keys), 500):
            pipe = self._client.pipeline(transaction=False)
            for key in keys[start : start + 500]:
                pipe.memory_usage(key)
            try:
                sizes.extend(pipe.execute())
            except refused:
                return []  # the command is not allowed here: memory unknown
        return sizes

    def _scan(self, match: str) -> Iterator[list[bytes]]:
        """Yield the keys matching ``match`` in batches (every cluster primary)."""
        batch: list[bytes] = []
        for raw in self._client.scan_iter(match=match, count=_SCAN_COUNT):
            batch.append(raw)
            if len(batch) >= _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

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


class RedisSubscription:
    """A pub/sub subscription; redis errors surface as TierError."""

    def __init__(self, pubsub: Any, errors: _ErrorMap) -> None:
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


def _decodes_responses(client: Any) -> bool:
    """Tell whether ``client`` decodes replies to ``str`` (unknown: no)."""
    get_kwargs = getattr(client, "get_connection_kwargs", None)
    kwargs = get_kwargs() if callable(get_kwargs) else None
    return bool(isinstance(kwargs, dict) and kwargs.get("decode_responses"))
