"""The ``hydracache`` command line: every subcommand, real Redis and Postgres."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import free_port

import hydracache_sync
from hydracache_sync import Cost, HydraCache
from hydracache_sync.cli import main

COMMANDS = [
    "demo",
    "bench",
    "schema",
    "stats",
    "invalidate-tag",
    "invalidate",
    "delete",
    "cleanup",
]
ENV_VARS = [
    "HYDRACACHE_REDIS_URL",
    "HYDRACACHE_POSTGRES_DSN",
    "HYDRACACHE_PREFIX",
    "HYDRACACHE_POSTGRES_SCHEMA",
    "HYDRACACHE_POSTGRES_TABLE",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Targets come only from each test's flags unless it sets the env itself."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``main(argv)``; return (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def targets(redis_url: str, redis_prefix: str, postgres_dsn: str) -> list[str]:
    """The Redis flags (the Postgres ones are added by tests that need them)."""
    return ["--redis", redis_url, "--prefix", redis_prefix]


@pytest.fixture
def pg_targets(postgres_dsn: str, postgres_schema: str) -> list[str]:
    """The Postgres flags for the test's own schema."""
    return ["--postgres", postgres_dsn, "--schema", postgres_schema]


@pytest.fixture
def tiered(
    redis_url: str, redis_prefix: str, postgres_dsn: str, postgres_schema: str
) -> Iterator[HydraCache]:
    """A cache over the test's Redis prefix and Postgres schema, to seed entries."""
    from hydracache_sync.tiers.postgres import PostgresStore
    from hydracache_sync.tiers.redis import RedisStore

    cache = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix),
        durable=PostgresStore(postgres_dsn, schema=postgres_schema),
        on_tier_error="raise",
    )
    yield cache
    cache.close()


def remote(cache: HydraCache, key: str) -> dict[str, bool]:
    """Tell, per remote tier, whether it holds ``key``."""
    return {role: store.get(key) is not None for role, store in cache.tiers.items()}


BOTH = {"shared": True, "durable": True}
NEITHER = {"shared": False, "durable": False}


