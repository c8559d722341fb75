"""Structured keys: segment rules, KeyPart, the key builder, wildcard invalidation."""

from __future__ import annotations

import enum
import hashlib
import inspect
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hydracache_sync import (
    ConfigError,
    Cost,
    Expires,
    HydraCache,
    InvalidKey,
    KeyBuilder,
    KeyPart,
    Tier,
)
from hydracache_sync._keys import (
    MAX_TAGS,
    ArgumentKeys,
    KeyMemo,
    check_key,
    check_pattern,
    check_tag,
    encode_value,
)
from hydracache_sync.testing import FakeClock, MemoryTier
from hydracache_sync.tiers.local import LocalStore

ROOT = Path(__file__).resolve().parent.parent


class Color(enum.IntEnum):
    RED = 7


class Name(str):
    """A str subclass: counts as its text."""


@pytest.fixture(name="cache")
def _cache() -> HydraCache:
    return HydraCache.local()


class TestKeyPart:
    def test_hash_of_str_is_sha256_of_utf8(self) -> None:
        """KeyPart.hash(str) is the SHA-256 hex digest of its UTF-8 bytes."""
        text = "https://example.com/ü?q=1 2"
        expected = hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert expected == str(KeyPart.hash(text))
        assert 64 == len(str(KeyPart.hash(text)))

    def test_hash_of_bytes_and_int(self) -> None:
        """Bytes hash as they are; an int as its decimal text."""
        assert hashlib.sha256(b"\x00\xff").hexdigest() == str(KeyPart.hash(b"\x00\xff"))
        assert hashlib.sha256(b"-42").hexdigest() == str(KeyPart.hash(-42))

    def test_prefix(self) -> None:
        """With a prefix the part is ``prefix_<hash>``."""
        digest = hashlib.sha256(b"u").hexdigest()
        assert f"url_{digest}" == str(KeyPart.hash("u", prefix="url"))

    @pytest.mark.parametrize("prefix", ["a:b", "a b", "*", "", "x*"])
    def test_bad_prefix(self, prefix: str) -> None:
        """A prefix is validated like a segment."""
        with pytest.raises(InvalidKey):
            KeyPart.hash("v", prefix=prefix)

    @pytest.mark.parametrize("value", [True, 1.5, None, ["a"], object()])
    def test_bad_value_type(self, value: Any) -> None:
        """Only str, bytes and int (not bool) are hashed."""
        with pytest.raises(TypeError):
            KeyPart.hash(value)

    def test_value_semantics(self) -> None:
        """Parts compare and hash by their text, and cannot be changed."""
        assert KeyPart.hash("a") == KeyPart.hash("a")
        assert KeyPart.hash("a") != KeyPart.hash("b")
        assert 1 == len({KeyPart.hash("a"), KeyPart.hash("a")})
        assert "KeyPart('x')" == repr(KeyPart.literal("x"))
        part = KeyPart.hash("a")
        with pytest.raises(AttributeError):
            part._text = "other"  # type: ignore[misc]

    def test_literal_is_validated(self) -> None:
        """KeyPart.literal / KeyPart(text) accept only valid segments."""
        assert "abc-1.2" == str(KeyPart("abc-1.2"))
        for bad in ("a:b", "*", "", " "):
            with pytest.raises(InvalidKey):
                KeyPart.literal(bad)

    def test_deterministic_across_processes(self) -> None:
        """Another interpreter computes the same digest (no salted hash())."""
        code = (
            "from hydracache_sync import KeyPart;"
            "print(KeyPart.hash('stable ü', prefix='p'))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"},
        )
        assert str(KeyPart.hash("stable ü", prefix="p")) == out.stdout.strip()


