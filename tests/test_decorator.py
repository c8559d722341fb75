"""@hydra_cache: keys, invalidation, methods, threads, processes, default cache."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import gc
import re
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hydracache_sync._cached as cached_module
from hydracache_sync import (
    CachedFunction,
    ConfigError,
    Cost,
    HydraCache,
    InvalidKey,
    get_default_cache,
    hydra_cache,
    set_default_cache,
)
from hydracache_sync.testing import FakeClock, MemoryTier

ROOT = Path(__file__).resolve().parent.parent
HEX32 = re.compile(r"[0-9a-f]{32}")


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    name: str


class Color(enum.Enum):
    RED = "r"


@pytest.fixture(name="cache")
def _cache() -> HydraCache:
    return HydraCache.local()


@pytest.fixture(name="default_cache")
def _default_cache() -> Iterator[HydraCache]:
    """A fresh process-wide default, restored afterwards."""
    previous = cached_module._default
    fresh = HydraCache.local()
    set_default_cache(fresh)
    yield fresh
    set_default_cache(previous)


def counted(cache: Any, **options: Any) -> tuple[Any, list[Any]]:
    """Return a decorated function recording its calls, and the record."""
    calls: list[Any] = []

    @hydra_cache(cache=cache, **options)
    def load(user_id: int, extra: int = 0) -> dict[str, int]:
        """Load one user."""
        calls.append((user_id, extra))
        return {"id": user_id, "extra": extra}

    return load, calls


class TestBasics:
    def test_caches_results(self, cache: HydraCache) -> None:
        """The second call with the same arguments is a hit."""
        load, calls = counted(cache)
        assert {"id": 1, "extra": 0} == load(1)
        assert {"id": 1, "extra": 0} == load(1)
        assert [(1, 0)] == calls
        assert 1 == cache.stats().hits

    def test_spellings_and_defaults_share_a_key(self, cache: HydraCache) -> None:
        """Positional, keyword and defaulted spellings of one call give one key."""
        load, calls = counted(cache)
        keys = {
            load.cache_key(1),
            load.cache_key(1, 0),
            load.cache_key(user_id=1),
            load.cache_key(1, extra=0),
            load.cache_key(extra=0, user_id=1),
        }
        assert 1 == len(keys)
        for call in (lambda: load(1), lambda: load(user_id=1), lambda: load(1, 0)):
            call()
        assert [(1, 0)] == calls
        assert load.cache_key(1) != load.cache_key(1, 1)

    def test_key_format(self, cache: HydraCache) -> None:
        """Keys are ``module.qualname:`` plus a 32-hex digest."""
        load, _ = counted(cache)
        key = load.cache_key(5)
        base = f"{__name__}.counted.<locals>.load:"
        assert base == key[: len(base)]
        assert HEX32.fullmatch(key[len(base) :])

    def test_wraps(self, cache: HydraCache) -> None:
        """__wrapped__, __name__, __qualname__, __doc__ and the signature survive."""
        load, _ = counted(cache)
        assert "load" == load.__name__
        assert "counted.<locals>.load" == load.__qualname__
        assert "Load one user." == load.__doc__
        assert "(user_id: 'int', extra: 'int' = 0) -> 'dict[str, int]'" == str(
            __import__("inspect").signature(load)
        )
        assert isinstance(load, CachedFunction)
        assert cache is load.cache
        assert callable(load.__wrapped__)

    def test_bare_decorator_uses_the_default(self, default_cache: HydraCache) -> None:
        """@hydra_cache without parentheses works and uses the default cache."""

        @hydra_cache
        def double(x: int) -> int:
            return 2 * x

        assert 4 == double(2)
        assert default_cache is double.cache
        assert 4 == default_cache.get(double.cache_key(2))

    def test_invalidate(self, cache: HydraCache) -> None:
        """invalidate(args) drops that result only; invalidate_all drops all."""
        load, calls = counted(cache)
        load(1)
        load(2)
        assert load.invalidate(user_id=1)
        assert not load.invalidate(1)
        load(1)
        load(2)
        assert [(1, 0), (2, 0), (1, 0)] == calls
        assert 2 == load.invalidate_all()
        load(2)
        assert 4 == len(calls)

    def test_a_miss_is_counted_and_read_once(self) -> None:
        """A cold call counts one miss and reads the shared tier once."""
        shared = MemoryTier()
        cache = HydraCache(shared=shared)
        load, _ = counted(cache)
        load(1)
        assert 1 == cache.stats().misses
        assert 2 == shared.calls  # one read, one write
        load(1)
        assert (1, 1) == (cache.stats().misses, cache.stats().hits)
        assert 2 == shared.calls
        reader, calls = counted(HydraCache(shared=shared))
        assert {"id": 1, "extra": 0} == reader(1)  # a shared-tier hit, no load
        assert [] == calls

    def test_unhashable_and_nested_arguments(self, cache: HydraCache) -> None:
        """Lists, dicts and sets work (keyed by content), every time."""
        calls: list[int] = []

        @hydra_cache(cache=cache)
        def total(items: list[int], weights: dict[str, float], tags: set[str]) -> int:
            calls.append(1)
            return sum(items)

        assert 3 == total([1, 2], {"a": 1.0, "b": 2.0}, {"x", "y"})
        assert 3 == total([1, 2], {"b": 2.0, "a": 1.0}, {"y", "x"})
        assert 1 == len(calls)
        assert total.cache_key([1, 2], {}, set()) != total.cache_key([2, 1], {}, set())

    def test_many_argument_types_are_encodable(self, cache: HydraCache) -> None:
        """Dates, UUIDs, decimals, enums, bytes, None, tuples and dataclasses work."""
        import uuid

        @hydra_cache(cache=cache)
        def echo(*args: Any, **kwargs: Any) -> int:
            return len(args) + len(kwargs)

        values = (
            datetime.date(2024, 1, 2),
            datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
            datetime.timedelta(seconds=5),
            uuid.UUID(int=5),
            decimal.Decimal("1.5"),
            Color.RED,
            b"\x00",
            None,
            (1, ("a",)),
            frozenset({1, 2}),
            User(1, "a"),
            int,
            3 + 4j,
            float("nan"),
        )
        assert len(values) + 1 == echo(*values, flag=True)
        assert len(values) + 1 == echo(*values, flag=True)

    def test_equal_values_share_unless_typed(self, cache: HydraCache) -> None:
        """1, 1.0, True and Decimal(1) share a key; typed=True separates them."""
        plain, _ = counted(cache)
        assert 1 == len(
            {
                plain.cache_key(1),
                plain.cache_key(1.0),
                plain.cache_key(True),
                plain.cache_key(decimal.Decimal(1)),
            }
        )
        typed, calls = counted(cache, typed=True)
        typed(1)
        typed(1.0)
        typed(True)
        typed(1)
        assert [(1, 0), (1.0, 0), (True, 0)] == calls
        assert typed.cache_key(1) != typed.cache_key(1.0)
        aware = datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.timezone.utc)
        shifted = aware.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
        assert plain.cache_key(aware) == plain.cache_key(shifted)  # equal instants

    def test_unencodable_argument_names_key(self, cache: HydraCache) -> None:
        """An argument with no canonical form raises TypeError naming key=."""
        load, _ = counted(cache)
        with pytest.raises(TypeError, match=r"key=") as info:
            load(object())  # type: ignore[arg-type]
        assert "user_id" in str(info.value)

    def test_bad_call_is_a_type_error(self, cache: HydraCache) -> None:
        """A call the signature refuses fails like the function would."""
        load, calls = counted(cache)
        with pytest.raises(TypeError):
            load(1, 2, 3)  # type: ignore[call-arg]
        assert [] == calls


class TestOptions:
    def test_ttl(self) -> None:
        """ttl= bounds the entry's life."""
        clock = FakeClock()
        cache = HydraCache.local(timer=clock)
        load, calls = counted(cache, ttl=10)
        load(1)
        clock.advance(5)
        load(1)
        clock.advance(6)
        load(1)
        assert 2 == len(calls)

    def test_static_and_callable_tags(self, cache: HydraCache) -> None:
        """tags= as a list, or a callable receiving the call's arguments."""
        static, _ = counted(cache.namespace("s"), tags=["users"])
        dynamic, _ = counted(cache, tags=lambda user_id, extra=0: [f"user:{user_id}"])
        static(1)
        dynamic(1)
        dynamic(2, extra=3)
        assert 1 == cache.invalidate_tag("user:2")
        assert 1 == cache.invalidate_tag("users")
        assert 1 == len(cache)

    def test_negative_ttl(self) -> None:
        """A None result is cached for negative_ttl."""
        clock = FakeClock()
        cache = HydraCache.local(timer=clock)
        calls: list[int] = []

        @hydra_cache(cache=cache, ttl=100, negative_ttl=5)
        def find(x: int) -> None:
            calls.append(x)

        find(1)
        find(1)
        clock.advance(6)
        find(1)
        assert [1, 1] == calls

    def test_cost_places_the_entry(self) -> None:
        """cost=Cost.CHEAP keeps results out of the shared tier."""
        shared = MemoryTier()
        cache = HydraCache(shared=shared)
        cheap, _ = counted(cache.namespace("cheap"), cost=Cost.CHEAP)
        normal, _ = counted(cache)
        cheap(1)
        normal(1)
        assert shared.get(cheap.cache_key(1)) is None
        assert shared.get(normal.cache_key(1)) is not None

    def test_namespace_and_views(self, cache: HydraCache) -> None:
        """namespace= and a view as cache= both prefix the key."""
        spaced, _ = counted(cache, namespace="svc")
        viewed, _ = counted(cache.namespace("app").version("v1"))
        both, _ = counted(cache.namespace("app"), namespace="inner")
        assert spaced.cache_key(1).startswith("svc:")
        assert viewed.cache_key(1).startswith("app@v1:")
        assert both.cache_key(1).startswith("app:inner:")
        viewed(1)
        assert 1 == cache.namespace("app").version("v1").clear()

    def test_unless(self, cache: HydraCache) -> None:
        """unless= receives the result; a true answer returns it uncached."""
        seen: list[Any] = []

        def is_error(result: Any) -> bool:
            seen.append(result)
            return bool(result.get("error"))

        calls: list[int] = []

        @hydra_cache(cache=cache, unless=is_error)
        def fetch(x: int) -> dict[str, Any]:
            calls.append(x)
            return {"error": x < 0, "x": x}

        assert {"error": True, "x": -1} == fetch(-1)
        assert {"error": True, "x": -1} == fetch(-1)
        fetch(1)
        fetch(1)
        assert [-1, -1, 1] == calls
        assert {"error": False, "x": 1} in seen
        assert fetch.cache_key(-1) not in cache
        assert 0 == cache.stats().load_errors, "a refused result is not an error"

    def test_custom_key(self, cache: HydraCache) -> None:
        """key= returns a str (used as is) or a tuple of segments."""

        @hydra_cache(cache=cache, key=lambda user_id, extra=0: f"user:{user_id}")
        def by_str(user_id: int, extra: int = 0) -> int:
            return user_id

        @hydra_cache(cache=cache.namespace("n"), key=lambda a: ("item", a))
        def by_segments(a: int) -> int:
            return a

        @hydra_cache(cache=cache, key=lambda a: ("bad:segment", a))
        def bad(a: int) -> int:
            return a

        @hydra_cache(cache=cache, key=lambda a: "")
        def empty(a: int) -> int:
            return a

        assert 7 == by_str(7)
        assert 7 == cache.get("user:7")
        assert "n:item:3" == by_segments.cache_key(3)
        assert 3 == by_segments(3)
        with pytest.raises(InvalidKey):
            bad(1)
        with pytest.raises(InvalidKey):
            empty(1)
        with pytest.raises(ConfigError):
            by_str.invalidate_all()

    @pytest.mark.parametrize(
        "options",
        [
            {"cache": object()},
            {"ttl": -1},
            {"cost": "cheap"},
            {"key": "user"},
            {"unless": 5},
            {"namespace": "a::b"},
            {"tags": "users"},
        ],
    )
    def test_bad_options(self, options: dict[str, Any]) -> None:
        """Invalid decorator arguments raise ConfigError when decorating."""
        with pytest.raises(ConfigError):
            hydra_cache(**options)

    def test_ignore_self_needs_a_parameter(self, cache: HydraCache) -> None:
        """ignore_self=True on a function without parameters is a ConfigError."""
        with pytest.raises(ConfigError):
            hydra_cache(cache=cache, ignore_self=True)(lambda: 1)

    def test_memo_is_bounded(
        self, cache: HydraCache, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The remembered keys never exceed two generations of their cap."""
        monkeypatch.setattr(cached_module, "_MEMO_SIZE", 8)
        load, _ = counted(cache)
        for n in range(50):
            load(n)
            assert load._memo.size <= 16
        assert 8 <= load._memo.size
        assert load.cache_key(3) == load.cache_key(user_id=3)


class Service:
    """A class with a __cache_key__ identity."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.calls: list[Any] = []

    def __cache_key__(self) -> str:
        return self.tenant

    @hydra_cache(cache=HydraCache.local())
    def load(self, x: int) -> str:
        """Load for this tenant."""
        self.calls.append(x)
        return f"{self.tenant}:{x}"


class Anonymous:
    """No __cache_key__: leave it out with ignore_self."""

    @hydra_cache(cache=HydraCache.local(), ignore_self=True)
    def load(self, x: int) -> int:
        return x * 10


@dataclasses.dataclass(frozen=True)
class Point:
    """A dataclass instance is encoded by its fields."""

    x: int

    @hydra_cache(cache=HydraCache.local())
    def scaled(self, k: int) -> int:
        return self.x * k


class Plain:
    """Neither __cache_key__ nor encodable."""

    @hydra_cache(cache=HydraCache.local())
    def load(self, x: int) -> int:
        return x


class Catalog:
    calls: list[Any] = []  # noqa: RUF012 - test bookkeeping

    @classmethod
    @hydra_cache(cache=HydraCache.local())
    def outer(cls, x: int) -> str:
        cls.calls.append(("outer", x))
        return f"{cls.__name__}:{x}"

    @hydra_cache(cache=HydraCache.local())
    @classmethod
    def inner(cls, x: int) -> str:
        cls.calls.append(("inner", x))
        return f"{cls.__name__}:{x}"

    @staticmethod
    @hydra_cache(cache=HydraCache.local())
    def static_outer(x: int) -> int:
        Catalog.calls.append(("static_outer", x))
        return x

    @hydra_cache(cache=HydraCache.local())
    @staticmethod
    def static_inner(x: int) -> int:
        Catalog.calls.append(("static_inner", x))
        return x


class SubCatalog(Catalog):
    pass


class TestMethods:
    def test_cache_key_hook(self) -> None:
        """Instances with equal __cache_key__ share results; others do not."""
        one, same, other = Service("acme"), Service("acme"), Service("zeta")
        assert "acme:1" == one.load(1)
        assert "acme:1" == same.load(1)
        assert "zeta:1" == other.load(1)
        assert [1] == one.calls
        assert [] == same.calls
        assert one.load.cache_key(1) == same.load.cache_key(1)
        assert one.load.cache_key(1) != other.load.cache_key(1)
        assert one.load.invalidate(1)
        assert "acme:1" == same.load(1)
        assert [1] == same.calls
        assert "load" == one.load.__name__
        assert "Load for this tenant." == Service.load.__doc__

    def test_ignore_self(self) -> None:
        """ignore_self=True leaves the instance out: all instances share."""
        assert 10 == Anonymous().load(1)
        assert Anonymous().load.cache_key(1) == Anonymous().load.cache_key(1)

    def test_dataclass_instance_is_an_argument(self) -> None:
        """An instance without __cache_key__ is encoded like any argument."""
        assert 6 == Point(2).scaled(3)
        assert Point(2).scaled.cache_key(3) == Point(2).scaled.cache_key(3)
        assert Point(2).scaled.cache_key(3) != Point(4).scaled.cache_key(3)

    def test_unencodable_instance(self) -> None:
        """A plain instance cannot be keyed: TypeError naming key=."""
        with pytest.raises(TypeError, match="key="):
            Plain().load(1)

    @pytest.mark.parametrize("kind", ["hook", "ignore_self", "dataclass"])
    def test_instances_are_not_kept_alive(self, kind: str) -> None:
        """After calls, the decorator holds no reference to the instance."""
        instance: Any
        if kind == "hook":
            instance = Service("gone")
            instance.load(1)
            instance.load(1)
        elif kind == "ignore_self":
            instance = Anonymous()
            instance.load(2)
            instance.load(2)
        else:

            @dataclasses.dataclass(eq=False)
            class Box:
                x: int

                @hydra_cache(cache=HydraCache.local())
                def get(self) -> int:
                    return self.x

            instance = Box(1)
            instance.get()
            instance.get()
        ref = weakref.ref(instance)
        del instance
        gc.collect()
        assert ref() is None

    def test_classmethods_both_orders(self) -> None:
        """@classmethod above or below @hydra_cache: cached per class."""
        Catalog.calls.clear()
        for _ in range(2):
            assert "Catalog:1" == Catalog.outer(1)
            assert "Catalog:1" == Catalog.inner(1)
            assert "SubCatalog:1" == SubCatalog.inner(1)
            assert "Catalog:2" == Catalog().inner(2)
        assert [
            ("outer", 1),
            ("inner", 1),
            ("inner", 1),
            ("inner", 2),
        ] == Catalog.calls
        assert Catalog.inner.invalidate(1)
        assert Catalog.inner.cache_key(1) != SubCatalog.inner.cache_key(1)

    def test_staticmethods_both_orders(self) -> None:
        """@staticmethod above or below @hydra_cache: plain calls, cached."""
        Catalog.calls.clear()
        for _ in range(2):
            assert 3 == Catalog.static_outer(3)
            assert 3 == Catalog().static_inner(3)
        assert [("static_outer", 3), ("static_inner", 3)] == Catalog.calls
        assert Catalog.static_inner.invalidate(3)
        assert Catalog.static_outer.invalidate(3)


class TestConcurrency:
    def test_32_threads_one_loader_run(self, cache: HydraCache) -> None:
        """32 threads calling a cold function run it once and all get the value."""
        runs: list[int] = []
        barrier = threading.Barrier(32)

        @hydra_cache(cache=cache)
        def slow(x: int) -> int:
            runs.append(x)
            time.sleep(0.05)
            return x * 2

        results: list[int] = []
        lock = threading.Lock()

        def worker() -> None:
            barrier.wait()
            value = slow(21)
            with lock:
                results.append(value)

        threads = [threading.Thread(target=worker) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = cache.stats()
        assert [21] == runs
        assert [42] * 32 == results
        assert 1 == stats.loads
        assert 32 == stats.misses + stats.hits + stats.joins  # one each
        assert 1 == stats.misses  # the leader; the others joined or hit
        assert 42 == slow(21)
        after = cache.stats()
        assert 33 == after.misses + after.hits + after.joins

    def test_unless_reaches_waiters(self, cache: HydraCache) -> None:
        """Callers waiting on a load refused by unless= get its result too."""
        runs: list[int] = []
        barrier = threading.Barrier(8)

        @hydra_cache(cache=cache, unless=lambda result: True)
        def slow(x: int) -> int:
            runs.append(x)
            time.sleep(0.05)
            return x

        results: list[int] = []

        def worker() -> None:
            barrier.wait()
            results.append(slow(1))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [1] * 8 == results
        assert 1 <= len(runs) < 8
        assert slow.cache_key(1) not in cache


class TestProcesses:
    def test_two_processes_compute_the_same_key(self, cache: HydraCache) -> None:
        """A subprocess (another hash seed) computes the same key for the same call."""
        code = """
import datetime, decimal, sys
sys.path.insert(0, {tests!r})
from test_decorator import counted, User
from hydracache_sync import HydraCache
load, _ = counted(HydraCache.local())
print(load.cache_key(42))
print(load.cache_key({{"b": [1, 2.5], "a": {{3, 1}}}}, extra=7))
print(load.cache_key(User(1, "x"), datetime.date(2024, 5, 6)))
print(load.cache_key(decimal.Decimal("0.1"), "héllo"))
"""
        load, _ = counted(cache)
        expected = [
            load.cache_key(42),
            load.cache_key({"a": {1, 3}, "b": [1, 2.5]}, extra=7),  # type: ignore[arg-type]
            load.cache_key(User(1, "x"), datetime.date(2024, 5, 6)),  # type: ignore[arg-type]
            load.cache_key(decimal.Decimal("0.1"), "héllo"),  # type: ignore[arg-type]
        ]
        out = subprocess.run(
            [sys.executable, "-c", code.format(tests=str(ROOT / "tests"))],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "7"},
        )
        assert expected == out.stdout.split()
        # The counted() function is defined in this module: same qualname there.
        assert all(key.startswith("test_decorator.counted.") for key in expected)


class TestDefaultCache:
    def test_lazy_default(self) -> None:
        """get_default_cache() creates one local cache and returns it after."""
        previous = cached_module._default
        set_default_cache(None)
        try:
            first = get_default_cache()
            assert isinstance(first, HydraCache)
            assert first is get_default_cache()
        finally:
            set_default_cache(previous)

    def test_set_default_rebinds_decorated_functions(
        self, default_cache: HydraCache
    ) -> None:
        """Functions decorated without cache= follow set_default_cache()."""
        load, calls = counted(None)
        load(1)
        assert default_cache is load.cache
        other = HydraCache.local()
        set_default_cache(other.namespace("svc"))
        load(1)
        assert 2 == len(calls)
        assert load.cache_key(1).startswith("svc:")
        assert other.namespace("svc") == load.cache
        assert 1 == len(other)

    def test_default_must_be_a_cache(self) -> None:
        """set_default_cache() refuses anything else."""
        with pytest.raises(ConfigError):
            set_default_cache("redis://")  # type: ignore[arg-type]


class TestTypedTargets:
    def test_typed_view_with_a_dataclass(self) -> None:
        """Through a typed view: results are checked and round-trip as the class."""
        shared = MemoryTier()
        writer = HydraCache(shared=shared)
        calls: list[int] = []

        def make(cache: HydraCache) -> Any:
            @hydra_cache(cache=cache.typed(User, "users"), ttl=60)
            def load_user(user_id: int) -> User:
                calls.append(user_id)
                return User(user_id, f"user{user_id}")

            return load_user

        assert User(1, "user1") == make(writer)(1)
        reader = make(HydraCache(shared=shared))  # a second process, in effect
        assert User(1, "user1") == reader(1)
        assert isinstance(reader(1), User)
        assert [1] == calls
        assert reader.cache_key(1).startswith("users:")

        @hydra_cache(cache=writer.typed(User, "users"))
        def wrong(user_id: int) -> User:
            return {"id": user_id}  # type: ignore[return-value]

        with pytest.raises(TypeError, match="User"):
            wrong(2)
        assert wrong.cache_key(2) not in writer
