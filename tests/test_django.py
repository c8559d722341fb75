"""HydraCacheBackend beyond Django's own suite (tests/compat): our own promises.

Signed pickles (forged bytes in Redis are never unpickled), the timeout
mapping, engine sharing by LOCATION, OPTIONS validation and single-flight
``get_or_set``.
"""

from __future__ import annotations

import pickle
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")

from compat.conftest import peer_suite
from compat.django_settings import configure

_suite = peer_suite("django")
configure(None if _suite is None else _suite.parent)

from django.core.cache.backends.base import CacheKeyWarning  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from hydracache_sync._envelope import pack  # noqa: E402
from hydracache_sync._frameworks import SignedPickleCodec, derive_key  # noqa: E402
from hydracache_sync.django import HydraCacheBackend, close_engines  # noqa: E402


class Opaque:
    """A value CBOR cannot hold (so it is pickled)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.n == self.n

    __hash__ = None  # type: ignore[assignment]


class Boom:
    """Unpickling it would run code: the forged payload of the tests."""

    ran = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (setattr, (Boom, "ran", True))


@pytest.fixture
def backend() -> Iterator[HydraCacheBackend]:
    """A memory-only backend (its engine closed afterwards)."""
    yield HydraCacheBackend("", {"KEY_PREFIX": "t"})
    close_engines()


@pytest.fixture
def redis_backend(redis_url: str, redis_prefix: str) -> Iterator[HydraCacheBackend]:
    """A memory + Redis backend under a unique Redis prefix."""
    yield HydraCacheBackend(redis_url, {"OPTIONS": {"PREFIX": redis_prefix}})
    close_engines()


def test_values_cbor_cannot_hold_round_trip(backend: HydraCacheBackend) -> None:
    """Objects are pickled (signed) and come back equal."""
    backend.set("o", Opaque(3))
    assert Opaque(3) == backend.get("o")


def test_forged_pickle_in_redis_is_never_unpickled(
    redis_backend: HydraCacheBackend, redis_url: str, redis_prefix: str
) -> None:
    """A pickle written into Redis without our signature is a miss, not code."""
    backend = redis_backend
    backend.set("victim", Opaque(1))
    engine = backend.engine
    store: Any = engine.tiers["shared"]
    full = backend.make_key("victim")
    payload = pickle.dumps(Boom())
    for forged_body in (
        b"p" + b"\0" * 32 + payload,  # a made-up MAC
        b"p" + payload,  # no MAC at all
        payload,  # a bare pickle
    ):
        forged = pack(full, forged_body, flags=0, expires_at=None, tags=())
        store.client.set(store.value_key(full), forged)
        engine.local_store.clear()
        assert backend.get("victim", "miss") == "miss"
    assert Boom.ran is False
    assert 3 == engine.stats().decode_errors
    store.client.set(
        store.value_key(full), pack(full, b"c\x01", flags=0, expires_at=None, tags=())
    )
    engine.local_store.clear()
    assert 1 == backend.get("victim")  # the envelope path itself works


def test_signing_key_rotation() -> None:
    """A fallback key still verifies; an unknown key does not."""
    old = SignedPickleCodec([derive_key("old-secret")])
    rotated = SignedPickleCodec([derive_key("new-secret"), derive_key("old-secret")])
    other = SignedPickleCodec([derive_key("someone-else")])
    data = old.encode(Opaque(5))
    assert Opaque(5) == rotated.decode(data)
    with pytest.raises(ValueError, match="signature"):
        other.decode(data)
    assert [1, "x"] == other.decode(old.encode([1, "x"]))  # CBOR needs no key


def test_timeouts_follow_django(backend: HydraCacheBackend) -> None:
    """None is forever, 0 or less expires at once, numbers are seconds."""
    backend.set("forever", 1, None)
    assert backend.engine.ttl(backend.make_key("forever")) is None
    backend.set("gone", 1, 0)
    backend.set("negative", 1, -5)
    assert backend.get_many(["gone", "negative"]) == {}
    backend.set("short", 1, 0.3)
    time.sleep(0.6)
    assert backend.get("short") is None


def test_same_location_shares_one_engine(backend: HydraCacheBackend) -> None:
    """Aliases with the same LOCATION and OPTIONS share an engine; others do not."""
    other = HydraCacheBackend("", {"KEY_PREFIX": "other"})
    sized = HydraCacheBackend("", {"OPTIONS": {"MAX_BYTES": "1MB"}})
    assert backend.engine is other.engine
    assert backend.engine is not sized.engine


def test_unknown_option_is_refused() -> None:
    """A misspelt OPTIONS key fails at construction, naming it."""
    with pytest.raises(ImproperlyConfigured, match="MAX_BYTE"):
        HydraCacheBackend("", {"OPTIONS": {"MAX_BYTE": "1MB"}})


def test_get_or_set_runs_the_callable_once(backend: HydraCacheBackend) -> None:
    """Eight concurrent get_or_set calls on a cold key run the callable once."""
    calls = []
    barrier = threading.Barrier(8)
    results = []

    def expensive() -> str:
        calls.append(1)
        time.sleep(0.2)
        return "value"

    def work() -> None:
        barrier.wait()
        results.append(backend.get_or_set("cold", expensive, 60))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 == len(calls)
    assert ["value"] * 8 == results


def test_incr_missing_is_value_error(backend: HydraCacheBackend) -> None:
    """Django's rule: incr of a missing key raises ValueError."""
    with pytest.raises(ValueError, match="not found"):
        backend.incr("nope")
    backend.set("n", 1)
    assert 3 == backend.incr("n", 2)
    assert 2 == backend.decr("n")


def test_unusual_keys_work(backend: HydraCacheBackend) -> None:
    """Long keys and keys with control characters are hashed, stay distinct."""
    keys = ["k" * 3000, "k" * 3001, "nul\x00key", "nul\x01key", "tab\tkey"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheKeyWarning)  # Django's usual warning
        for number, key in enumerate(keys):
            backend.set(key, number)
        found = [backend.get(key) for key in keys]
    assert list(range(len(keys))) == found
    assert backend.add("\ud800", 1) is True
    assert 2 == backend.incr("\ud800")


@pytest.mark.postgres
def test_postgres_without_redis_is_the_store(
    postgres_dsn: str, postgres_schema: str
) -> None:
    """With POSTGRES_DSN and no LOCATION, entries live in Postgres (shared)."""
    from hydracache_sync import Tier

    options = {"POSTGRES_DSN": postgres_dsn, "POSTGRES_SCHEMA": postgres_schema}
    backend = HydraCacheBackend("", {"OPTIONS": options})
    try:
        assert Tier.DURABLE == backend.engine.base_tier()
        backend.set("k", "v", 60)
        assert backend.add("counter", 1) is True
        assert 2 == backend.incr("counter")
        durable: Any = backend.engine.tiers["durable"]
        assert durable.get(backend.make_key("k")) is not None
    finally:
        close_engines()
