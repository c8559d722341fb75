"""The Flask extension and cached views, with Flask's test client on real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("flask")

from flask import Flask, Response, make_response, session

from hydracache_sync import HydraCache
from hydracache_sync.errors import ConfigError
from hydracache_sync.flask import (
    HydraCacheExtension,
    cache_from_config,
    cached_view,
)

Calls = list[str]


def make_app(
    config: dict[str, Any], ext: HydraCacheExtension | None = None
) -> tuple[Flask, HydraCacheExtension, Calls]:
    """Build an app with a few cached views; return it, the extension, the calls."""
    app = Flask(__name__)
    app.config.update(config)
    app.secret_key = "test"
    ext = ext or HydraCacheExtension()
    ext.init_app(app)
    calls: Calls = []

    @app.route("/users/<int:user_id>", methods=["GET", "POST"])
    @ext.cached_view(ttl=60, tags=lambda user_id: [f"user:{user_id}"])
    def user(user_id: int) -> dict[str, Any]:
        calls.append(f"user:{user_id}")
        return {"id": user_id, "calls": len(calls)}

    @app.get("/search")
    @ext.cached_view(ttl=30)
    def search() -> str:
        calls.append("search")
        return f"search #{len(calls)}"

    @app.get("/hello")
    @ext.cached_view(vary=("Accept-Language",), tags=["greetings"])
    def hello() -> str:
        from flask import request

        calls.append("hello")
        return "Hallo" if request.headers.get("Accept-Language") == "de" else "Hello"

    @app.get("/cookie")
    @ext.cached_view()
    def cookie() -> Response:
        calls.append("cookie")
        response = make_response("with a cookie")
        response.set_cookie("seen", "1")
        return response

    @app.get("/private")
    @ext.cached_view()
    def private() -> Response:
        calls.append("private")
        response = make_response("yours only")
        response.headers["Cache-Control"] = "private, max-age=10"
        return response

    @app.get("/own-control")
    @ext.cached_view()
    def own_control() -> Response:
        calls.append("own-control")
        response = make_response("mine")
        response.headers["Cache-Control"] = "max-age=5"
        return response

    @app.get("/session")
    @ext.cached_view()
    def personal() -> str:
        calls.append("session")
        return f"hello {session.get('name', 'guest')}"

    @app.get("/missing")
    @ext.cached_view()
    def missing() -> tuple[str, int]:
        calls.append("missing")
        return "no such page", 404

    return app, ext, calls


@pytest.fixture
def config(redis_url: str, redis_prefix: str) -> dict[str, Any]:
    """App config pointing the extension at the test's Redis prefix."""
    return {"HYDRACACHE_REDIS_URL": redis_url, "HYDRACACHE_PREFIX": redis_prefix}


@pytest.fixture
def built(
    config: dict[str, Any],
) -> Iterator[tuple[Flask, HydraCacheExtension, Calls]]:
    """One app on Redis; its cache is closed afterwards."""
    app, ext, calls = make_app(config)
    yield app, ext, calls
    app.extensions["hydracache"].close()


@pytest.fixture
def local_built() -> tuple[Flask, HydraCacheExtension, Calls]:
    """One app on a memory-only cache."""
    return make_app({})


