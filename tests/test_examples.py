"""The examples run: the ETL script in a subprocess, the Flask app by test client."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SERVER_ENV = (
    "HYDRACACHE_REDIS_URL",
    "HYDRACACHE_POSTGRES_DSN",
    "HYDRACACHE_POSTGRES_SCHEMA",
    "HYDRACACHE_PREFIX",
)


def run_example(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python examples/<args>`` without server settings; return stdout."""
    base = {k: v for k, v in os.environ.items() if k not in SERVER_ENV}
    result = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLES,
        env={**base, **(env or {})},
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    assert "" == result.stderr
    return result.stdout


def load_flask_example() -> ModuleType:
    """Import examples/flask_app.py as a fresh module."""
    spec = importlib.util.spec_from_file_location(
        "hc_flask_example", EXAMPLES / "flask_app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestEtlExample:
    """examples/etl_memoize.py."""

    def test_memory_mode(self) -> None:
        """The cold run calls enrich() per record, the warm run never."""
        out = run_example("etl_memoize.py", "--records", "5")
        assert "cache: memory only" in out
        assert re.search(r"^cold run: 5 records in [\d.]+ s, 5 calls$", out, re.M), out
        assert re.search(r"^warm run: 5 records in [\d.]+ s, 0 calls$", out, re.M), out
        assert "key of record 0: etl:__main__.enrich:" in out

    @pytest.mark.postgres
    def test_durable_mode(self, postgres_dsn: str, postgres_schema: str) -> None:
        """With Postgres, a second process starts warm (--keep)."""
        env = {
            "HYDRACACHE_POSTGRES_DSN": postgres_dsn,
            "HYDRACACHE_POSTGRES_SCHEMA": postgres_schema,
        }
        first = run_example("etl_memoize.py", "--records", "4", env=env)
        assert f'cache: memory + postgres "{postgres_schema}"' in first
        assert "4 records" in first
        assert ", 4 calls" in first
        second = run_example("etl_memoize.py", "--records", "4", "--keep", env=env)
        assert re.search(r"^cold run: 4 records in [\d.]+ s, 0 calls$", second, re.M)


class TestFlaskExample:
    """examples/flask_app.py."""

    def test_memory_mode_in_a_subprocess(self) -> None:
        """Without HYDRACACHE_REDIS_URL the app runs memory-only."""
        pytest.importorskip("flask")
        code = (
            "import flask_app\n"
            "client = flask_app.create_app().test_client()\n"
            "for method, path in [('get', '/users/42'), ('get', '/users/42'),\n"
            "                     ('post', '/admin/invalidate/42'),\n"
            "                     ('get', '/users/42'), ('get', '/users/7')]:\n"
            "    r = getattr(client, method)(path)\n"
            "    print(method, path, r.status_code, r.headers.get('X-Cache'))\n"
            "print('tiers', client.get('/stats').get_json()['tiers'])\n"
            "print('reads', flask_app.DB_READS)\n"
        )
        out = run_example("-c", code)
        assert [
            "get /users/42 200 MISS",
            "get /users/42 200 HIT",
            "post /admin/invalidate/42 200 None",
            "get /users/42 200 MISS",
            "get /users/7 404 None",
            "tiers ['local']",
            "reads [42, 42, 7]",
        ] == out.splitlines()

    @pytest.mark.redis
    def test_with_redis(self, redis_url: str, redis_prefix: str) -> None:
        """On Redis a second app instance serves the first one's page."""
        pytest.importorskip("flask")
        module: Any = load_flask_example()
        config = {"HYDRACACHE_REDIS_URL": redis_url, "HYDRACACHE_PREFIX": redis_prefix}
        first, second = module.create_app(config), module.create_app(config)
        try:
            assert "MISS" == first.test_client().get("/users/1").headers["X-Cache"]
            assert "HIT" == second.test_client().get("/users/1").headers["X-Cache"]
            stats = second.test_client().get("/stats").get_json()
            assert ["local", "shared"] == stats["tiers"]
            assert 1 == stats["shared_hits"]
            removed = first.test_client().post("/admin/invalidate/1").get_json()
            assert {"invalidated": "user:1", "removed": 1} == removed
            assert [1] == module.DB_READS
        finally:
            first.extensions["hydracache"].close()
            second.extensions["hydracache"].close()


class TestFrameworkBackendExamples:
    """examples/django_app.py and examples/flask_caching_app.py, run as scripts."""

    DJANGO = (
        "page: 'rendered 1 time(s)' then 'rendered 1 time(s)'",
        "report: 8 concurrent requests, 1 call(s)",
        "visits: [1, 2, 3]",
    )
    FLASK_CACHING = (
        "home: 'home rendered 1 time(s)' then 'home rendered 1 time(s)'",
        "price: 8 concurrent requests, 1 call(s)",
        "after delete_memoized: 2 call(s)",
    )

    def test_django_memory(self) -> None:
        """The Django project runs memory-only: cache_page, get_or_set, incr."""
        pytest.importorskip("django")
        out = run_example("django_app.py")
        assert ["cache: memory", *self.DJANGO] == out.splitlines()

    def test_flask_caching_memory(self) -> None:
        """The Flask-Caching app runs memory-only: cached, memoize, single-flight."""
        pytest.importorskip("flask_caching")
        out = run_example("flask_caching_app.py")
        assert ["cache: memory", *self.FLASK_CACHING] == out.splitlines()

    @pytest.mark.redis
    def test_both_on_redis(self, redis_url: str, redis_prefix: str) -> None:
        """With HYDRACACHE_REDIS_URL both run on memory + Redis, same results."""
        pytest.importorskip("django")
        pytest.importorskip("flask_caching")
        env = {"HYDRACACHE_REDIS_URL": redis_url, "HYDRACACHE_PREFIX": redis_prefix}
        out = run_example("django_app.py", env=env)
        assert ["cache: memory + redis", *self.DJANGO] == out.splitlines()
        out = run_example("flask_caching_app.py", env=env)
        assert ["cache: memory + redis", *self.FLASK_CACHING] == out.splitlines()
