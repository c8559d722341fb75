"""The Flask-Caching backend inside a real ``flask_caching.Cache`` app.

Flask-Caching's own backend suite runs in tests/compat; here: configuration
through ``CACHE_TYPE`` and the app config, ``@cache.memoize`` with
``delete_memoized``, ``@cache.cached``, the timeout convention and signing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

flask = pytest.importorskip("flask")
flask_caching = pytest.importorskip("flask_caching")

from hydracache_sync.errors import CodecError  # noqa: E402
from hydracache_sync.flask_caching import HydraCache, close_engines  # noqa: E402


@pytest.fixture
def app() -> Iterator[flask.Flask]:
    """A Flask app using the backend through CACHE_TYPE."""
    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="hydracache_sync.flask_caching.HydraCache",
        CACHE_KEY_PREFIX="app:",
        CACHE_DEFAULT_TIMEOUT=60,
        SECRET_KEY="flask-caching-test-secret-0123456789",
    )
    yield app
    close_engines()


def test_factory_reads_the_app_config(app: flask.Flask) -> None:
    """CACHE_KEY_PREFIX and CACHE_DEFAULT_TIMEOUT reach the backend."""
    cache = flask_caching.Cache(app)
    with app.app_context():
        backend = cache.cache
        assert isinstance(backend, HydraCache)
        assert "app:" == backend.key_prefix
        assert 60 == backend.default_timeout
        cache.set("k", 1)
        assert 1 == backend.engine.get("app:k")
        left = backend.engine.ttl("app:k")
        assert left is not None
        assert 55 < left <= 60


def test_memoize_and_delete_memoized(app: flask.Flask) -> None:
    """``@cache.memoize`` caches per arguments; ``delete_memoized`` drops them."""
    cache = flask_caching.Cache(app)
    calls: list[int] = []

    @cache.memoize()
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    with app.app_context():
        assert [4, 4, 9] == [square(2), square(2), square(3)]
        assert [2, 3] == calls
        cache.delete_memoized(square, 2)
        assert 4 == square(2)
        assert [2, 3, 2] == calls


def test_cached_view(app: flask.Flask) -> None:
    """``@cache.cached`` serves the second request from the cache."""
    cache = flask_caching.Cache(app)
    calls: list[int] = []

    @app.get("/page")
    @cache.cached(timeout=30)
    def page() -> str:
        calls.append(1)
        return "hello"

    client = app.test_client()
    assert [b"hello", b"hello"] == [client.get("/page").data for _ in range(2)]
    assert 1 == len(calls)


def test_zero_is_forever_negative_is_gone() -> None:
    """Flask-Caching's rule: 0 never expires; a negative timeout stores nothing."""
    cache = HydraCache(default_timeout=1)
    cache.set("forever", 1, timeout=0)
    cache.set("gone", 1, timeout=-1)
    assert cache.engine.ttl("forever") is None
    assert cache.get("gone") is None
    assert 1 == cache.inc("counter")
    assert 0 == cache.dec("counter")
    close_engines()


def test_objects_need_a_secret() -> None:
    """Without a secret only CBOR values are accepted; with one, objects pickle."""

    class Thing:
        pass

    with pytest.raises(CodecError):
        HydraCache().set("t", Thing())
    signed = HydraCache(secret="a-secret-of-enough-length")
    signed.set("t", time.struct_time((2020, 1, 1, 0, 0, 0, 0, 1, 0)))
    assert 2020 == signed.get("t").tm_year
    close_engines()
