"""Test helpers for users and for this package: the tier and cache contract suites.

``TierContract`` is a mixin in the style of cachetools' ``CacheTestMixin``:
subclass it in a pytest test class and provide a ``tier`` fixture returning a
fresh, empty :class:`~hydracache_sync.tiers.base.RemoteTier`.

``CacheContract`` (every tier stack) and ``SharedCacheContract`` (stacks with a
remote tier), in the style of dogpile's ``_GenericBackendTestSuite``, need a
``stack`` fixture returning a :class:`Stack`: the local tier plus one
:class:`TierProbe` per remote tier. Their caches share a :class:`FakeClock`, so
expiry is tested by advancing it, never by sleeping. This module does not
import pytest at module level.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any

from ._contract import CacheContract, FakeClock, SharedCacheContract, Stack, TierProbe
from .errors import TierUnavailableError
from .tiers.base import (
    BaseTier,
    NativeNegative,
    RemoteTier,
    Stored,
    StoreItem,
    Swapping,
    wildcard_regex,
)

__all__ = [
    "CacheContract",
    "FakeClock",
    "MemoryTier",
    "SharedCacheContract",
    "Stack",
    "TierContract",
    "TierProbe",
]


class MemoryTier(BaseTier):
    """An in-process remote tier for tests: bytes in a dict, real TTLs and tags.

    Set ``down = True`` to make every call fail with ``TierUnavailableError``,
    as a dead server would. ``calls`` counts the calls that reached it. A
    ``trusted`` tier keeps an entry written with ``negative=True`` as a
    :class:`~hydracache_sync.tiers.base.NativeNegative`, as Postgres does.
    """

    def __init__(self, name: str = "memory", *, trusted: bool = False) -> None:
        self.name = name
        self.trusted = trusted
        self.down = False
        self.calls = 0
        self._lock = threading.Lock()
        self._data: dict[str, tuple[Stored, float | None, frozenset[str]]] = {}

    def _enter(self) -> None:
        self.calls += 1
        if self.down:
            raise TierUnavailableError("memory tier is down", tier=self.name)

    def _live(self, key: str) -> tuple[Stored, float | None, frozenset[str]] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    def get(self, key: str) -> Stored | None:
        """Return the stored entry or None."""
        self._enter()
        with self._lock:
            item = self._live(key)
        return None if item is None else item[0]

    def _stored(
        self, data: bytes, ttl: float | None, tags: Collection[str], negative: bool
    ) -> tuple[Stored, float | None, frozenset[str]]:
        deadline = None if ttl is None else time.monotonic() + ttl
        if negative and self.trusted:
            expires_at = None if ttl is None else time.time() + ttl
            return NativeNegative(expires_at, tuple(tags)), deadline, frozenset(tags)
        return data, deadline, frozenset(tags)

    def set(
        self,
        key: str,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool = False,
    ) -> None:
        """Store bytes with a ttl and tags."""
        self._enter()
        with self._lock:
            self._data[key] = self._stored(data, ttl, tags, negative)

    def swap(
        self,
        key: str,
        expected: Stored | None,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool = False,
    ) -> bool:
        """Store only if the stored entry still equals ``expected`` (None: absent)."""
        self._enter()
        with self._lock:
            item = self._live(key)
            if (None if item is None else item[0]) != expected:
                return False
            self._data[key] = self._stored(data, ttl, tags, negative)
        return True

    def ttl_of(self, key: str) -> float | None:
        """Seconds left for ``key`` (None: no expiry); for placement tests."""
        with self._lock:
            item = self._live(key)
        if item is None:
            raise KeyError(key)
        return None if item[1] is None else item[1] - time.monotonic()

    def delete(self, key: str) -> bool:
        """Remove one key."""
        self._enter()
        with self._lock:
            return self._live(key) is not None and bool(self._data.pop(key))

    def _remove_where(self, match: Any) -> int:
        with self._lock:
            doomed = [k for k in list(self._data) if self._live(k) and match(k)]
            for key in doomed:
                del self._data[key]
        return len(doomed)

    def invalidate_tag(self, tag: str) -> int:
        """Remove entries carrying ``tag``."""
        self._enter()
        return self._remove_where(lambda k: tag in self._data[k][2])

    def invalidate_pattern(self, pattern: str) -> int:
        """Remove keys matching the wildcard."""
        self._enter()
        regex = wildcard_regex(pattern)
        return self._remove_where(lambda k: regex.fullmatch(k) is not None)

    def clear(self) -> int:
        """Remove everything."""
        self._enter()
        return self._remove_where(lambda k: True)

    def keys(self) -> list[str]:
        """The live keys (for assertions)."""
        with self._lock:
            return [k for k in list(self._data) if self._live(k)]


class TierContract:
    """Behaviour every remote tier must show; needs a ``tier`` fixture."""

    def test_missing_key_is_none(self, tier: RemoteTier) -> None:
        """A key never stored reads as ``None``."""
        assert tier.get("absent") is None

    def test_set_then_get_round_trips_bytes(self, tier: RemoteTier) -> None:
        """Bytes come back exactly, binary and empty included."""
        tier.set("a", b"\x00\xffdata", None, ())
        tier.set("empty", b"", None, ())
        assert tier.get("a") == b"\x00\xffdata"
        assert tier.get("empty") == b""

    def test_overwrite_replaces(self, tier: RemoteTier) -> None:
        """A second set of the same key replaces the first."""
        tier.set("a", b"1", None, ())
        tier.set("a", b"2", None, ())
        assert tier.get("a") == b"2"

    def test_ttl_expires(self, tier: RemoteTier) -> None:
        """An entry with a ttl is gone after it."""
        tier.set("short", b"x", 0.2, ())
        tier.set("long", b"y", 60, ())
        assert tier.get("short") == b"x"
        time.sleep(0.35)
        assert tier.get("short") is None
        assert tier.get("long") == b"y"

    def test_delete(self, tier: RemoteTier) -> None:
        """Delete removes the key and tells whether it existed."""
        tier.set("a", b"1", None, ())
        assert tier.delete("a") is True
        assert tier.delete("a") is False
        assert tier.get("a") is None

    def test_many(self, tier: RemoteTier) -> None:
        """Batch forms keep order and report missing keys as ``None``."""
        tier.set_many(
            [StoreItem("k1", b"1", None, ("t",)), StoreItem("k2", b"2", 60, ())]
        )
        assert tier.get_many(["k1", "nope", "k2"]) == [b"1", None, b"2"]
        assert tier.get_many([]) == []
        assert tier.delete_many(["k1", "k2", "nope"]) == 2
        assert tier.invalidate_tag("t") == 0

    def test_invalidate_tag(self, tier: RemoteTier) -> None:
        """Only entries carrying the tag go; the count is returned."""
        tier.set("u1", b"1", None, ("user:1", "users"))
        tier.set("u2", b"2", 60, ("user:2", "users"))
        tier.set("other", b"3", None, ("misc",))
        assert tier.invalidate_tag("user:1") == 1
        assert tier.get("u1") is None
        assert tier.get("u2") == b"2"
        assert tier.invalidate_tag("users") == 1
        assert tier.get("u2") is None
        assert tier.get("other") == b"3"

    def test_retag_on_overwrite(self, tier: RemoteTier) -> None:
        """An overwrite with other tags is not removed by the old tag."""
        tier.set("k", b"1", None, ("old",))
        tier.set("k", b"2", None, ("new",))
        tier.invalidate_tag("old")
        assert tier.get("k") == b"2"
        tier.invalidate_tag("new")
        assert tier.get("k") is None

    def test_wildcard(self, tier: RemoteTier) -> None:
        """``*`` matches any run, ``:`` included; other keys stay."""
        for key in ["users:1", "users:1:posts:2", "users:12", "usersX", "teams:1"]:
            tier.set(key, b"v", None, ())
        assert (
            tier.invalidate_pattern("users:1:*") + tier.invalidate_pattern("users:1")
            == 2
        )
        assert tier.get("users:12") == b"v"
        assert tier.invalidate_pattern("users*") == 2
        assert tier.get_many(["usersX", "teams:1"]) == [None, b"v"]

    def test_metacharacters_are_literal(self, tier: RemoteTier) -> None:
        """Glob and LIKE metacharacters in keys never act as patterns."""
        keys = ["a[b]c", "a?c", "a%c", "a_c", "a\\c", "abc", "axc"]
        for key in keys:
            tier.set(key, key.encode(), None, ())
        for key in keys[:5]:
            assert tier.invalidate_pattern(key) == 1, key
        assert tier.get_many(keys) == [None] * 5 + [b"abc", b"axc"]
        assert tier.invalidate_pattern("a_*") == 0
        assert tier.invalidate_pattern("a*c") == 2

    def test_negative_flag(self, tier: RemoteTier) -> None:
        """negative=True: the bytes back, or (trusted tiers) a NativeNegative."""
        tier.set("n", b"negative", None, ("t",), True)
        back = tier.get("n")
        if isinstance(back, NativeNegative):
            assert tier.trusted
            assert (None, ("t",)) == (back.expires_at, back.tags)
        else:
            assert b"negative" == back

    def test_clear(self, tier: RemoteTier) -> None:
        """Clear removes every entry of this tier and reports the count."""
        tier.set("a", b"1", None, ("t",))
        tier.set("b", b"2", 60, ())
        assert tier.clear() == 2
        assert tier.get_many(["a", "b"]) == [None, None]
        assert tier.invalidate_tag("t") == 0

    def test_unicode_keys_and_tags(self, tier: RemoteTier) -> None:
        """Non-ASCII keys and tags work like any other."""
        tier.set("clé:ü", b"1", None, ("étiquette",))
        assert tier.get("clé:ü") == b"1"
        assert tier.invalidate_tag("étiquette") == 1

    # -- compare-and-set (the optional Swapping capability) -----------------------

    @staticmethod
    def _swapping(tier: RemoteTier) -> Swapping:
        if not isinstance(tier, Swapping):
            import pytest

            pytest.skip(f"{tier.name} does not offer swap()")
        return tier

    def test_swap_if_absent(self, tier: RemoteTier) -> None:
        """``expected=None`` stores only when the key is absent."""
        swapping = self._swapping(tier)
        assert swapping.swap("k", None, b"1", None, ("t",)) is True
        assert swapping.swap("k", None, b"2", None, ()) is False
        assert tier.get("k") == b"1"
        assert tier.invalidate_tag("t") == 1

    def test_swap_if_unchanged(self, tier: RemoteTier) -> None:
        """A swap needs the bytes read; a stale or missing ``expected`` fails."""
        swapping = self._swapping(tier)
        tier.set("k", b"old", 60, ())
        assert swapping.swap("k", b"other", b"new", 60, ()) is False
        assert swapping.swap("k", b"old", b"new", 60, ("t",)) is True
        assert swapping.swap("k", b"old", b"newer", 60, ()) is False
        assert tier.get("k") == b"new"
        assert swapping.swap("absent", b"old", b"x", 60, ()) is False
        assert tier.get("absent") is None
        assert tier.invalidate_tag("t") == 1

    def test_swap_takes_over_expired(self, tier: RemoteTier) -> None:
        """An expired entry counts as absent; the swap's ttl applies."""
        swapping = self._swapping(tier)
        tier.set("k", b"old", 0.2, ())
        time.sleep(0.35)
        assert swapping.swap("k", None, b"new", 0.3, ()) is True
        assert tier.get("k") == b"new"
        time.sleep(0.45)
        assert tier.get("k") is None

    def test_swap_counter_under_threads(self, tier: RemoteTier) -> None:
        """Read-modify-swap loops in threads lose no update (exact count)."""
        swapping = self._swapping(tier)
        tier.set("n", b"0", None, ())
        threads, rounds = 4, 25

        def work() -> None:
            for _ in range(rounds):
                while True:
                    current = tier.get("n")
                    assert isinstance(current, bytes)
                    following = str(int(current) + 1).encode()
                    if swapping.swap("n", current, following, None, ()):
                        break

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert str(threads * rounds).encode() == tier.get("n")

    def test_close_is_idempotent(self, tier: Any) -> None:
        """Closing twice is harmless (run last: the fixture's tier is closed)."""
        tier.close()
        tier.close()