class TestSegments:
    def test_join(self, cache: HydraCache) -> None:
        """str, int and KeyPart segments join with ':'; literals are not hashed."""
        part = KeyPart.hash("x", prefix="h")
        assert f"users:123:posts:-4:{part}" == (
            cache.key("users", 123, "posts", -4, part).full_key
        )

    def test_int_and_str_subclasses(self, cache: HydraCache) -> None:
        """An IntEnum counts as its number, a str subclass as its text."""
        assert "c:7:n" == cache.key("c", Color.RED, Name("n")).full_key

    @pytest.mark.parametrize(
        ("segment", "words"),
        [
            ("a:b", "':'"),
            ("a*b", "'*'"),
            ("**", "'*'"),
            ("a b", "whitespace"),
            ("tab\t", "whitespace"),
            ("nl\n", "whitespace"),
            ("nbsp\u00a0", "whitespace"),
            ("nul\x00", "control"),
            ("del\x7f", "control"),
            ("c1\x9b", "control"),
            ("", "empty"),
        ],
    )
    def test_bad_str_segment(self, cache: HydraCache, segment: str, words: str) -> None:
        """A bad str segment raises InvalidKey naming it, pointing at KeyPart.hash."""
        with pytest.raises(InvalidKey) as info:
            cache.key("users", segment)
        message = str(info.value)
        assert repr(segment) in message
        assert words in message
        assert "KeyPart.hash" in message

    @pytest.mark.parametrize("segment", [True, False, 1.0, 2.5, None, b"x", ("a",)])
    def test_bad_segment_types(self, cache: HydraCache, segment: Any) -> None:
        """bool, float, None, bytes and other types are rejected."""
        with pytest.raises(InvalidKey, match=r"KeyPart\.hash"):
            cache.key("users", segment)

    def test_invalid_key_is_a_key_error(self, cache: HydraCache) -> None:
        """InvalidKey is a KeyError, catchable as such."""
        with pytest.raises(KeyError):
            cache.key("a:b")

    def test_no_segments(self, cache: HydraCache) -> None:
        """A structured key needs at least one segment."""
        with pytest.raises(InvalidKey):
            cache.key()

    def test_remembered_keys_still_reject_bool_and_float(
        self, cache: HydraCache
    ) -> None:
        """True == 1 and 1.0 == 1, yet a remembered ("users", 1) never lets them in."""
        view = cache.namespace("v")
        for build in (cache.key, view.key):
            assert build("users", 1).full_key.endswith("users:1")
            assert build("users", 1, 2).full_key.endswith("users:1:2")
            for bad in (("users", True), ("users", 1.0), ("users", 1, 2.0)):
                with pytest.raises(InvalidKey):
                    build(*bad)
            assert build("users", 1) is build("users", 1) or True  # may be shared

    def test_long_segments_are_fine(self, cache: HydraCache) -> None:
        """Keys longer than the memo's limit are built every time, still valid."""
        long = "x" * 500
        assert f"a:{long}" == cache.key("a", long).full_key
        assert f"a:{long}" == cache.key("a", long).full_key


class TestWildcardSegment:
    def test_lone_star_only_for_invalidate(self, cache: HydraCache) -> None:
        """A lone "*" builds a pattern: get/set/delete/contains raise InvalidKey."""
        builder = cache.key("users", 1, "*")
        assert builder.is_pattern
        assert "users:1:*" == builder.full_key
        for operation in (
            builder.get,
            lambda: builder.get(lambda: 1),
            lambda: builder.set(1),
            builder.delete,
            builder.contains,
            lambda: builder.expires(5).get(lambda: 1),
        ):
            with pytest.raises(InvalidKey, match="only invalidate"):
                operation()

    def test_invalidate_removes_the_subtree(self, cache: HydraCache) -> None:
        """key(..., "*").invalidate() removes keys below, at any depth, nothing else."""
        for key in ("users:1", "users:1:a", "users:1:a:b", "users:10:a", "users:2:a"):
            cache.set(key, key)
        assert 2 == cache.key("users", 1, "*").invalidate()
        assert ["users:1", "users:10:a", "users:2:a"] == sorted(
            k
            for k in ("users:1", "users:1:a", "users:1:a:b", "users:10:a", "users:2:a")
            if k in cache
        )

    def test_star_in_the_middle(self, cache: HydraCache) -> None:
        """A middle "*" matches any run of characters, ':' included."""
        for key in ("u:1:posts", "u:2:x:posts", "u:3:likes"):
            cache.set(key, 1)
        assert 2 == cache.key("u", "*", "posts").invalidate()
        assert ["u:3:likes"] == [
            k for k in ("u:1:posts", "u:2:x:posts", "u:3:likes") if k in cache
        ]

    def test_invalidate_without_wildcard_deletes_one(self, cache: HydraCache) -> None:
        """invalidate() on a plain key removes that key: 1, then 0."""
        cache.set("a:b", 1)
        assert 1 == cache.key("a", "b").invalidate()
        assert 0 == cache.key("a", "b").invalidate()


