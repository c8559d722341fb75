"""Views: namespaces, versions and typed views share one cache's whole API."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from hydracache_sync import (
    CacheView,
    ConfigError,
    HydraCache,
    InvalidKey,
    TypedView,
)
from hydracache_sync.testing import MemoryTier


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    name: str


@pytest.fixture(name="cache")
def _cache() -> HydraCache:
    return HydraCache.local()


class TestNamespaces:
    def test_prefix(self, cache: HydraCache) -> None:
        """A namespace view stores under ``name:``; nested views nest."""
        audio = cache.namespace("audio")
        audio.set("a", 1)
        audio.namespace("mp3").set("b", 2)
        assert "audio:" == audio.prefix
        assert 1 == cache.get("audio:a")
        assert 2 == cache.get("audio:mp3:b")
        assert 2 == audio.get("mp3:b")

    def test_version(self, cache: HydraCache) -> None:
        """version("v1") turns ``audio:`` into ``audio@v1:``, separate from audio."""
        audio = cache.namespace("audio")
        v1 = audio.version("v1")
        v1.set("a", "one")
        audio.set("a", "plain")
        assert "audio@v1:" == v1.prefix
        assert "one" == cache.get("audio@v1:a")
        assert "plain" == audio.get("a")
        assert "audio:x@v2:" == audio.namespace("x").version("v2").prefix

    @pytest.mark.parametrize("name", ["a*", "a@b", "a b", "", "\x00", 5])
    def test_bad_names(self, cache: HydraCache, name: object) -> None:
        """Names with '*', '@', whitespace or controls are refused."""
        with pytest.raises(ConfigError):
            cache.namespace(name)  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            cache.namespace("ok").version(name)  # type: ignore[arg-type]

    def test_colons_nest(self, cache: HydraCache) -> None:
        """``"a:b"`` is the namespace ``b`` inside ``a``: same view, same keys."""
        nested = cache.namespace("tenant").namespace("7").namespace("users")
        assert nested == cache.namespace("tenant:7:users")
        assert nested == cache.namespace("tenant:7").namespace("users")
        cache.namespace("tenant:7:users").set("1", "ann")
        assert "ann" == nested.get("1")
        assert "ann" == cache.get("tenant:7:users:1")
        assert (
            "tenant:7:users@v2:"
            == cache.namespace("tenant:7:users").version("v2").prefix
        )

    @pytest.mark.parametrize("name", ["a:", ":a", "a::b", ":", "a:b*", "a:b c"])
    def test_bad_nested_names(self, cache: HydraCache, name: str) -> None:
        """Every ':'-separated part must be a valid name; the error says which."""
        with pytest.raises(ConfigError, match="':'-separated part"):
            cache.namespace(name)

    def test_version_names_keep_refusing_colons(self, cache: HydraCache) -> None:
        """A version is one name: ':' in it is still a ConfigError."""
        with pytest.raises(ConfigError):
            cache.namespace("ok").version("a:b")

    def test_version_needs_an_unversioned_namespace(self, cache: HydraCache) -> None:
        """version() of the root or of a version is a ConfigError."""
        with pytest.raises(ConfigError):
            CacheView(cache, "").version("v1")
        with pytest.raises(ConfigError):
            cache.namespace("a").version("v1").version("v2")

    def test_clear_only_its_prefix(self, cache: HydraCache) -> None:
        """clear() on a view removes its keys (nested too), nothing else."""
        audio = cache.namespace("audio")
        for key in ("audio:a", "audio:sub:b", "audio@v1:c", "audiobook:d", "video:e"):
            cache.set(key, 1)
        assert 2 == audio.clear()
        assert ["audio@v1:c", "audiobook:d", "video:e"] == sorted(
            cache.local_store.entries
        )
        assert 1 == audio.version("v1").flush()
        assert 2 == CacheView(cache, "").clear()
        assert 0 == len(cache)

    def test_flat_api(self, cache: HydraCache) -> None:
        """get_or_load, contains, delete, get_many, set_many work under the prefix."""
        view = cache.namespace("n")
        calls: list[int] = []

        def loader() -> int:
            calls.append(1)
            return 7

        assert 7 == view.get_or_load("k", loader)
        assert 7 == view.get_or_set("k", loader)
        assert [1] == calls
        assert "k" in view
        assert view.contains_key("k")
        view.set_many({"a": 1, "b": 2}, ttl=60)
        assert {"a": 1, "b": 2} == view.get_many(["a", "b", "zz"])
        assert 1 == cache.get("n:a")
        assert view.delete("a")
        assert not view.remove("a")
        assert view.get("a") is None
        assert "d" == view.get("a", "d")
        view.put("p", 3)
        assert view.invalidate_key("p")

    def test_invalidate_pattern_is_prefixed(self, cache: HydraCache) -> None:
        """invalidate(pattern) on a view matches only the view's keys."""
        cache.set("n:users:1", 1)
        cache.set("users:1", 1)
        assert 1 == cache.namespace("n").invalidate("users:*")
        assert "users:1" in cache

    def test_bad_flat_keys(self, cache: HydraCache) -> None:
        """An empty or non-str key under a view is an InvalidKey."""
        view = cache.namespace("n")
        with pytest.raises(InvalidKey):
            view.get("")
        with pytest.raises(InvalidKey):
            view.set(5, 1)  # type: ignore[arg-type]

    def test_shared_stats_and_tags(self, cache: HydraCache) -> None:
        """Views share stats; tag names are not prefixed."""
        one, two = cache.namespace("one"), cache.namespace("two")
        one.set("a", 1, tags=["user:42"])
        two.key("b").tags("user:42").set(2)
        cache.set("c", 3, tags=["user:42"])
        assert 1 == one.get("a")
        assert one.stats() == cache.stats() == two.stats()
        assert 1 == cache.stats().hits
        assert 3 == two.invalidate_tag("user:42")
        assert 0 == len(cache)

    def test_structured_keys_are_prefixed(self, cache: HydraCache) -> None:
        """view.key(...) builds keys under the view, and "*" stays inside it."""
        view = cache.namespace("audio").version("v2")
        assert "audio@v2:track:1" == view.key("track", 1).full_key
        view.key("track", 1).set("x")
        view.key("track", 2).get(lambda: "y")
        cache.set("track:1", "outside")
        assert "x" == cache.get("audio@v2:track:1")
        assert 2 == view.key("track", "*").invalidate()
        assert "outside" == cache.get("track:1")

    def test_equality(self, cache: HydraCache) -> None:
        """Views of one cache and prefix are equal and hash alike."""
        assert cache.namespace("a") == cache.namespace("a")
        assert cache.namespace("a") != cache.namespace("b")
        assert cache.namespace("a") != HydraCache.local().namespace("a")
        assert 1 == len({cache.namespace("a"), cache.namespace("a")})
        assert "'a:'" in repr(cache.namespace("a"))


