"""The Flask-Caching backend inside a real ``flask_caching.Cache`` app.

Flask-Caching's own backend suite runs in tests/compat; here: configuration
through ``CACHE_TYPE`` and the app config, ``@cache.memoize`` with
``delete_memoized``, ``@cache.cached``, the timeout convention and signing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

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


def _run_threads(count: int, target: Callable[[], None]) -> None:
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        target()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_memoize_single_flight(app: flask.Flask) -> None:
    """Eight concurrent cold calls of a memoized function run it once."""
    cache = flask_caching.Cache(app)
    calls: list[int] = []

    @cache.memoize(timeout=60)
    def slow(n: int) -> int:
        calls.append(n)
        time.sleep(0.2)
        return n

    results: list[int] = []

    def call() -> None:
        with app.app_context():
            results.append(slow(5))

    _run_threads(8, call)
    assert [5] == calls
    assert [5] * 8 == results


def test_cached_view_single_flight(app: flask.Flask) -> None:
    """Eight concurrent cold requests of a ``@cache.cached`` view render it once."""
    cache = flask_caching.Cache(app)
    renders: list[int] = []

    @app.get("/slow")
    @cache.cached(timeout=60)
    def slow() -> str:
        renders.append(1)
        time.sleep(0.2)
        return "slow page"

    bodies: list[bytes] = []
    _run_threads(8, lambda: bodies.append(app.test_client().get("/slow").data))
    assert [1] == renders
    assert [b"slow page"] * 8 == bodies


def test_failed_leader_hands_over_at_once(app: flask.Flask) -> None:
    """When the first call raises, one waiter runs next; nobody waits out the lease."""
    cache = flask_caching.Cache(app)
    calls: list[str] = []
    lock = threading.Lock()

    @cache.memoize(timeout=60)
    def flaky() -> str:
        with lock:
            calls.append("call")
            first = len(calls) == 1
        time.sleep(0.2)
        if first:
            raise RuntimeError("first call fails")
        return "ok"

    outcomes: list[str] = []

    def call() -> None:
        with app.app_context():
            try:
                outcomes.append(flaky())
            except RuntimeError:
                outcomes.append("error")

    started = time.monotonic()
    _run_threads(4, call)
    assert 2 == len(calls)
    assert ["error", "ok", "ok", "ok"] == sorted(outcomes)
    assert time.monotonic() - started < 10  # the lease is 30 s


def test_plain_get_never_waits(app: flask.Flask) -> None:
    """A get() outside the decorators returns a miss even while a load runs."""
    cache = flask_caching.Cache(app)
    entered = threading.Event()

    @cache.memoize(timeout=60)
    def slow() -> int:
        entered.set()
        time.sleep(1.0)
        return 1

    def call() -> None:
        with app.app_context():
            slow()

    worker = threading.Thread(target=call)
    worker.start()
    assert entered.wait(5)
    with app.app_context():
        key = slow.make_cache_key(slow.uncached)
        started = time.monotonic()
        assert cache.get(key) is None
        assert time.monotonic() - started < 0.5
    worker.join()


def test_single_flight_can_be_off() -> None:
    """HYDRACACHE_SINGLE_FLIGHT = 0: every concurrent miss runs the function."""
    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="hydracache_sync.flask_caching.HydraCache",
        HYDRACACHE_SINGLE_FLIGHT=0,
        HYDRACACHE_PREFIX="off:",
    )
    cache = flask_caching.Cache(app)
    calls: list[int] = []

    @cache.memoize(timeout=60)
    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 1

    def call() -> None:
        with app.app_context():
            slow()

    _run_threads(4, call)
    assert 4 == len(calls)
    close_engines()


def test_leader_reentering_its_key_does_not_wait(app: flask.Flask) -> None:
    """A memoized call that re-enters its own key on the same thread never waits."""
    cache = flask_caching.Cache(app)

    @cache.memoize(timeout=60, args_to_ignore=["depth"])
    def walk(depth: int) -> int:
        return walk(depth - 1) + 1 if depth else 0  # one key for every depth

    with app.app_context():
        started = time.monotonic()
        assert 3 == walk(3)
        assert time.monotonic() - started < 5  # the lease wait is 30 s


@pytest.mark.redis
def test_memoize_single_flight_on_redis(redis_url: str, redis_prefix: str) -> None:
    """On fresh Redis-backed engines, 16 cold concurrent calls run once, every round.

    Each round is a new function version (Flask-Caching's version key is made
    up on first use): a waiter arriving just after the first holder stored it
    must read it, not make up another version.
    """
    runs: list[int] = []
    for round_number in range(5):
        app = flask.Flask(f"round{round_number}")
        app.config.update(
            CACHE_TYPE="hydracache_sync.flask_caching.HydraCache",
            CACHE_REDIS_URL=redis_url,
            CACHE_KEY_PREFIX=f"r{round_number}:",
            HYDRACACHE_PREFIX=f"{redis_prefix}{round_number}:",
        )
        cache = flask_caching.Cache(app)
        calls: list[int] = []

        def make(calls: list[int]) -> Callable[[], int]:
            def slow() -> int:
                calls.append(1)
                time.sleep(0.05)
                return 1

            return slow

        memoized = cache.memoize(timeout=60)(make(calls))

        def call(app: flask.Flask = app, memoized: Any = memoized) -> None:
            with app.app_context():
                memoized()

        _run_threads(16, call)
        runs.append(len(calls))
    close_engines()
    assert [1] * 5 == runs


@pytest.mark.postgres
def test_postgres_without_redis_is_the_store(
    postgres_dsn: str, postgres_schema: str
) -> None:
    """HYDRACACHE_POSTGRES_DSN without a Redis URL: entries live in Postgres."""
    from hydracache_sync import Tier

    cache = HydraCache(
        config={
            "HYDRACACHE_POSTGRES_DSN": postgres_dsn,
            "HYDRACACHE_POSTGRES_SCHEMA": postgres_schema,
        }
    )
    try:
        assert Tier.DURABLE == cache.engine.base_tier()
        assert cache.add("k", 1) is True
        assert 2 == cache.inc("k")
    finally:
        close_engines()
