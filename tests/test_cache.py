"""HydraCache on the memory default: the flat-key API, TTLs, options and errors."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydracache_sync import (
    MISSING,
    CacheClosedError,
    CacheOptions,
    CodecError,
    ConfigError,
    Expires,
    HydraCache,
    HydraCacheError,
    InvalidKey,
    LocalStore,
    Uncached,
    hydra_cache,
)
from hydracache_sync._codec import _END, CborCodec
from hydracache_sync.testing import FakeClock


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="cache")
def _cache(clock: FakeClock) -> Iterator[HydraCache]:
    cache = HydraCache.local(timer=clock)
    yield cache
    cache.close()


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


class TestGetSet:
    def test_get_missing_returns_default(self, cache: HydraCache) -> None:
        """A missing key gives None or the given default."""
        assert cache.get("nope") is None
        assert cache.get("nope", 7) == 7

    def test_set_then_get(self, cache: HydraCache) -> None:
        """A stored value comes back as the same object (no decode on hit)."""
        value = {"a": [1, 2]}
        cache.set("k", value)
        assert value is cache.get("k")

    def test_cached_none_is_not_a_miss(self, cache: HydraCache) -> None:
        """A cached None is returned as None, not the default."""
        cache.set("k", None)
        assert cache.get("k", "default") is None
        assert "k" in cache

    def test_overwrite(self, cache: HydraCache) -> None:
        """A second set replaces the value."""
        cache.set("k", 1)
        cache.set("k", 2)
        assert cache.get("k") == 2

    def test_aliases(self, cache: HydraCache) -> None:
        """put/remove/invalidate_key/contains_key/flush and the loader aliases work."""
        cache.put("a", 1)
        assert cache.contains_key("a")
        assert cache.contains("a")
        assert cache.remove("a") is True
        cache.put("b", 2)
        assert cache.invalidate_key("b") is True
        assert cache.get_or_set("c", lambda: 3) == 3
        assert cache.get_or_insert_with("c", lambda: 4) == 3
        assert cache.try_get_or_insert_with("c", lambda: 5) == 3
        cache.flush()
        assert "c" not in cache

    def test_delete_reports_presence(self, cache: HydraCache) -> None:
        """delete tells whether the key was there."""
        cache.set("k", 1)
        assert cache.delete("k") is True
        assert cache.delete("k") is False

    def test_get_many_set_many(self, cache: HydraCache) -> None:
        """get_many returns only found keys; set_many stores all."""
        cache.set_many({"a": 1, "b": None, "c": [3]})
        assert cache.get_many(["a", "b", "c", "x"]) == {"a": 1, "b": None, "c": [3]}

    def test_clear(self, cache: HydraCache) -> None:
        """clear empties the cache and reports the count."""
        cache.set_many({"a": 1, "b": 2})
        assert cache.clear() == 2
        assert len(cache) == 0


class TestTTL:
    def test_entry_expires(self, cache: HydraCache, clock: FakeClock) -> None:
        """An entry is served until its ttl, then gone and counted."""
        cache.set("k", 1, ttl=10)
        clock.advance(9.9)
        assert cache.get("k") == 1
        clock.advance(0.2)
        assert cache.get("k") is None
        assert "k" not in cache
        assert cache.stats().expirations == 1

    def test_default_ttl(self, clock: FakeClock) -> None:
        """default_ttl applies when no ttl is given."""
        cache = HydraCache.local(timer=clock, default_ttl=5)
        cache.set("k", 1)
        cache.set("forever", 1, ttl=Expires.NEVER)
        clock.advance(6)
        assert cache.get("k") is None
        assert cache.get("forever") == 1

    def test_ttl_forms(self, cache: HydraCache, clock: FakeClock) -> None:
        """timedelta, Expires.after and CacheOptions ttls all work."""
        cache.set("a", 1, ttl=datetime.timedelta(seconds=5))
        cache.set("b", 1, ttl=Expires.after(minutes=1))
        cache.set("c", 1, options=CacheOptions(ttl=5))
        cache.set("d", 1, options=CacheOptions(ttl=5), ttl=100)
        clock.advance(10)
        assert [cache.get(k) for k in "abcd"] == [None, 1, None, 1]

    def test_contains_removes_expired(
        self, cache: HydraCache, clock: FakeClock
    ) -> None:
        """contains reports an expired entry absent and removes it."""
        cache.set("k", 1, ttl=1)
        clock.advance(2)
        assert "k" not in cache
        assert len(cache) == 0

    def test_expired_entries_are_purged_on_writes(
        self, cache: HydraCache, clock: FakeClock
    ) -> None:
        """Expired entries do not pile up: a later write purges them."""
        for i in range(100):
            cache.set(f"k{i}", i, ttl=1)
        clock.advance(2)
        cache.set("fresh", 1)
        assert len(cache) == 1
        assert cache.stats().expirations == 100

    def test_ttl_zero_stores_nothing(self, cache: HydraCache) -> None:
        """ttl=0 means do not store (and drops an older value)."""
        cache.set("k", 1)
        cache.set("k", 2, ttl=0)
        assert cache.get("k") is None
        assert cache.get_or_load("j", lambda: 3, ttl=0) == 3
        assert "j" not in cache

    def test_uncached_result_is_returned_not_stored(self, cache: HydraCache) -> None:
        """A loader may return Uncached(value): callers get it, nothing is stored."""
        assert 5 == cache.get_or_load("k", lambda: Uncached(5))
        assert "k" not in cache
        assert 6 == cache.get_or_load("k", lambda: 6)
        stats = cache.stats()
        assert (2, 0) == (stats.loads, stats.load_errors)

    def test_negative_ttl(self, cache: HydraCache, clock: FakeClock) -> None:
        """A None result is cached for negative_ttl, values for their ttl."""
        calls = []

        def loader() -> None:
            calls.append(1)

        assert cache.get_or_load("n", loader, ttl=100, negative_ttl=5) is None
        assert cache.get_or_load("n", loader, ttl=100, negative_ttl=5) is None
        assert len(calls) == 1
        clock.advance(6)
        cache.get_or_load("n", loader, ttl=100, negative_ttl=5)
        assert len(calls) == 2


class TestSizes:
    def test_eviction_by_bytes(self, clock: FakeClock) -> None:
        """Over max_bytes entries are evicted, counted exactly; a read one stays.

        Each entry is charged ~1.5 KB (the payload's memory, the key and the
        per-entry overhead), so 6 fit in 10,000 bytes.
        """
        cache = HydraCache.local(max_bytes=10_000, timer=clock)
        payload = b"x" * 950
        for i in range(10):
            cache.set(f"k{i}", payload)
        cache.get("k0")  # read since it was stored: survives the next evictions
        cache.set("k10", payload)
        cache.set("k11", payload)
        assert "k0" in cache
        assert "k11" in cache  # the newest entry is never evicted by its own set
        assert cache.local_store.size <= 10_000
        assert 12 - len(cache.local_store) == cache.stats().evictions

    def test_oversize_entry_not_stored(self) -> None:
        """An entry over max_entry_size is dropped, counted, and the old value too."""
        cache = HydraCache.local(max_bytes="1MB", max_entry_size="1KB")
        cache.set("k", "small")
        cache.set("k", "x" * 2000)
        assert cache.get("k") is None
        assert cache.stats().oversize_drops == 1

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("512KB", 512 * 1024), ("50MB", 50 << 20), ("1GB", 1 << 30), ("10", 10)],
    )
    def test_size_strings(self, text: str, expected: int) -> None:
        """Sizes parse from strings with binary units."""
        assert expected == LocalStore(max_bytes=text, max_entry_size=1).max_bytes

    @pytest.mark.parametrize("bad", ["12XB", "-1MB", "", "MB", -5, 1.5, True, 0])
    def test_bad_sizes(self, bad: Any) -> None:
        """A bad size raises ConfigError (a ValueError)."""
        with pytest.raises(ConfigError):
            HydraCache.local(max_bytes=bad)
        with pytest.raises(ValueError):
            LocalStore(max_bytes=bad)

    def test_entry_size_over_budget_is_config_error(self) -> None:
        """max_entry_size above max_bytes is refused."""
        with pytest.raises(ConfigError, match="max_entry_size"):
            LocalStore(max_bytes="1KB", max_entry_size="2KB")

    def test_clock_must_be_callable(self) -> None:
        """``clock=`` (the wall clock of remote expiry) must be callable."""
        with pytest.raises(ConfigError, match="clock"):
            HydraCache(clock=1000.0)  # type: ignore[arg-type]


class TestCodec:
    @pytest.mark.parametrize(
        "value",
        [
            Point(1, 2),
            datetime.datetime(2024, 1, 2, 3, 4, 5),
            datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
            datetime.date(2024, 5, 6),
            decimal.Decimal("1.10"),
            uuid.UUID(int=7),
            {1, 2},
            frozenset({"a"}),
            (1, (2, "3")),
            {"nested": [(1, 2), {"k": b"v"}]},
        ],
    )
    def test_round_trips(self, cache: HydraCache, value: Any) -> None:
        """Rich values survive encode/decode with their types."""
        decoded = cache.codec.decode(cache.codec.encode(value))
        assert value == decoded
        assert type(value) is type(decoded)

    @settings(max_examples=300, deadline=None)
    @given(
        value=st.recursive(
            st.none() | st.integers() | st.text(max_size=5) | st.binary(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        cut=st.integers(1, 40),
        extra=st.binary(min_size=1, max_size=12),
    )
    def test_only_exactly_one_item_decodes(
        self, value: Any, cut: int, extra: bytes
    ) -> None:
        """Truncated bytes, or an item followed by anything, are refused.

        The one exception is by construction: an item followed by the codec's
        9-byte end marker itself reads as the item (``_codec._END``).
        """
        codec = CborCodec()
        data = codec.encode(value)
        assert value == codec.decode(data)
        if cut < len(data):
            with pytest.raises(ValueError):
                codec.decode(data[:cut])
        if not extra.startswith(_END[: len(extra)]):
            with pytest.raises(ValueError):
                codec.decode(data + extra)

    def test_unencodable_value_raises_and_stores_nothing(
        self, cache: HydraCache
    ) -> None:
        """CodecError names the type; the old value stays; nothing is loaded in."""
        cache.set("k", 1)
        with pytest.raises(CodecError, match="object"):
            cache.set("k", object())
        assert cache.get("k") == 1
        with pytest.raises(CodecError):
            cache.set_many({"a": 1, "b": {"x": object()}})
        assert "a" not in cache
        with pytest.raises(CodecError):
            cache.get_or_load("lazy", lambda: object())
        assert "lazy" not in cache
        assert isinstance(CodecError("x"), TypeError)

    @settings(max_examples=60, deadline=None)
    @given(
        key=st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
            min_size=1,
            max_size=40,
        ),
        value=st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text()
            | st.binary(),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=5), inner, max_size=4)
                | st.tuples(inner, inner)
            ),
            max_leaves=12,
        ),
    )
    def test_hypothesis_round_trip(self, key: str, value: Any) -> None:
        """Any CBOR-friendly value stores, reads back and decodes equal."""
        cache = HydraCache.local()
        cache.set(key, value)
        assert value == cache.get(key)
        assert value == cache.codec.decode(cache.codec.encode(value))


class TestErrors:
    @pytest.mark.parametrize("key", [1, None, b"k", ("a",), ""])
    def test_bad_keys(self, cache: HydraCache, key: Any) -> None:
        """Non-str or empty keys raise InvalidKey (a KeyError) everywhere."""
        for call in (
            lambda: cache.get(key),
            lambda: cache.set(key, 1),
            lambda: cache.get_or_load(key, lambda: 1),
            lambda: cache.delete(key),
            lambda: cache.contains(key),
            lambda: cache.get_many([key]),
        ):
            with pytest.raises(InvalidKey):
                call()
        assert len(cache) == 0

    def test_unhashable_key(self, cache: HydraCache) -> None:
        """An unhashable key is an InvalidKey, not a TypeError from dict."""
        with pytest.raises(KeyError):
            cache.get(["list"])  # type: ignore[arg-type]

    def test_long_key_points_at_keypart_hash(self, cache: HydraCache) -> None:
        """Keys over the limit point at KeyPart.hash."""
        with pytest.raises(InvalidKey, match=r"KeyPart\.hash"):
            cache.set("k" * 5000, 1)

    def test_bad_options(self, cache: HydraCache) -> None:
        """Bad ttl, tags, cost and options raise ConfigError."""
        with pytest.raises(ConfigError):
            cache.set("k", 1, ttl=-1)
        with pytest.raises(ConfigError):
            cache.set("k", 1, ttl="soon")  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            cache.set("k", 1, tags="users")
        with pytest.raises(ConfigError):
            cache.set("k", 1, cost="cheap")  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            cache.set("k", 1, options={"ttl": 1})  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            HydraCache(on_tier_error="explode")  # type: ignore[arg-type]
        assert "k" not in cache

    def test_local_store_belongs_to_one_cache(self) -> None:
        """Sharing one LocalStore between caches is refused."""
        store = LocalStore()
        HydraCache(store)
        with pytest.raises(ConfigError):
            HydraCache(store)


class TestOptions:
    def test_constructors_and_copies(self) -> None:
        """tag/tags build new options on the class and copies on an instance."""
        base = CacheOptions.tag("users")
        more = base.tags(["user:42"]).with_ttl(60)
        assert frozenset({"users"}) == base.tag_names
        assert frozenset({"users", "user:42"}) == more.tag_names
        assert more.ttl == 60
        assert CacheOptions.tags(["a", "b"]).tag_names == frozenset({"a", "b"})
        with pytest.raises(dataclasses.FrozenInstanceError):
            base.ttl = 5  # type: ignore[misc]

    def test_options_object_and_keywords(self, cache: HydraCache) -> None:
        """Tags from options and keywords both reach the entry."""
        cache.set("k", 1, options=CacheOptions.tag("a"), tags=["b"])
        assert cache.invalidate_tag("b") == 1
        cache.set("k", 1, options=CacheOptions.tag("a"), tags=["b"])
        assert cache.invalidate_tag("a") == 1

    def test_expires_repr_and_equality(self) -> None:
        """Expires values compare and print readably."""
        assert Expires.after(60) == Expires.after(minutes=1)
        assert Expires.after(datetime.timedelta(hours=1)).seconds == 3600
        assert repr(Expires.NEVER) == "Expires.NEVER"
        with pytest.raises(ConfigError):
            Expires.after(0)


class TestTypedViews:
    def test_dataclass_round_trip(self, cache: HydraCache) -> None:
        """A typed view stores and returns the dataclass; wrong types are refused."""
        points = cache.typed(Point, "points")
        points.set("p1", Point(1, 2))
        assert Point(1, 2) == points.get("p1")
        assert Point(1, 2) == cache.get("points:p1")
        with pytest.raises(TypeError):
            points.set("p2", {"x": 1, "y": 2})  # type: ignore[arg-type]
        assert "p2" not in points
        assert Point(3, 4) == points.get_or_load("p3", lambda: Point(3, 4))
        with pytest.raises(TypeError):
            points.get_or_load("p4", lambda: "nope")  # type: ignore[arg-type,return-value]
        assert "p4" not in points

    def test_dataclass_decodes_as_class_in_another_codec(self) -> None:
        """Bytes from one process decode as the class once a typed view registers it."""
        writer = HydraCache.local()
        data = writer.codec.encode(Point(5, 6))
        reader = HydraCache.local()
        assert reader.codec.decode(data) == {"x": 5, "y": 6}
        reader.typed(Point, "points")
        assert Point(5, 6) == reader.codec.decode(data)


class TestClose:
    """close() is final: every later operation raises CacheClosedError."""

    @pytest.mark.parametrize(
        ("name", "call"),
        [
            ("get", lambda c: c.get("k")),
            ("get_or_load", lambda c: c.get_or_load("k", lambda: 2)),
            ("set", lambda c: c.set("k", 2)),
            ("set_many", lambda c: c.set_many({"k": 2})),
            ("get_many", lambda c: c.get_many(["k"])),
            ("contains", lambda c: "k" in c),
            ("delete", lambda c: c.delete("k")),
            ("invalidate_tag", lambda c: c.invalidate_tag("t")),
            ("invalidate", lambda c: c.invalidate("k*")),
            ("clear", lambda c: c.clear()),
            ("view get", lambda c: c.namespace("n").get("k")),
            ("key get", lambda c: c.key("users", 1).get(lambda: 2)),
            ("typed set", lambda c: c.typed(int, "n").set("k", 2)),
            ("add", lambda c: c.add("new", 2)),
            ("incr", lambda c: c.incr("k")),
            ("touch", lambda c: c.touch("k", 5)),
            ("ttl", lambda c: c.ttl("k")),
            ("delete_many", lambda c: c.delete_many(["k"])),
        ],
    )
    def test_every_operation_raises_after_close(
        self, name: str, call: Callable[[HydraCache], object]
    ) -> None:
        """A closed cache serves nothing, not even what its local tier held."""
        cache = HydraCache.local()
        cache.set("k", 1)
        cache.set("n:k", 1)
        cache.set("users:1", 1)
        cache.close()
        with pytest.raises(CacheClosedError, match="HydraCache local") as info:
            call(cache)
        assert isinstance(info.value, HydraCacheError), name
        assert 0 == len(cache)

    def test_hit_path_refuses_too(self) -> None:
        """A key that was a local hit before close() raises, it is not served."""
        cache = HydraCache.local()
        cache.set("k", 1)
        assert 1 == cache.get("k")
        cache.close()
        with pytest.raises(CacheClosedError):
            cache.get("k")
        with pytest.raises(CacheClosedError):
            cache.get_or_load("k", lambda: 2)

    def test_decorator_on_a_closed_cache_raises(self) -> None:
        """A decorated function bound to a closed cache raises, hit or not."""
        cache = HydraCache.local()
        calls: list[int] = []

        @hydra_cache(cache=cache)
        def double(x: int) -> int:
            calls.append(x)
            return 2 * x

        assert 4 == double(2)
        cache.close()
        with pytest.raises(CacheClosedError):
            double(2)
        assert [2] == calls

    def test_second_close_does_nothing(self) -> None:
        """close() twice (or via the context manager and again) is a no-op."""
        with HydraCache.local() as cache:
            cache.set("k", 1)
        assert cache.closed
        cache.close()
        assert cache.closed
        assert 0 == cache.stats().hits

    def test_error_names_the_cache(self) -> None:
        """The message names the cache (its tiers and identity)."""
        cache = HydraCache.local()
        cache.close()
        with pytest.raises(CacheClosedError) as info:
            cache.set("k", 1)
        assert f"{id(cache):#x}" in str(info.value)
        assert str(info.value).startswith(info.value.cache)


class TestLocalHit:
    def test_fresh_value_or_missing(self) -> None:
        """``local_hit`` answers a fresh local value and counts it; else MISSING."""
        clock = [0.0]
        cache = HydraCache.local(timer=lambda: clock[0])
        cache.set("k", 1, ttl=10)
        assert 1 == cache.local_hit("k")
        assert 1 == cache.stats().local_hits
        clock[0] = 11.0
        assert MISSING is cache.local_hit("k")
        assert MISSING is cache.local_hit("absent")
        assert MISSING is cache.local_hit(["unhashable"])  # type: ignore[arg-type]
        assert 1 == cache.stats().local_hits