class TestTypedViews:
    def test_rejects_other_types(self, cache: HydraCache) -> None:
        """set() of a non-T raises TypeError and stores nothing."""
        users = cache.typed(User, "users")
        with pytest.raises(TypeError, match="User"):
            users.set("1", {"id": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            users.set_many({"1": User(1, "a"), "2": "nope"})  # type: ignore[dict-item]
        assert 0 == len(cache)

    def test_namespace_with_colons_nests(self, cache: HydraCache) -> None:
        """``typed(User, "tenant:7:users")`` equals the nested typed namespaces."""
        users = cache.typed(User, "tenant:7:users")
        nested = cache.namespace("tenant").namespace("7").typed(User, "users")
        assert nested == users
        users.set("1", User(1, "ann"))
        assert User(1, "ann") == nested.get("1")
        assert "tenant:7:users:" == users.prefix

    def test_loader_results_are_checked(self, cache: HydraCache) -> None:
        """A loader returning a non-T raises TypeError; None (a negative) passes."""
        users = cache.typed(User, "users")
        with pytest.raises(TypeError):
            users.get_or_load("1", lambda: "nope")  # type: ignore[arg-type, return-value]
        assert users.get_or_load("2", lambda: None) is None  # type: ignore[arg-type, return-value]
        assert User(3, "c") == users.get_or_load("3", lambda: User(3, "c"))
        assert "1" not in users

    def test_typed_structured_keys(self, cache: HydraCache) -> None:
        """typed.key(...).set/get check the type too."""
        users = cache.typed(User, "users")
        builder = users.key(7)
        with pytest.raises(TypeError):
            builder.set("nope")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            builder.get(lambda: 5)  # type: ignore[arg-type, return-value]
        builder.set(User(7, "g"))
        assert User(7, "g") == builder.get()
        assert User(7, "g") == cache.get("users:7")

    def test_dataclass_round_trips_through_a_remote_tier(self) -> None:
        """Another process-like cache reading the shared tier gets a User back."""
        shared = MemoryTier()
        HydraCache(shared=shared).typed(User, "users").set("1", User(1, "ada"))
        reader = HydraCache(shared=shared).typed(User, "users")
        assert User(1, "ada") == reader.get("1")

    def test_nesting_and_the_rest_of_the_api(self, cache: HydraCache) -> None:
        """Typed views nest, version and carry the flat API."""
        users = cache.typed(User, "users")
        archived = users.namespace("old").version("v2")
        assert isinstance(archived, TypedView)
        assert "users:old@v2:" == archived.prefix
        assert User is archived.value_type
        archived.put("1", User(1, "a"))
        assert {"1": User(1, "a")} == archived.get_many(["1", "2"])
        assert "1" in archived
        assert archived.contains_key("1")
        assert 1 == users.invalidate("old@v2:*")
        users.set("2", User(2, "b"), tags=["t"])
        assert 1 == users.invalidate_tag("t")
        users.set("3", User(3, "c"))
        assert users.delete("3")
        users.set("4", User(4, "d"))
        assert 1 == users.clear()
        assert users.stats() == cache.stats()
        assert cache is users.cache
        assert users.view == cache.namespace("users")
        assert users == cache.typed(User, "users")
        assert "User" in repr(users)
        other = users.typed(int, "counts")
        other.set("n", 5)
        assert 5 == cache.get("users:counts:n")

    def test_needs_a_class(self, cache: HydraCache) -> None:
        """typed() of something that is not a class is a ConfigError."""
        with pytest.raises(ConfigError):
            cache.typed("User", "users")  # type: ignore[arg-type]


class TestTypedViewAfterUntypedRead:
    def test_dataclass_comes_back_as_its_class(self) -> None:
        """A dict left locally by an untyped read is served as the dataclass."""
        shared = MemoryTier()
        writer, reader = HydraCache(shared=shared), HydraCache(shared=shared)
        writer.typed(User, "users").set("42", User(42, "Grace"))
        assert {"id": 42, "name": "Grace"} == reader.get("users:42")
        users = reader.typed(User, "users")
        assert User(42, "Grace") == users.get("42")
        assert User(42, "Grace") == users.get_or_load("42", lambda: User(0, "x"))
        assert {"42": User(42, "Grace")} == users.get_many(["42"])
        assert isinstance(users.get("42"), User)


# Engine methods that are not per-key operations, so views do not have them.
NOT_VIEW_OPERATIONS = frozenset(
    {"base_tier", "breaker_states", "close", "local_hit", "namespace", "typed"}
)


def _operations() -> list[str]:
    """Every public method of HydraCache a view must offer (aliases included)."""
    return sorted(
        name
        for name, member in inspect.getmembers(HydraCache, inspect.isfunction)
        if not name.startswith("_") and name not in NOT_VIEW_OPERATIONS
    )


class TestDerivedOperations:
    def test_the_engine_has_operations(self) -> None:
        """The list the next test walks is the real one (a guard on the guard)."""
        assert {"get", "set", "get_or_load", "add", "incr", "delete_many"} <= set(
            _operations()
        )

    @pytest.mark.parametrize("name", _operations())
    def test_views_accept_every_keyword(self, cache: HydraCache, name: str) -> None:
        """Both view kinds offer each engine operation with all its parameters.

        A verb added to the engine without its view method fails here.
        """
        expected = [
            (p.name, p.kind, p.default)
            for p in inspect.signature(getattr(cache, name)).parameters.values()
        ]
        for view in (cache.namespace("n"), cache.typed(int, "t")):
            method = getattr(view, name)
            actual = [
                (p.name, p.kind, p.default)
                for p in inspect.signature(method).parameters.values()
            ]
            assert expected == actual, (type(view).__name__, name)

    def test_refresh_and_lock_options_reach_the_engine(self, cache: HydraCache) -> None:
        """The options the views once lacked (SWR, early refresh) now work."""
        view = cache.namespace("n")
        value = view.get_or_load(
            "k", lambda: 1, ttl=60, stale_while_revalidate=5, early_refresh=1.0
        )
        assert 1 == value
        assert 1 == cache.get("n:k")
        with pytest.raises(ConfigError):
            view.get_or_load("j", lambda: 1, lock="redis")  # no shared tier

    def test_typed_view_checks_values_of_every_writer(self, cache: HydraCache) -> None:
        """set, add, set_many and loaders of a typed view all refuse a non-T."""
        users = cache.typed(User, "users")
        with pytest.raises(TypeError):
            users.add("1", "not a user")
        with pytest.raises(TypeError):
            users.set_many({"1": User(1, "Ada"), "2": "not a user"})
        with pytest.raises(TypeError):
            users.get_or_load("3", lambda: "not a user")
        assert {} == cache.get_many(["users:1", "users:2", "users:3"])

    def test_views_use_the_public_hit_primitive(self, cache: HydraCache) -> None:
        """A structured key's loader hit goes through ``local_hit`` and counts."""
        view = cache.namespace("n")
        assert 1 == view.key("a", 1).get(lambda: 1)
        before = cache.stats().local_hits
        assert 1 == view.key("a", 1).get(lambda: 2)
        assert before + 1 == cache.stats().local_hits
        assert view.value_check is None
        assert cache.typed(int, "t").value_check is not None
