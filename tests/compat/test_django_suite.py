"""Django's own ``BaseCacheTests`` run against ``HydraCacheBackend``.

The tests are Django 5.2's ``tests/cache/tests.py``, taken from the sdist of
the installed Django (see ``fetch_peer_suites.py``), unchanged. Two
configurations: memory only (``LOCATION`` empty) and memory + Redis. As for
Django's own Redis backend, the ``cull`` and ``zero_cull`` cache aliases are
left out (the local tier evicts by bytes, not by ``MAX_ENTRIES``), so
``test_cull``, ``test_zero_cull`` and ``test_cull_delete_when_store_empty``
skip themselves ("Culling isn't implemented."). Nothing else is excluded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import REQUIRE, peer_suite
from .django_settings import configure

SUITE = peer_suite("django")
if SUITE is None:
    pytest.skip("Django's test suite could not be fetched", allow_module_level=True)
configure(SUITE.parent)

from cache import tests as peer  # noqa: E402
from django.test import TestCase, override_settings  # noqa: E402

from hydracache_sync.django import close_engines  # noqa: E402

BACKEND = "hydracache_sync.django.HydraCacheBackend"
EXCLUDED = {"cull", "zero_cull"}  # as Django's RedisCacheTests: redis_excluded_caches
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_PREFIX = f"hcdjango:{uuid.uuid4().hex[:12]}:"


def _redis_reachable() -> bool:
    try:
        import redis
    except ImportError:
        return False
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return False
    finally:
        client.close()
    return True


@pytest.fixture(scope="module", autouse=True)
def _engines() -> Iterator[None]:
    """Close the engines afterwards and remove this run's Redis keys."""
    yield
    close_engines()
    if _redis_reachable():
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=REDIS_PREFIX + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.usefixtures("django_test_db")
@override_settings(
    CACHES=peer.caches_setting_for_tests(BACKEND=BACKEND, exclude=EXCLUDED)
)
class TestDjangoSuiteMemory(peer.BaseCacheTests, TestCase):  # type: ignore[misc]
    """Django's BaseCacheTests, memory only (``LOCATION`` empty)."""


@pytest.mark.usefixtures("django_test_db")
@override_settings(
    CACHES=peer.caches_setting_for_tests(
        base={
            "BACKEND": BACKEND,
            "LOCATION": REDIS_URL,
            "OPTIONS": {"PREFIX": REDIS_PREFIX},
        },
        exclude=EXCLUDED,
    )
)
class TestDjangoSuiteRedis(peer.BaseCacheTests, TestCase):  # type: ignore[misc]
    """Django's BaseCacheTests, memory + Redis."""

    @classmethod
    def setUpClass(cls) -> None:
        """Skip (or, in CI, fail) without a Redis server."""
        if not _redis_reachable():
            if REQUIRE:
                raise RuntimeError(f"Redis at {REDIS_URL} is unreachable")
            raise pytest.skip.Exception("Redis is unreachable")
        super().setUpClass()


def test_suite_is_the_peer_one() -> None:
    """The classes above run Django's own test methods (not a local copy)."""
    names: Any = [n for n in dir(peer.BaseCacheTests) if n.startswith("test_")]
    assert len(names) >= 50
    assert peer.__file__ is not None
    assert str(SUITE) in peer.__file__
