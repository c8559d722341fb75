"""RedisStore's administration: what a prefix holds (``hydracache stats``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from hydracache_sync.errors import ConfigError
from hydracache_sync.tiers._redis_support import ErrorMap, glob_escape, import_redis
from hydracache_sync.tiers._usage import RedisUsage

if TYPE_CHECKING:
    import redis
    import redis.cluster

    RedisClient = redis.Redis | redis.cluster.RedisCluster

__all__ = ["RedisAdmin"]

_SCAN_COUNT = 1000
_BATCH = 1000


class RedisAdmin:
    """The administration half of :class:`~hydracache_sync.tiers.redis.RedisStore`.

    A mixin: ``SCAN`` in batches and :meth:`usage`. The store's constructor
    sets the attributes declared here.
    """

    _client: RedisClient
    _errors: ErrorMap
    _vbase: str

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
            for batch in self._scan(glob_escape(base) + "[vkt]:*"):
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
        refused = import_redis().exceptions.ResponseError
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