class TestKeyBuilder:
    def test_get_without_loader_is_a_plain_get(self, cache: HydraCache) -> None:
        """get() returns the value, None or the default on a miss."""
        assert cache.key("k", 1).get() is None
        assert "d" == cache.key("k", 1).get(default="d")
        cache.set("k:1", "v")
        assert "v" == cache.key("k", 1).get()

    def test_get_with_loader_loads_once(self, cache: HydraCache) -> None:
        """get(loader) runs the loader on a miss only, and stores the result."""
        calls: list[int] = []

        def loader() -> str:
            calls.append(1)
            return "loaded"

        assert "loaded" == cache.key("users", 5).get(loader)
        assert "loaded" == cache.key("users", 5).get(loader)
        assert [1] == calls
        assert "loaded" == cache.get("users:5")

    def test_set_delete_contains(self, cache: HydraCache) -> None:
        """set/contains/delete act on the full key."""
        builder = cache.key("a", 1)
        builder.set({"x": 1})
        assert builder.contains()
        assert {"x": 1} == cache.get("a:1")
        assert builder.delete()
        assert not builder.contains()
        assert not builder.remove()

    def test_immutable(self, cache: HydraCache) -> None:
        """Option methods return new builders and leave the original alone."""
        plain = cache.key("a")
        configured = (
            plain.expires(Expires.after(seconds=5)).tags("t").cost_hint(Cost.CHEAP)
        )
        assert plain is not configured
        assert plain.options.ttl is None
        assert frozenset() == plain.options.tag_names
        assert Expires.after(seconds=5) == configured.options.ttl
        assert frozenset({"t"}) == configured.options.tag_names
        assert Cost.CHEAP == configured.options.cost
        assert not hasattr(plain, "__dict__")
        assert not hasattr(configured, "__dict__")
        assert isinstance(configured, KeyBuilder)
        assert "a" == str(plain)
        assert "'a'" in repr(configured)

    def test_expires(self) -> None:
        """expires(Expires.after(...)) sets the TTL; NEVER and DEFAULT work too."""
        clock = FakeClock()
        cache = HydraCache.local(timer=clock, default_ttl=100)
        cache.key("short").expires(Expires.after(seconds=5)).set(1)
        cache.key("never").expires(Expires.NEVER).set(1)
        cache.key("default").expires(Expires.DEFAULT).set(1)
        cache.key("td").expires(timedelta(seconds=7)).set(1)
        clock.advance(6)
        assert [False, True, True, True] == [
            k in cache for k in ("short", "never", "default", "td")
        ]
        clock.advance(100)
        assert [False, True, False, False] == [
            k in cache for k in ("short", "never", "default", "td")
        ]

    def test_negative_ttl(self) -> None:
        """A None result is cached for negative_ttl, then reloaded."""
        clock = FakeClock()
        cache = HydraCache.local(timer=clock)
        calls: list[int] = []

        def loader() -> None:
            calls.append(1)

        key = cache.key("missing", 1).negative_ttl(10)
        assert key.get(loader) is None
        assert key.get(loader) is None
        clock.advance(11)
        assert key.get(loader) is None
        assert [1, 1] == calls

    def test_tags(self, cache: HydraCache) -> None:
        """tags() accepts names and iterables; invalidate_tag reaches the entry."""
        cache.key("a").tags("t1", ["t2"]).set(1)
        cache.key("b").tags("t2").get(lambda: 2)
        assert 2 == cache.invalidate_tag("t2")
        assert "a" not in cache

    def test_cost_hint_and_compressed_choose_the_tier(self) -> None:
        """cost_hint(CHEAP) keeps an entry local; the default goes to shared."""
        shared = MemoryTier()
        cache = HydraCache(shared=shared)
        cache.key("cheap").cost_hint(Cost.CHEAP).set("x")
        cache.key("moderate").compressed().set("y" * 5000)
        assert Tier.LOCAL == cache.base_tier(Cost.CHEAP)
        assert shared.get("cheap") is None
        assert shared.get("moderate") is not None
        assert "y" * 5000 == HydraCache(shared=shared).get("moderate")

    def test_bad_options(self, cache: HydraCache) -> None:
        """Invalid options fail when given, with ConfigError."""
        with pytest.raises(ConfigError):
            cache.key("a").expires(-1)
        with pytest.raises(ConfigError):
            cache.key("a").cost_hint("cheap")  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            cache.key("a").negative_ttl("soon")  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            cache.key("a").tags("")


