"""Flask-Caching's own ``GenericCacheTests`` run against its HydraCache backend.

The tests are Flask-Caching 2.5's ``tests/test_backend_cache.py``, taken from
the sdist of the installed version (see ``fetch_peer_suites.py``), unchanged.
Two configurations: memory only and memory + Redis. Time is real (the
backend's TTLs run on the monotonic clock and Redis' own), so
``_can_use_fast_sleep`` is off, as for Flask-Caching's Redis and Memcached
backends. Nothing is excluded.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .conftest import peer_suite

SUITE = peer_suite("flask-caching")
if SUITE is None:
    pytest.skip(
        "Flask-Caching's test suite could not be fetched", allow_module_level=True
    )
_spec = importlib.util.spec_from_file_location(
    "flask_caching_peer_tests", SUITE / "test_backend_cache.py"
)
assert _spec is not None
assert _spec.loader is not None
peer: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer)

from hydracache_sync.flask_caching import HydraCache, close_engines  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def clock() -> Callable[[float], None]:
    """The suite's ``sleep`` fixture asks for a clock; real time is used."""
    return time.sleep


@pytest.fixture(scope="module", autouse=True)
def _engines() -> Iterator[None]:
    """Close the engines built by this module afterwards."""
    yield
    close_engines()


class TestFlaskCachingSuiteMemory(peer.GenericCacheTests):  # type: ignore[misc]
    """Flask-Caching's GenericCacheTests, memory only."""

    _can_use_fast_sleep = False

    @pytest.fixture
    def make_cache(self) -> Iterator[Callable[[], HydraCache]]:
        """A memory-only backend with its own engine, cleared afterwards."""
        cache = HydraCache(key_prefix="peer:")
        yield lambda: cache
        cache.clear()


class TestFlaskCachingSuiteRedis(peer.GenericCacheTests):  # type: ignore[misc]
    """Flask-Caching's GenericCacheTests, memory + Redis."""

    _can_use_fast_sleep = False

    @pytest.fixture
    def make_cache(
        self, request: pytest.FixtureRequest
    ) -> Iterator[Callable[[], HydraCache]]:
        """A memory + Redis backend under a unique Redis prefix, cleared afterwards."""
        url = request.getfixturevalue("redis_url")  # skips (or fails in CI)
        prefix = request.getfixturevalue("redis_prefix")
        cache = HydraCache(
            key_prefix="peer:", redis_url=url, config={"HYDRACACHE_PREFIX": prefix}
        )
        yield lambda: cache
        cache.clear()