def pg_execute(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    """Run one statement on its own autocommit connection."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
    finally:
        conn.close()


def insert_expired(dsn: str, schema: str, keys: list[str]) -> None:
    """Insert rows whose expiry is an hour in the past."""
    for key in keys:
        pg_execute(
            dsn,
            # The schema is the fixture's generated identifier, not input.
            f'INSERT INTO "{schema}".hydracache (key, value, is_none, expires_at)'  # noqa: S608
            " VALUES (%s, %s, false, now() - interval '1 hour')",
            (key, b"stale"),
        )


class TestParser:
    """Help, usage errors and the real entry points."""

    @pytest.mark.parametrize("command", COMMANDS)
    def test_every_command_has_help(
        self, capsys: pytest.CaptureFixture[str], command: str
    ) -> None:
        """``COMMAND --help`` exits 0 and prints a one-line description."""
        status, out, _ = run(capsys, command, "--help")
        assert 0 == status
        assert f"usage: hydracache {command}" in out
        description = out.split("\n\n")[1]
        assert 1 == len(description.strip().splitlines()), description

    def test_top_level_help_lists_commands(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``--help`` lists every command with its summary."""
        status, out, _ = run(capsys, "--help")
        assert 0 == status
        for command in COMMANDS:
            assert f"    {command}" in out

    def test_no_command_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without a command the usage goes to stderr and the status is 2."""
        status, out, err = run(capsys)
        assert 2 == status
        assert "" == out
        assert "usage: hydracache" in err

    @pytest.mark.parametrize(
        "argv",
        [
            ["nosuch"],
            ["stats", "--sample", "many"],
            ["stats", "--no-such-flag"],
            ["invalidate-tag"],
            ["delete", "k", "extra"],
        ],
    )
    def test_bad_arguments_exit_2(
        self, capsys: pytest.CaptureFixture[str], argv: list[str]
    ) -> None:
        """argparse errors exit 2 with a message and no traceback."""
        status, _, err = run(capsys, *argv)
        assert 2 == status
        assert "error:" in err
        assert "Traceback" not in err

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``--version`` prints the package version."""
        status, out, _ = run(capsys, "--version")
        assert 0 == status
        assert f"hydracache {hydracache_sync.__version__}\n" == out

    def test_python_dash_m(self) -> None:
        """``python -m hydracache_sync`` runs ``--help`` and ``demo`` for real."""
        helped = subprocess.run(
            [sys.executable, "-m", "hydracache_sync", "--help"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert 0 == helped.returncode, helped.stderr
        assert "invalidate-tag" in helped.stdout
        demo = subprocess.run(
            [sys.executable, "-m", "hydracache_sync", "demo"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert 0 == demo.returncode, demo.stderr
        assert "loader ran 1 time(s)" in demo.stdout


class TestDemo:
    """``demo`` runs on the memory default."""

    def test_demo(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The tour prints single-flight, tags and stats."""
        status, out, _ = run(capsys, "demo")
        assert 0 == status
        assert "loader ran 1 time(s); 15 callers joined it" in out
        assert "hit_ratio" in out


class TestSchema:
    """``schema`` prints the migration."""

    def test_default_names(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The table and both indexes, for public.hydracache."""
        status, out, _ = run(capsys, "schema")
        assert 0 == status
        assert 'CREATE TABLE IF NOT EXISTS "public"."hydracache"' in out
        assert 'ON "public"."hydracache" USING GIN (tags)' in out
        assert "(expires_at)" in out

    def test_custom_names(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``--schema`` and ``--table`` are used throughout."""
        status, out, _ = run(capsys, "schema", "--schema", "app", "--table", "cache")
        assert 0 == status
        assert 'CREATE TABLE IF NOT EXISTS "app"."cache"' in out
        assert '"cache_tags_idx"' in out
        assert "public" not in out

    def test_names_from_environment(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The env vars give the defaults; a flag wins."""
        monkeypatch.setenv("HYDRACACHE_POSTGRES_SCHEMA", "envschema")
        monkeypatch.setenv("HYDRACACHE_POSTGRES_TABLE", "envtable")
        _, out, _ = run(capsys, "schema")
        assert '"envschema"."envtable"' in out
        _, out, _ = run(capsys, "schema", "--table", "flagtable")
        assert '"envschema"."flagtable"' in out

    def test_output_runs(
        self, capsys: pytest.CaptureFixture[str], postgres_dsn: str
    ) -> None:
        """The printed SQL creates a table PostgresStore accepts."""
        import uuid

        from hydracache_sync.tiers.postgres import PostgresStore

        schema = f"hctest_{uuid.uuid4().hex[:12]}"
        _, out, _ = run(capsys, "schema", "--schema", schema)
        pg_execute(postgres_dsn, f'CREATE SCHEMA "{schema}"')
        try:
            pg_execute(postgres_dsn, out)
            PostgresStore(postgres_dsn, schema=schema).close()
        finally:
            pg_execute(postgres_dsn, f'DROP SCHEMA "{schema}" CASCADE')

    def test_bad_identifier(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unsafe name is a usage error (2), not a traceback."""
        status, out, err = run(capsys, "schema", "--schema", 'x"; DROP TABLE y; --')
        assert 2 == status
        assert "" == out
        assert err.startswith("hydracache: error: invalid schema name")
        assert "Traceback" not in err


class TestBench:
    """``bench`` delegates to ``hydracache_sync.bench.runner.run``."""

    def test_passes_options(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--quick, --json and --no-progress reach the runner; its status is ours."""
        from hydracache_sync.bench import runner

        calls: list[dict[str, Any]] = []

        def run_bench(
            quick: bool = False,
            json_path: str | None = None,
            progress: bool | None = None,
            **options: Any,
        ) -> int:
            calls.append(
                {"quick": quick, "json": json_path, "progress": progress} | options
            )
            return 3

        monkeypatch.setattr(runner, "run", run_bench)
        status, _, _ = run(
            capsys, "bench", "--quick", "--json", "out.json", "--no-progress"
        )
        assert 3 == status
        nothing = {"redis_url": None, "postgres_dsn": None, "only": None, "plot": None}
        assert [
            {"quick": True, "json": "out.json", "progress": False, "check": False}
            | nothing
        ] == calls
        run(capsys, "bench", "--check", "--only", "local,redis")
        expected = {"quick": False, "json": None, "progress": None, "check": True}
        assert expected | nothing | {"only": ["local", "redis"]} == calls[-1]

    def test_tier_options_passed_through(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--redis and --postgres reach the runner."""
        from hydracache_sync.bench import runner

        seen: dict[str, Any] = {}

        def run_bench(
            quick: bool = False,
            json_path: str | None = None,
            progress: bool | None = None,
            **options: Any,
        ) -> int:
            seen.update(options)
            return 0

        monkeypatch.setattr(runner, "run", run_bench)
        status, _, _ = run(capsys, "bench", "--redis", "redis://r", "--postgres", "d")
        assert 0 == status
        assert "redis://r" == seen["redis_url"]
        assert "d" == seen["postgres_dsn"]

    def test_unknown_family(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--only with an unknown name: a usage error (2) naming the known ones."""
        status, out, err = run(capsys, "bench", "--only", "local,nope")
        assert 2 == status
        assert "" == out
        assert err.startswith("hydracache: error: unknown benchmark(s) nope")
        names = (
            "coherence, hitratio, local, populations, postgres, "
            "postgres_populations, redis"
        )
        assert names in err

    def test_harness_missing(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the benchmark subpackage: a clear message and status 1."""
        monkeypatch.setitem(sys.modules, "hydracache_sync.bench.runner", None)
        status, out, err = run(capsys, "bench", "--quick")
        assert 1 == status
        assert "" == out
        assert err.startswith("hydracache: error: the benchmarks are not available")
        assert "Traceback" not in err

    def test_rich_missing(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without rich: the error names the extra to install, status 2 (a
        missing dependency is a configuration error, like a missing driver)."""
        for name in list(sys.modules):
            if name.startswith("hydracache_sync.bench"):
                monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "rich", None)
        status, out, err = run(capsys, "bench", "--quick")
        assert 2 == status
        assert "" == out
        assert "pip install 'hydracache_sync[bench]'" in err
        assert "Traceback" not in err


@pytest.mark.redis
@pytest.mark.postgres
class TestTierCommands:
    """invalidate-tag, invalidate, delete: one command reaches every tier."""

    def test_invalidate_tag(
        self,
        capsys: pytest.CaptureFixture[str],
        tiered: HydraCache,
        targets: list[str],
        pg_targets: list[str],
    ) -> None:
        """Entries carrying the tag leave Redis and Postgres; others stay."""
        tiered.set("users:1", {"n": 1}, tags=["user:1"], cost=Cost.EXPENSIVE)
        tiered.set("users:1:posts", [1], tags=["user:1"], cost=Cost.EXPENSIVE)
        tiered.set("users:2", {"n": 2}, tags=["user:2"], cost=Cost.EXPENSIVE)
        assert BOTH == remote(tiered, "users:1")
        status, out, err = run(
            capsys, "invalidate-tag", "user:1", *targets, *pg_targets
        )
        assert (0, "") == (status, err)
        assert "invalidated tag 'user:1'" in out
        assert out.rstrip().endswith(": 2 removed")
        assert "redis" in out
        assert "postgres" in out
        assert NEITHER == remote(tiered, "users:1")
        assert NEITHER == remote(tiered, "users:1:posts")
        assert BOTH == remote(tiered, "users:2")

    def test_invalidate_pattern(
        self,
        capsys: pytest.CaptureFixture[str],
        tiered: HydraCache,
        targets: list[str],
        pg_targets: list[str],
    ) -> None:
        """A wildcard removes the matching keys from every tier."""
        for key in ("users:7:a", "users:7:b", "users:70", "users:8:a"):
            tiered.set(key, key, cost=Cost.EXPENSIVE)
        status, out, _ = run(capsys, "invalidate", "users:7:*", *targets, *pg_targets)
        assert 0 == status
        assert out.rstrip().endswith(": 2 removed")
        assert NEITHER == remote(tiered, "users:7:a")
        assert NEITHER == remote(tiered, "users:7:b")
        assert BOTH == remote(tiered, "users:70")
        assert BOTH == remote(tiered, "users:8:a")

    def test_delete(
        self,
        capsys: pytest.CaptureFixture[str],
        tiered: HydraCache,
        targets: list[str],
        pg_targets: list[str],
    ) -> None:
        """``delete`` removes one key everywhere; a missing key is not an error."""
        tiered.set("k[1]", 1, cost=Cost.EXPENSIVE)
        tiered.set("k2", 2, cost=Cost.EXPENSIVE)
        status, out, _ = run(capsys, "delete", "k[1]", *targets, *pg_targets)
        assert 0 == status
        assert out.startswith("deleted 'k[1]' from redis")
        assert NEITHER == remote(tiered, "k[1]")
        assert BOTH == remote(tiered, "k2")
        status, out, _ = run(capsys, "delete", "k[1]", *targets, *pg_targets)
        assert 0 == status
        assert out.startswith("'k[1]' was not cached in redis")

    def test_redis_only(
        self, capsys: pytest.CaptureFixture[str], tiered: HydraCache, targets: list[str]
    ) -> None:
        """With only --redis, Postgres is left alone."""
        tiered.set("only", 1, tags=["t"], cost=Cost.EXPENSIVE)
        status, out, _ = run(capsys, "invalidate-tag", "t", *targets)
        assert 0 == status
        assert "postgres" not in out
        assert {"shared": False, "durable": True} == remote(tiered, "only")

    def test_targets_from_environment(
        self,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        tiered: HydraCache,
        redis_url: str,
        redis_prefix: str,
        postgres_dsn: str,
        postgres_schema: str,
    ) -> None:
        """HYDRACACHE_* env vars name the targets when no flag is given."""
        monkeypatch.setenv("HYDRACACHE_REDIS_URL", redis_url)
        monkeypatch.setenv("HYDRACACHE_PREFIX", redis_prefix)
        monkeypatch.setenv("HYDRACACHE_POSTGRES_DSN", postgres_dsn)
        monkeypatch.setenv("HYDRACACHE_POSTGRES_SCHEMA", postgres_schema)
        tiered.set("envkey", 1, cost=Cost.EXPENSIVE)
        status, _, _ = run(capsys, "delete", "envkey")
        assert 0 == status
        assert NEITHER == remote(tiered, "envkey")

    def test_no_target(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without --redis/--postgres (or env) the command is a usage error."""
        for argv in (["invalidate-tag", "t"], ["stats"], ["delete", "k"]):
            status, _, err = run(capsys, *argv)
            assert 2 == status
            assert "no tier to work on" in err


@pytest.mark.redis
@pytest.mark.postgres
class TestStats:
    """``stats`` counts keys and memory in Redis, rows in Postgres."""

    def test_json_counts(
        self,
        capsys: pytest.CaptureFixture[str],
        tiered: HydraCache,
        targets: list[str],
        pg_targets: list[str],
        postgres_dsn: str,
        postgres_schema: str,
    ) -> None:
        """Exact numbers after known writes."""
        tiered.set("a", 1, tags=["t1", "t2"], cost=Cost.EXPENSIVE)
        tiered.set("b", 2, tags=["t1"], cost=Cost.EXPENSIVE)
        tiered.set("c", 3, cost=Cost.EXPENSIVE)
        tiered.set("none", None, cost=Cost.EXPENSIVE)
        insert_expired(postgres_dsn, postgres_schema, ["old1", "old2"])
        status, out, _ = run(capsys, "stats", "--json", *targets, *pg_targets)
        assert 0 == status
        report = json.loads(out)
        redis = report["redis"]
        memory = redis.pop("memory_bytes")
        assert 0 < memory < 10_000
        assert {
            "prefix": targets[-1],
            "entries": 4,
            "tagged_entries": 2,
            "tag_sets": 2,
            "keys": 8,
            "memory_exact": True,
            "memory_sampled_keys": 8,
        } == redis
        postgres = report["postgres"]
        assert 0 < postgres.pop("table_bytes")
        assert {
            "schema": postgres_schema,
            "table": "hydracache",
            "rows": 6,
            "live_rows": 4,
            "expired_rows": 2,
            "negative_rows": 1,
        } == postgres

    def test_memory_sample(
        self, capsys: pytest.CaptureFixture[str], tiered: HydraCache, targets: list[str]
    ) -> None:
        """Past --sample keys, memory is an estimate from the sample."""
        tiered.set_many({f"k{i}": "x" * 100 for i in range(10)})
        _, out, _ = run(capsys, "stats", "--json", "--sample", "3", *targets)
        redis = json.loads(out)["redis"]
        assert (10, False, 3) == (
            redis["entries"],
            redis["memory_exact"],
            redis["memory_sampled_keys"],
        )
        assert redis["memory_bytes"] > 10 * 100

    def test_text_output(
        self,
        capsys: pytest.CaptureFixture[str],
        tiered: HydraCache,
        targets: list[str],
        pg_targets: list[str],
        postgres_dsn: str,
        postgres_schema: str,
    ) -> None:
        """The readable form names the targets and the numbers."""
        tiered.set("a", 1, cost=Cost.EXPENSIVE)
        insert_expired(postgres_dsn, postgres_schema, ["old"])
        status, out, _ = run(capsys, "stats", *targets, *pg_targets)
        assert 0 == status
        lines = out.splitlines()
        assert lines[0].startswith("redis redis://")
        assert "  entries         1" in lines
        assert f'postgres "{postgres_schema}"."hydracache"' in lines
        assert "  rows            2" in lines
        assert "  expired         1  (`hydracache cleanup` removes them)" in lines

    def test_empty_prefix(
        self, capsys: pytest.CaptureFixture[str], targets: list[str]
    ) -> None:
        """A prefix with nothing in it reports zeros."""
        _, out, _ = run(capsys, "stats", "--json", *targets)
        redis = json.loads(out)["redis"]
        assert (0, 0, True) == (
            redis["keys"],
            redis["memory_bytes"],
            redis["memory_exact"],
        )

    def test_password_is_masked(
        self, capsys: pytest.CaptureFixture[str], redis_url: str, redis_prefix: str
    ) -> None:
        """A password in the URL is not printed (the failure names the server)."""
        url = redis_url.replace("redis://", "redis://user:s3cret@", 1)
        status, out, err = run(
            capsys, "stats", "--redis", url, "--prefix", redis_prefix
        )
        assert "s3cret" not in out + err
        if status == 0:  # a server without ACLs may ignore the credentials
            assert "redis://user:***@" in out


@pytest.mark.postgres
class TestCleanup:
    """``cleanup`` removes expired rows and prints the count."""

    def test_count(
        self,
        capsys: pytest.CaptureFixture[str],
        postgres_dsn: str,
        postgres_schema: str,
        pg_targets: list[str],
    ) -> None:
        """Only the expired rows go; a second run removes none."""
        from hydracache_sync.tiers.postgres import PostgresStore

        store = PostgresStore(postgres_dsn, schema=postgres_schema)
        try:
            store.set("live", b"x", 3600, ())
            insert_expired(postgres_dsn, postgres_schema, ["e1", "e2", "e3"])
            status, out, _ = run(capsys, "cleanup", *pg_targets)
            assert 0 == status
            assert f'removed 3 expired rows from postgres "{postgres_schema}"' in out
            assert store.get("live") is not None
            _, out, _ = run(capsys, "cleanup", *pg_targets)
            assert out.startswith("removed 0 expired rows")
        finally:
            store.close()

    def test_needs_postgres(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a DSN: usage error."""
        status, _, err = run(capsys, "cleanup")
        assert 2 == status
        assert "cleanup needs --postgres DSN" in err


class TestFailures:
    """Unreachable servers, missing drivers and bad targets: a line, no traceback."""

    def assert_clean_failure(self, status: int, err: str, expected: int) -> None:
        """One ``hydracache: error:`` line on stderr and the expected status."""
        assert expected == status
        assert err.startswith("hydracache: error: ")
        assert 1 == len(err.strip().splitlines()), err
        assert "Traceback" not in err

    @pytest.mark.parametrize(
        "argv",
        [["invalidate-tag", "t"], ["stats"]],
    )
    def test_unreachable_redis(
        self, capsys: pytest.CaptureFixture[str], argv: list[str]
    ) -> None:
        """Connection refused: status 1 and the reason."""
        pytest.importorskip("redis")
        url = f"redis://127.0.0.1:{free_port()}/0"
        status, out, err = run(capsys, *argv, "--redis", url)
        self.assert_clean_failure(status, err, 1)
        assert "redis unavailable" in err
        assert "" == out

    @pytest.mark.parametrize("argv", [["cleanup"], ["stats"], ["delete", "k"]])
    def test_unreachable_postgres(
        self, capsys: pytest.CaptureFixture[str], argv: list[str]
    ) -> None:
        """Connection refused: status 1 and the reason."""
        pytest.importorskip("psycopg2")
        dsn = f"host=127.0.0.1 port={free_port()} user=postgres dbname=test"
        status, _, err = run(capsys, *argv, "--postgres", dsn)
        self.assert_clean_failure(status, err, 1)
        assert "postgres" in err

    @pytest.mark.postgres
    def test_missing_table(
        self, capsys: pytest.CaptureFixture[str], postgres_dsn: str
    ) -> None:
        """A schema without the table: status 2 and the command that creates it."""
        status, _, err = run(
            capsys, "cleanup", "--postgres", postgres_dsn, "--schema", "hc_no_such"
        )
        self.assert_clean_failure(status, err, 2)
        assert "python -m hydracache_sync schema --schema hc_no_such" in err

    def test_missing_driver(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """redis-py missing: a configuration error (status 2) naming the extra."""
        monkeypatch.setitem(sys.modules, "redis", None)
        status, _, err = run(capsys, "delete", "k", "--redis", "redis://127.0.0.1")
        self.assert_clean_failure(status, err, 2)
        assert "pip install 'hydracache_sync[redis]'" in err

    def test_bad_url(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unparsable Redis URL is a usage error."""
        pytest.importorskip("redis")
        status, _, err = run(capsys, "delete", "k", "--redis", "nosuchscheme://x")
        self.assert_clean_failure(status, err, 2)

    @pytest.mark.redis
    def test_invalid_key(
        self, capsys: pytest.CaptureFixture[str], targets: list[str]
    ) -> None:
        """An empty key is a usage error."""
        status, _, err = run(capsys, "delete", "", *targets)
        self.assert_clean_failure(status, err, 2)
        assert "not a cache key" in err