# -- wildcard invalidation in the local tier ------------------------------------------

ALPHABET = "ab:*[]?%_\\ "
KEY_CHARS = "ab:[]?%_\\"  # no "*" in stored keys: it would be a pattern itself


def _reference_match(pattern: str, key: str) -> bool:
    """Independent matcher: '*' is any run of characters, the rest is literal."""
    memo: dict[tuple[int, int], bool] = {}

    def match(p: int, k: int) -> bool:
        if (p, k) not in memo:
            if p == len(pattern):
                result = k == len(key)
            elif pattern[p] == "*":
                result = match(p + 1, k) or (k < len(key) and match(p, k + 1))
            else:
                result = k < len(key) and key[k] == pattern[p] and match(p + 1, k + 1)
            memo[(p, k)] = result
        return memo[(p, k)]

    return match(0, 0)


keys_strategy = st.sets(st.text(KEY_CHARS, min_size=1, max_size=8), max_size=25)


class TestLocalWildcards:
    @settings(max_examples=300, deadline=None)
    @given(keys=keys_strategy, prefix=st.text(KEY_CHARS, min_size=1, max_size=4))
    def test_prefix_invalidation_removes_exactly_the_subtree(
        self, keys: set[str], prefix: str
    ) -> None:
        """invalidate(prefix + ":*") removes the keys under prefix:, nothing else."""
        cache = HydraCache.local()
        for key in keys:
            cache.set(key, key)
        expected = {k for k in keys if k.startswith(prefix + ":")}
        assert len(expected) == cache.invalidate(prefix + ":*")
        assert keys - expected == set(cache.local_store.entries)

    @settings(max_examples=300, deadline=None)
    @given(keys=keys_strategy, pattern=st.text(ALPHABET, min_size=1, max_size=6))
    def test_any_pattern_matches_like_the_reference(
        self, keys: set[str], pattern: str
    ) -> None:
        """Only '*' is special: [ ] ? % _ \\ and spaces match themselves."""
        store = LocalStore()
        for key in keys:
            store.put(key, 1, 1, None)
        expected = {k for k in keys if _reference_match(pattern, k)}
        assert len(expected) == store.invalidate_pattern(pattern)
        assert keys - expected == set(store.entries)
        for key in list(store.entries):
            store.delete(key)
        assert store.prefix_index.empty

    @pytest.mark.parametrize("key", ["a[b]", "a?", "a%", "a_b", "a\\b", "[ab]"])
    def test_metacharacters_are_literal(self, cache: HydraCache, key: str) -> None:
        """A key holding a glob/LIKE metacharacter is never a pattern."""
        decoys = ["ab", "a", "aXb", "a:b", "a", "b", "axb"]
        for name in [key, *decoys]:
            cache.set(name, 1)
        assert 1 == cache.invalidate(key)
        assert key not in cache
        assert all(name in cache for name in decoys)

    def test_index_follows_eviction_and_clear(self) -> None:
        """Evicted and cleared keys leave the index; the index finds the rest."""
        store = LocalStore(max_bytes=60_000)  # ~100 entries of ~600 bytes
        assert 0 == store.invalidate_pattern("u:none:*")  # builds the index
        for n in range(400):
            store.put(f"u:{n % 7}:i:{n}", n, 10, None)
        live = set(store.entries)
        assert len(live) < 400
        assert {k for k in live if k.startswith("u:3:")} == set(
            store.keys_with_prefix("u:3:")
        )
        assert 0 < store.invalidate_pattern("u:3:*")
        store.clear()
        assert store.prefix_index.empty

    def test_index_is_built_by_the_first_prefix_invalidation(self) -> None:
        """Writes do no index work until a prefix is invalidated; then it is exact."""
        store = LocalStore(max_bytes=60_000)
        for n in range(400):
            store.put(f"u:{n % 7}:i:{n}", n, 10, None)
        assert store.prefix_index.empty
        assert 0 < store.invalidate_pattern("u:3:*")
        for n in range(400, 800):
            store.put(f"u:{n % 7}:i:{n}", n, 10, None)
        live = set(store.entries)
        for directory in ("u:2:", "u:3:"):
            expected = {k for k in live if k.startswith(directory)}
            assert expected == set(store.keys_with_prefix(directory))
        for key in list(store.entries):
            store.delete(key)
        assert store.prefix_index.empty

    def test_overwrite_and_oversize_keep_the_index(self) -> None:
        """Overwriting keeps a key indexed once; an oversize overwrite unindexes it."""
        store = LocalStore(max_bytes=10_000, max_entry_size=1000)
        assert 0 == store.invalidate_pattern("x:*")  # builds the index
        store.put("a:b", 1, 1, None)
        store.put("a:b", 2, 1, None)
        assert ["a:b"] == store.keys_with_prefix("a:")
        assert not store.put("a:b", 3, 1000, None)
        assert [] == store.keys_with_prefix("a:")
        assert store.prefix_index.empty

    def test_prefix_lookup_visits_only_matching_directories(self) -> None:
        """Partial segments use the directory's children, not every key."""
        store = LocalStore()
        for user in ("4", "42", "43", "5", "x"):
            for item in range(3):
                store.put(f"users:{user}:{item}", 1, 1, None)
        store.put("users:4", 1, 1, None)
        store.put("users:45", 1, 1, None)
        expected = {k for k in store.entries if k.startswith("users:4")}
        assert expected == set(store.keys_with_prefix("users:4"))
        assert 11 == len(expected)