@pytest.mark.redis
class TestCachedView:
    """GET/HEAD 200 responses are cached in every tier; the rest pass through."""

    def test_miss_then_hit(
        self, built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """The view runs once; the second response is a hit with the same body."""
        app, ext, calls = built
        client = app.test_client()
        first = client.get("/users/42")
        second = client.get("/users/42")
        assert ["user:42"] == calls
        assert (200, 200) == (first.status_code, second.status_code)
        assert first.get_json() == second.get_json() == {"id": 42, "calls": 1}
        assert ("MISS", "HIT") == (first.headers["X-Cache"], second.headers["X-Cache"])
        assert "application/json" == second.headers["Content-Type"]
        assert (1, 1, 1) == (
            ext.cache.stats().loads,
            ext.cache.stats().misses,
            ext.cache.stats().hits,
        )

    def test_headers(self, built: tuple[Flask, HydraCacheExtension, Calls]) -> None:
        """Cache-Control public with the ttl, Age and X-Cache on miss and hit."""
        app, _, _ = built
        client = app.test_client()
        for expected in ("MISS", "HIT"):
            response = client.get("/users/1")
            assert expected == response.headers["X-Cache"]
            assert "public, max-age=60" == response.headers["Cache-Control"]
            assert 0 <= int(response.headers["Age"]) <= 1

    def test_query_order_does_not_matter(
        self, built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """``?a=1&b=2`` and ``?b=2&a=1`` are one entry; other values are not."""
        app, _, calls = built
        client = app.test_client()
        first = client.get("/search?a=1&b=2")
        second = client.get("/search?b=2&a=1")
        other = client.get("/search?a=1&b=3")
        assert first.data == second.data
        assert "HIT" == second.headers["X-Cache"]
        assert "MISS" == other.headers["X-Cache"]
        assert ["search", "search"] == calls

    def test_vary_header_separates_entries(
        self, built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """Each Accept-Language value has its own entry; Vary names the header."""
        app, _, calls = built
        client = app.test_client()
        english = client.get("/hello", headers={"Accept-Language": "en"})
        german = client.get("/hello", headers={"Accept-Language": "de"})
        german_again = client.get("/hello", headers={"Accept-Language": "de"})
        assert (b"Hello", b"Hallo", b"Hallo") == (
            english.data,
            german.data,
            german_again.data,
        )
        assert ["hello", "hello"] == calls
        assert "HIT" == german_again.headers["X-Cache"]
        assert "Accept-Language" == german_again.headers["Vary"]

    def test_post_not_cached(
        self, built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """POST always runs the view and stores nothing."""
        app, _, calls = built
        client = app.test_client()
        client.post("/users/7")
        response = client.post("/users/7")
        assert ["user:7", "user:7"] == calls
        assert "X-Cache" not in response.headers
        assert "MISS" == client.get("/users/7").headers["X-Cache"]

    def test_set_cookie_not_cached(
        self, built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """A response setting a cookie is sent with it and never stored."""
        app, ext, calls = built
        client = app.test_client()
        first = client.get("/cookie")
        second = client.get("/cookie")
        assert ["cookie", "cookie"] == calls
        assert "seen=1" in second.headers["Set-Cookie"]
        assert "X-Cache" not in second.headers
        assert 0 == len(ext.cache)
        assert first.data == second.data

    def test_tag_invalidation_drops_the_page(
        self, built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """``ext.cache.invalidate_tag`` removes the page; the next GET reloads."""
        app, ext, calls = built
        client = app.test_client()
        client.get("/users/42")
        client.get("/users/43")
        with app.app_context():
            assert 1 == ext.cache.invalidate_tag("user:42")
        reloaded = client.get("/users/42")
        kept = client.get("/users/43")
        assert ("MISS", "HIT") == (
            reloaded.headers["X-Cache"],
            kept.headers["X-Cache"],
        )
        assert ["user:42", "user:43", "user:42"] == calls

    def test_two_apps_share_redis(self, config: dict[str, Any]) -> None:
        """A page cached by one app is served by another from Redis (shared_hits)."""
        app_a, _, calls_a = make_app(config)
        app_b, _, calls_b = make_app(config)
        try:
            first = app_a.test_client().get("/users/9")
            second = app_b.test_client().get("/users/9")
            assert ("MISS", "HIT") == (
                first.headers["X-Cache"],
                second.headers["X-Cache"],
            )
            assert first.data == second.data
            assert (["user:9"], []) == (calls_a, calls_b)
            cache_b = app_b.extensions["hydracache"]
            assert 1 == cache_b.stats().shared_hits
        finally:
            app_a.extensions["hydracache"].close()
            app_b.extensions["hydracache"].close()

    def test_invalidation_reaches_the_other_app(self, config: dict[str, Any]) -> None:
        """A tag invalidated through one app is gone from Redis for the other."""
        app_a, ext_a, _ = make_app(config)
        app_b, _, calls_b = make_app(config)
        try:
            app_a.test_client().get("/users/1")
            ext_a.cache.invalidate_tag("user:1")
            assert "MISS" == app_b.test_client().get("/users/1").headers["X-Cache"]
            assert ["user:1"] == calls_b
        finally:
            app_a.extensions["hydracache"].close()
            app_b.extensions["hydracache"].close()


class TestCachedViewRules:
    """What is cached, keyed and sent (memory only: the rules need no server)."""

    def test_default_ttl_from_config(
        self, local_built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """A view without ttl uses HYDRACACHE_DEFAULT_TTL (300 by default)."""
        app, _, _ = local_built
        response = app.test_client().get("/hello")
        assert "public, max-age=300" == response.headers["Cache-Control"]

    def test_view_cache_control_is_kept(
        self, local_built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """A view's own (public) Cache-Control is kept and the page is cached."""
        app, _, calls = local_built
        client = app.test_client()
        client.get("/own-control")
        response = client.get("/own-control")
        assert ["own-control"] == calls
        assert "max-age=5" == response.headers["Cache-Control"]

    def test_repeated_parameters_keep_their_order(
        self, local_built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """Values of one parameter keep their order (``?t=a&t=b`` != ``?t=b&t=a``)."""
        app, _, calls = local_built
        client = app.test_client()
        client.get("/search?t=a&t=b")
        assert "MISS" == client.get("/search?t=b&t=a").headers["X-Cache"]
        assert "HIT" == client.get("/search?t=a&t=b").headers["X-Cache"]
        assert ["search", "search"] == calls

    def test_head_uses_the_get_entry(
        self, local_built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """HEAD is served from the GET entry (no body), and vice versa."""
        app, _, calls = local_built
        client = app.test_client()
        head = client.head("/users/5")
        get = client.get("/users/5")
        assert (b"", "MISS") == (head.data, head.headers["X-Cache"])
        assert "HIT" == get.headers["X-Cache"]
        assert head.headers["Content-Length"] == get.headers["Content-Length"]
        assert ["user:5"] == calls

    @pytest.mark.parametrize(
        "path", ["/private", "/session", "/missing"], ids=str.strip
    )
    def test_uncacheable_responses(
        self, local_built: tuple[Flask, HydraCacheExtension, Calls], path: str
    ) -> None:
        """Cache-Control private, a session read or a 404: not stored."""
        app, ext, calls = local_built
        client = app.test_client()
        first = client.get(path)
        second = client.get(path)
        assert 2 == len(calls)
        assert first.data == second.data
        assert "X-Cache" not in second.headers
        assert "public" not in second.headers.get("Cache-Control", "")
        assert 0 == len(ext.cache)

    def test_authorization_bypasses(
        self, local_built: tuple[Flask, HydraCacheExtension, Calls]
    ) -> None:
        """A request with Authorization is neither served nor stored."""
        app, _, calls = local_built
        client = app.test_client()
        client.get("/users/3")
        response = client.get("/users/3", headers={"Authorization": "Bearer x"})
        assert "X-Cache" not in response.headers
        assert ["user:3", "user:3"] == calls


class TestExtension:
    """Building the cache from the config and binding it to apps (no server)."""

    def test_memory_only_by_default(self) -> None:
        """Without a Redis URL or DSN the cache is local only."""
        app = Flask(__name__)
        ext = HydraCacheExtension(app)
        assert app.extensions["hydracache"] is ext.cache
        assert {} == ext.cache.tiers

    def test_config_keys(self) -> None:
        """Sizes and default ttl come from the config."""
        cache = cache_from_config(
            {
                "HYDRACACHE_MAX_BYTES": "2MB",
                "HYDRACACHE_MAX_ENTRY_SIZE": "10KB",
                "HYDRACACHE_DEFAULT_TTL": 5,
            }
        )
        assert (2 << 20, 10 << 10) == (
            cache.local_store.max_bytes,
            cache.local_store.max_entry_size,
        )

    def test_bad_config(self) -> None:
        """An invalid setting raises ConfigError at init_app."""
        app = Flask(__name__)
        app.config["HYDRACACHE_DEFAULT_TTL"] = "soon"
        with pytest.raises(ConfigError):
            HydraCacheExtension(app)

    def test_given_cache(self) -> None:
        """``cache=`` is used as it is for every app."""
        cache = HydraCache.local()
        ext = HydraCacheExtension(cache=cache)
        apps = [Flask(__name__), Flask(__name__)]
        for app in apps:
            ext.init_app(app)
            assert app.extensions["hydracache"] is cache

    def test_one_extension_many_apps(self) -> None:
        """``ext.cache`` is the current app's cache inside an app context."""
        ext = HydraCacheExtension()
        first, second = Flask("first"), Flask("second")
        ext.init_app(first)
        ext.init_app(second)
        with first.app_context():
            assert first.extensions["hydracache"] is ext.cache
        with second.app_context():
            assert second.extensions["hydracache"] is ext.cache

    def test_uninitialised(self) -> None:
        """Using the extension before init_app is a clear RuntimeError."""
        with pytest.raises(RuntimeError, match="init_app"):
            _ = HydraCacheExtension().cache

    def test_module_level_decorator(self) -> None:
        """``cached_view`` works with the current app's extension (memory only)."""
        app = Flask(__name__)
        HydraCacheExtension(app)
        runs: list[int] = []

        @app.get("/")
        @cached_view(ttl=10)
        def index() -> str:
            runs.append(1)
            return "index"

        client = app.test_client()
        assert ["MISS", "HIT"] == [client.get("/").headers["X-Cache"] for _ in "ab"]
        assert [1] == runs

    def test_decorator_without_extension(self) -> None:
        """A cached view on an app without the extension fails clearly."""
        app = Flask(__name__)

        @app.get("/")
        @cached_view()
        def index() -> str:
            return "index"

        app.testing = True
        with pytest.raises(RuntimeError, match="no HydraCache"):
            app.test_client().get("/")

    @pytest.mark.parametrize(
        "kwargs",
        [{"ttl": -1}, {"ttl": "1m"}, {"vary": [""]}, {"key_prefix": 3}],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any]) -> None:
        """Bad decorator arguments raise ConfigError when decorating."""
        decorate: Callable[..., Any] = cached_view
        with pytest.raises(ConfigError):
            decorate(**kwargs)

    def test_unless(self) -> None:
        """``unless`` returning True bypasses the cache."""
        app = Flask(__name__)
        HydraCacheExtension(app)
        runs: list[int] = []

        @app.get("/")
        @cached_view(unless=lambda: True)
        def index() -> str:
            runs.append(1)
            return "index"

        client = app.test_client()
        client.get("/")
        client.get("/")
        assert [1, 1] == runs

    def test_single_flight(self) -> None:
        """Concurrent misses of one page run the view once."""
        import threading
        import time

        app = Flask(__name__)
        HydraCacheExtension(app)
        runs: list[int] = []

        @app.get("/slow")
        @cached_view(ttl=10)
        def slow() -> str:
            runs.append(1)
            time.sleep(0.1)
            return "slow"

        barrier = threading.Barrier(4)
        statuses: list[int] = []

        def fetch() -> None:
            client = app.test_client()
            barrier.wait()
            statuses.append(client.get("/slow").status_code)

        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [200] * 4 == statuses
        assert [1] == runs

    def test_flask_not_imported_by_package(self) -> None:
        """Importing hydracache_sync (not .flask) leaves flask unloaded."""
        import subprocess
        import sys

        code = "import hydracache_sync, sys; print('flask' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert "False\n" == out


class TestParityWithFlaskCaching:
    """memoize after init_app, DISABLED, LOCK/SWR config, ignore list, key hook."""

    def test_memoize_before_and_after_init_app(self) -> None:
        """A function memoized at import time uses each app's own cache."""
        ext = HydraCacheExtension()
        calls: list[int] = []

        @ext.memoize(ttl=60)
        def square(n: int) -> int:
            calls.append(n)
            return n * n

        first, second = Flask("first"), Flask("second")
        ext.init_app(first)
        ext.init_app(second)
        with first.app_context():
            assert [4, 4] == [square(2), square(2)]
        with second.app_context():
            assert 4 == square(2)  # another app, another cache: runs again
        assert [2, 2] == calls
        with first.app_context():
            assert square.invalidate(2) is True
            assert 4 == square(2)
            key = square.cache_key(2)
            assert key in first.extensions["hydracache"]
        assert [2, 2, 2] == calls
        assert "square" == square.__name__

    def test_memoize_methods_and_bad_options(self) -> None:
        """Methods memoize per instance key; bad options fail when decorating."""
        app = Flask(__name__)
        ext = HydraCacheExtension(app)

        class Repo:
            def __init__(self, name: str) -> None:
                self.name = name

            def __cache_key__(self) -> str:
                return self.name

            @ext.memoize(ttl=60)
            def load(self, n: int) -> str:
                return f"{self.name}:{n}"

        with app.app_context():
            assert "a:1" == Repo("a").load(1)
            assert "b:1" == Repo("b").load(1)
        with pytest.raises(ConfigError):
            ext.memoize(ttl=-1)
        with pytest.raises(ConfigError):
            ext.memoize(cache=HydraCache.local())

    def test_disabled_switch(self) -> None:
        """HYDRACACHE_DISABLED: views and memoized functions always run."""
        app = Flask(__name__)
        app.config["HYDRACACHE_DISABLED"] = True
        ext = HydraCacheExtension(app)
        runs: list[str] = []

        @app.get("/")
        @ext.cached_view(ttl=10)
        def index() -> str:
            runs.append("view")
            return "index"

        @ext.memoize(ttl=10)
        def compute() -> int:
            runs.append("memo")
            return 1

        client = app.test_client()
        responses = [client.get("/") for _ in range(2)]
        assert ["index", "index"] == [r.get_data(as_text=True) for r in responses]
        assert "X-Cache" not in responses[0].headers
        with app.app_context():
            compute()
            compute()
        compute()  # outside an app context: the last app's switch
        assert ["view", "view", "memo", "memo", "memo"] == runs

    def test_lock_and_stale_config(self, config: dict[str, Any]) -> None:
        """HYDRACACHE_LOCK and HYDRACACHE_STALE_WHILE_REVALIDATE reach the cache."""
        import time

        cache = cache_from_config(
            {
                **config,
                "HYDRACACHE_LOCK": "redis",
                "HYDRACACHE_STALE_WHILE_REVALIDATE": 30,
                "HYDRACACHE_BROADCAST": False,
            }
        )
        try:
            assert cache.listening is False
            values = iter([1, 2])
            assert 1 == cache.get_or_load("k", lambda: next(values), ttl=0.2)
            time.sleep(0.4)
            assert 1 == cache.get_or_load("k", lambda: next(values), ttl=0.2)
            assert 1 == cache.stats().stale_hits
        finally:
            cache.close()
        with pytest.raises(ConfigError):
            cache_from_config({"HYDRACACHE_LOCK": "redis"})  # needs Redis

    def test_query_ignore_list(self) -> None:
        """utm_* parameters share the entry by default; the list is configurable."""
        app = Flask(__name__)
        ext = HydraCacheExtension(app)
        runs: list[str] = []

        @app.get("/a")
        @ext.cached_view(ttl=10)
        def default_list() -> str:
            runs.append("a")
            return "a"

        @app.get("/b")
        @ext.cached_view(ttl=10, ignore_query=["ref", "fb*"])
        def own_list() -> str:
            runs.append("b")
            return "b"

        client = app.test_client()
        for url in ["/a?x=1", "/a?x=1&utm_source=mail", "/a?utm_medium=x&x=1"]:
            client.get(url)
        for url in ["/b", "/b?ref=x", "/b?fbclid=1", "/b?utm_source=x"]:
            client.get(url)
        assert ["a", "b", "b"] == runs

    def test_make_cache_key_hook(self) -> None:
        """make_cache_key replaces the request key (under key_prefix)."""
        app = Flask(__name__)
        ext = HydraCacheExtension(app)
        runs: list[int] = []

        @app.get("/items/<int:item>")
        @ext.cached_view(ttl=10, make_cache_key=lambda item: f"item:{item % 2}")
        def item(item: int) -> str:
            runs.append(item)
            return f"item {item}"

        client = app.test_client()
        bodies = [client.get(f"/items/{n}").get_data(as_text=True) for n in (1, 3, 2)]
        assert ["item 1", "item 1", "item 2"] == bodies
        assert [1, 2] == runs
        assert "view:item:1" in app.extensions["hydracache"]
        with pytest.raises(ConfigError):
            cached_view(make_cache_key="nope")  # type: ignore[arg-type]