# -- the same property through a HydraCache with a Redis tier -------------------------


class TestRedisWildcards:
    @pytest.mark.redis
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(keys=keys_strategy, prefix=st.text(KEY_CHARS, min_size=1, max_size=3))
    def test_prefix_invalidation_on_redis(
        self, redis_url: str, redis_prefix: str, keys: set[str], prefix: str
    ) -> None:
        """With a Redis tier: exactly the keys under prefix: go, from both tiers."""
        from hydracache_sync.tiers.redis import RedisStore

        store = RedisStore.from_url(
            redis_url, prefix=f"{redis_prefix}{uuid.uuid4().hex[:8]}:"
        )
        try:
            cache = HydraCache(shared=store)
            for key in keys:
                cache.set(key, key)
            expected = {k for k in keys if k.startswith(prefix + ":")}
            assert len(expected) == cache.invalidate(prefix + ":*")
            fresh = HydraCache(shared=store)  # reads the Redis tier only
            assert keys - expected == {k for k in keys if fresh.get(k) is not None}
            assert keys - expected == set(cache.local_store.entries)
        finally:
            store.clear()
            store.close()


def _golden(x: Any, y: Any = 2, *, z: Any = None) -> None:
    """The signature the pinned digests below were computed for (0.1)."""


def _reference_digest(
    function: Any, args: tuple[Any, ...], kwargs: dict[str, Any], typed: bool = False
) -> str:
    """The documented digest, written out: bind, defaults, a<name>=<value> each."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    out = bytearray()
    for name, value in bound.arguments.items():
        out += b"a" + name.encode() + b"="
        if typed:
            kind = type(value)
            out += b"@" + f"{kind.__module__}.{kind.__qualname__}".encode() + b";"
        encode_value(value, out)
    return hashlib.blake2b(bytes(out), digest_size=16).hexdigest()


_SCALAR = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text()
    | st.binary(),
    lambda inner: st.tuples(inner) | st.tuples(inner, inner),
    max_leaves=6,
)


class TestArgumentKeys:
    # Digests computed by 0.1 (Signature.bind per call): the specialised
    # function must give the very same keys, or shared tiers lose their entries.
    PINNED: ClassVar[list[tuple[tuple[Any, ...], dict[str, Any], str, str]]] = [
        (
            (1,),
            {},
            "97a74e5db2a9aec37361e52b327ecbb4",
            "4f8d1ba8a11911e4db3024457a6738ff",
        ),
        (
            ("a",),
            {},
            "b4318acdba2a49f9478b8bd09021eaf5",
            "d4bd16cdf10b919dbc1c57717e952aaa",
        ),
        (
            (1.5,),
            {},
            "b77bed96c94688d44ca7db4830f7dde8",
            "2b8db8d0b68a314a45d4edf6d6da280f",
        ),
        (
            (None,),
            {},
            "051b0061d461e74b17e38dbf92b8c117",
            "713fe77570d310054e10f8fc18ca36f1",
        ),
        (
            (True,),
            {},
            "97a74e5db2a9aec37361e52b327ecbb4",
            "8dec841e4e807b4b17a9f03ed92e8c1c",
        ),
        (
            (b"xy",),
            {},
            "29fded3ebe7cb8f921118588bc6c0e33",
            "91b509820ef23e3d659435250d059832",
        ),
        (
            ((1, "a", (2.0, None)),),
            {},
            "c711d710bafb9961196af2c4096589dd",
            "b73ed7a5049717d920580270db1dea79",
        ),
        (
            (1, 3),
            {},
            "dcaf36543672e61a19415beac76d3db0",
            "e28bd5816ea13a7b0a51f588088aacb4",
        ),
        (
            (1,),
            {"z": "q"},
            "8fafc6d5e2b27181fe94e3272d3a77e1",
            "4301720d7f0c7b24f87bb2629764a481",
        ),
        (
            (),
            {"x": 7, "y": 8},
            "e044767a6d6e1f5f60e8a6f7db6476e0",
            "f59c021133093336c9c04973e11741ce",
        ),
        (
            (-5,),
            {},
            "c805bb30a149e0800e7e68330501a026",
            "71a93c324ae7176e952c82c143a2327d",
        ),
        (
            ("é\ud800",),
            {},
            "fd95fa536a53e4782fea7f28b9354096",
            "6a6b7709cf74502dfbe639b0e5a5b6dd",
        ),
        (
            (float("nan"),),
            {},
            "95bd7302fe0e2762d8fe1414f8903a44",
            "376d8fa0ecaa9792ba3aea79c2b49f67",
        ),
        (
            (2.0,),
            {},
            "7f978bbaec055e884e1949f69650e63d",
            "17b9081d59d296afa6146ba4089fab56",
        ),
    ]

    @pytest.mark.parametrize(("args", "kwargs", "plain", "typed"), PINNED)
    def test_digests_unchanged_since_0_1(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], plain: str, typed: str
    ) -> None:
        """The digests of 0.1 calls are unchanged (plain and typed=True)."""
        signature = inspect.signature(_golden)
        assert plain == ArgumentKeys(signature, qualname="f").digest(args, kwargs)
        with_types = ArgumentKeys(signature, qualname="f", typed=True)
        assert typed == with_types.digest(args, kwargs)

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(
        x=_SCALAR,
        y=_SCALAR,
        z=_SCALAR,
        spelling=st.sampled_from(["pos", "kw", "default", "mixed"]),
        typed=st.booleans(),
    )
    def test_specialised_equals_the_documented_digest(
        self, x: Any, y: Any, z: Any, spelling: str, typed: bool
    ) -> None:
        """Every spelling of a scalar call digests as bind + encode_value would."""
        calls = {
            "pos": ((x, y), {"z": z}),
            "kw": ((), {"z": z, "y": y, "x": x}),
            "default": ((x,), {}),
            "mixed": ((x,), {"y": y}),
        }
        args, kwargs = calls[spelling]
        keys = ArgumentKeys(inspect.signature(_golden), qualname="f", typed=typed)
        expected = _reference_digest(_golden, args, kwargs, typed)
        assert expected == keys.digest(args, kwargs)

    @settings(max_examples=200)
    @given(x=_SCALAR | st.sets(st.integers(), max_size=3) | st.lists(st.text()))
    def test_one_argument_shortcut_equals_the_documented_digest(self, x: Any) -> None:
        """A one-parameter function's shortcut digests as bind + encode_value would."""

        def one(x: Any) -> None: ...

        keys = ArgumentKeys(inspect.signature(one), qualname="one")
        assert _reference_digest(one, (x,), {}) == keys.digest((x,), {})
        assert _reference_digest(one, (x,), {}) == keys.digest((), {"x": x})

    def test_ignore_self_leaves_the_first_argument_out(self) -> None:
        """ignore_self: any first argument, positional or named, gives one digest."""

        def method(self: Any, user: int, flag: bool = False) -> None: ...

        keys = ArgumentKeys(inspect.signature(method), qualname="m", ignore_self=True)
        expected = keys.digest((object(), 5), {})
        assert expected == keys.digest(("other", 5, False), {})
        assert expected == keys.digest((), {"self": 1, "user": 5})
        assert expected != keys.digest((None, 6), {})

    def test_mutable_default_is_read_per_call(self) -> None:
        """A mutable default is encoded at call time, never frozen at decoration."""
        default: list[int] = []

        def load(x: int, seen: list[int] = default) -> None: ...

        keys = ArgumentKeys(inspect.signature(load), qualname="load")
        before = keys.digest((1,), {})
        default.append(3)
        assert before != keys.digest((1,), {})
        assert _reference_digest(load, (1,), {}) == keys.digest((1,), {})

    def test_var_arguments_use_bind(self) -> None:
        """*args and **kwargs signatures digest through bind, as documented."""

        def load(a: int, *rest: int, **extra: int) -> None: ...

        keys = ArgumentKeys(inspect.signature(load), qualname="load")
        expected = _reference_var(1, (2, 3), {"b": 4, "c": 5})
        assert expected == keys.digest((1, 2, 3), {"b": 4, "c": 5})

    @pytest.mark.parametrize(
        ("args", "kwargs"),
        [((), {}), ((1, 2, 3), {}), ((1,), {"x": 1}), ((1,), {"nope": 1})],
    )
    def test_bad_calls_raise_type_error(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Missing, extra, duplicate or unknown arguments raise bind's TypeError."""
        keys = ArgumentKeys(inspect.signature(_golden), qualname="f")
        with pytest.raises(TypeError):
            keys.digest(args, kwargs)

    def test_unencodable_value_names_key_option(self) -> None:
        """A value without a canonical form raises a TypeError naming key=."""
        keys = ArgumentKeys(inspect.signature(_golden), qualname="f")
        with pytest.raises(TypeError, match=r"argument 'x'.*key="):
            keys.digest((object(),), {})


def _reference_var(a: int, rest: tuple[int, ...], extra: dict[str, int]) -> str:
    out = bytearray(b"aa=")
    encode_value(a, out)
    out += b"arest=(%d;" % len(rest)
    for item in rest:
        encode_value(item, out)
    pairs = []
    for name in sorted(extra):
        pair = bytearray(b"k" + name.encode() + b"=")
        encode_value(extra[name], pair)
        pairs.append(bytes(pair))
    out += b"aextra={%d;" % len(pairs) + b"".join(pairs)
    return hashlib.blake2b(bytes(out), digest_size=16).hexdigest()


class TestKeyMemo:
    def test_bounded_to_two_generations(self) -> None:
        """The memo never holds more than twice its capacity."""
        memo = KeyMemo(8)
        for n in range(100):
            memo.remember((n,), f"k{n}")
            assert memo.size <= 16
        assert 8 <= memo.size

    def test_a_full_generation_keeps_the_recent_keys(self) -> None:
        """Filling a generation never empties the memo: the last keys stay."""
        memo = KeyMemo(8)
        for n in range(9):
            memo.remember((n,), f"k{n}")
        assert [f"k{n}" for n in range(9)] == [memo.recall((n,)) for n in range(9)]

    def test_recall_moves_an_older_key_forward(self) -> None:
        """A key found in the older generation survives the next rotation."""
        memo = KeyMemo(4)
        for n in range(4):
            memo.remember((n,), f"k{n}")
        memo.remember((4,), "k4")  # rotates: 0..3 are the older generation
        assert "k0" == memo.recall((0,))
        assert "k0" == memo.recent[(0,)]  # in the current generation now
        for n in range(5, 8):
            memo.remember((n,), f"k{n}")  # rotates again: 1..3 are dropped
        assert [None, None, None] == [memo.recall((n,)) for n in (1, 2, 3)]
        assert "k0" == memo.recall((0,))

    def test_forget_and_unhashable(self) -> None:
        """forget() empties both generations; unhashable arguments raise TypeError."""
        memo = KeyMemo(2)
        for n in range(3):
            memo.remember((n,), f"k{n}")
        memo.forget()
        assert 0 == memo.size
        with pytest.raises(TypeError):
            memo.recall(([1],))

    def test_threads_read_while_others_remember(self) -> None:
        """Lock-free reads during rotations return the right key or None, never junk."""
        memo = KeyMemo(64)
        wrong: list[tuple[int, str]] = []
        found = [0] * 4
        stop = threading.Event()

        def writer(offset: int) -> None:
            for n in range(offset, 20_000, 2):
                memo.remember((n,), f"k{n}")

        def reader(index: int) -> None:
            while not stop.is_set():
                for n in range(0, 20_000, 97):
                    key = memo.recall((n,))
                    if key is not None:
                        found[index] += 1
                        if key != f"k{n}":
                            wrong.append((n, key))

        readers = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        writers = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
        for thread in readers + writers:
            thread.start()
        for thread in writers:
            thread.join()
        stop.set()
        for thread in readers:
            thread.join()
        assert [] == wrong
        assert 64 <= memo.size <= 128
        assert 0 < sum(found)
        kept = [n for n in range(20_000) if memo.recall((n,)) is not None]
        assert [f"k{n}" for n in kept] == [memo.recall((n,)) for n in kept]


class TestWhatEveryTierCanStore:
    """Keys, tags and patterns are checked once, against every tier's limits."""

    BAD = (
        "a\x00b",  # PostgreSQL text cannot hold NUL
        "lone\ud800surrogate",  # what json.loads gives for "\\ud800"
        "\u00e9" * 1025,  # 1,025 characters, 2,050 UTF-8 bytes
        "\U0001f600" * 600,  # 600 characters, 2,400 bytes
    )

    @pytest.mark.parametrize("bad", BAD)
    def test_bad_key_is_invalid_everywhere(self, bad: str) -> None:
        """Every key-taking call refuses it with InvalidKey, and the cache (and
        its remote tier) is left unchanged."""
        shared = MemoryTier()
        cache = HydraCache(shared=shared)
        calls = (
            lambda: cache.get(bad),
            lambda: cache.set(bad, 1),
            lambda: cache.delete(bad),
            lambda: cache.get_or_load(bad, lambda: 1),
            lambda: cache.get_many([bad]),
            lambda: cache.set_many({bad: 1}),
            lambda: cache.contains(bad),
            lambda: cache.invalidate(bad),
        )
        for call in calls:
            with pytest.raises(InvalidKey):
                call()
        assert ([], 0) == (shared.keys(), len(cache))

    @pytest.mark.parametrize("bad", BAD)
    def test_bad_tag_is_invalid_everywhere(self, bad: str) -> None:
        """A tag every tier cannot store is refused when set and invalidated."""
        cache = HydraCache(shared=MemoryTier())
        with pytest.raises(InvalidKey):
            cache.set("k", 1, tags=[bad])
        with pytest.raises(InvalidKey):
            cache.invalidate_tag(bad)
        assert 0 == len(cache)

    def test_byte_limit_is_exact(self) -> None:
        """2,048 UTF-8 bytes pass, 2,049 do not, for keys and tags alike."""
        cache = HydraCache(shared=MemoryTier())
        fits, over = "\u00e9" * 1024, "\u00e9" * 1024 + "x"
        cache.set(fits, 1, tags=[fits])
        assert 1 == cache.get(fits)
        assert 1 == cache.invalidate_tag(fits)
        for bad in (over, "x" * 2049):
            with pytest.raises(InvalidKey, match="2048"):
                cache.set(bad, 1)
            with pytest.raises(InvalidKey, match="2048"):
                cache.set("k", 1, tags=[bad])

    def test_too_many_tags(self) -> None:
        """An entry carries at most MAX_TAGS tags (the envelope counts them)."""
        cache = HydraCache(shared=MemoryTier())
        cache.set("k", 1, tags=[f"t{i}" for i in range(MAX_TAGS)])
        with pytest.raises(InvalidKey, match="tags"):
            cache.set("k", 1, tags=[f"t{i}" for i in range(MAX_TAGS + 1)])

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.text(max_size=1100))
    def test_accepted_keys_are_storable(self, text: str) -> None:
        """Any str is either refused with InvalidKey or is non-empty, NUL-free,
        UTF-8 encodable and at most 2,048 bytes; tags and patterns agree."""
        verdicts = []
        for check in (check_key, check_tag, check_pattern):
            try:
                verdicts.append(check(text) == text)
            except InvalidKey:
                verdicts.append(False)
        assert 1 == len(set(verdicts))
        storable = True
        try:
            storable = bool(text) and len(text.encode("utf-8")) <= 2048
        except UnicodeEncodeError:
            storable = False
        assert (storable and "\x00" not in text) == verdicts[0]

    @given(
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
            min_size=1,
            max_size=512,
        )
    )
    def test_storable_keys_round_trip_through_a_remote_tier(self, key: str) -> None:
        """Keys of any script up to 512 characters (2,048 bytes) round-trip."""
        shared = MemoryTier()
        HydraCache(shared=shared).set(key, "v", tags=[key])
        assert "v" == HydraCache(shared=shared).get(key)
