"""PostgresStore on the real server: the contract, the migration, the checks,
negatives, expiry, prepared statements and connection handling."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from hydracache_sync import _envelope
from hydracache_sync.errors import (
    ConfigError,
    MissingDependencyError,
    TierError,
    TierTimeoutError,
    TierUnavailableError,
)
from hydracache_sync.testing import TierContract
from hydracache_sync.tiers.base import NativeNegative, StoreItem
from hydracache_sync.tiers.postgres import PostgresStore, migration_sql

psycopg2 = pytest.importorskip("psycopg2")

from psycopg2.pool import ThreadedConnectionPool  # noqa: E402

pytestmark = pytest.mark.postgres

HOSTILE = ['x"; DROP TABLE y; --', "a b", "", "x" * 64, "1abc", "a-b", "naïve", "t\n"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[Any]:
    """An autocommit connection for setting up and inspecting tables."""
    conn = psycopg2.connect(postgres_dsn)
    conn.autocommit = True
    yield conn
    conn.close()


def query(conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on ``conn`` and return all rows (if any)."""
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def suggested(message: str, verb: str) -> str:
    """Return the SQL statement starting with ``verb`` that ``message`` suggests."""
    start = message.index(verb)
    return message[start : message.index(";", start) + 1]


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    """A store on the test schema's migrated table (closed afterwards)."""
    tier = PostgresStore(postgres_dsn, schema=postgres_schema, max_connections=4)
    yield tier
    tier.close()


@pytest.fixture
def pool(postgres_dsn: str) -> Iterator[Any]:
    """A caller-owned pool of exactly one connection (closed afterwards)."""
    owned = ThreadedConnectionPool(1, 1, postgres_dsn)
    yield owned
    if not owned.closed:
        owned.closeall()


def backend_pid(pool: Any) -> int:
    """The server pid behind the single connection of ``pool``."""
    conn = pool.getconn()
    try:
        pid: int = conn.info.backend_pid
        return pid
    finally:
        pool.putconn(conn)


class TestPostgresStore(TierContract):
    """The remote-tier contract, on a real PostgreSQL table."""

    @pytest.fixture
    def tier(self, store: PostgresStore) -> PostgresStore:
        """The contract's tier: the migrated table of this test's schema."""
        return store


class TestMigrationSql:
    """``migration_sql`` renders the shipped template for valid names only."""

    def test_applies_cleanly_and_again(self, admin: Any, postgres_schema: str) -> None:
        """The fixture applied it; running it again is a no-op, not an error."""
        query(admin, migration_sql(schema=postgres_schema, table="hydracache"))
        rows = query(
            admin,
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = %s AND table_name = 'hydracache'",
            (postgres_schema,),
        )
        assert [(1,)] == rows

    def test_creates_the_gin_and_partial_indexes(
        self, admin: Any, postgres_schema: str
    ) -> None:
        """A GIN index on tags and a partial index on expires_at exist."""
        text = migration_sql(schema=postgres_schema, table="hydracache")
        assert "USING GIN (tags)" in text
        assert "WHERE expires_at IS NOT NULL" in text
        defs = {
            name: definition
            for name, definition in query(
                admin,
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE schemaname = %s AND tablename = 'hydracache'",
                (postgres_schema,),
            )
        }
        assert "USING gin (tags)" in defs["hydracache_tags_idx"]
        assert "WHERE (expires_at IS NOT NULL)" in defs["hydracache_expires_at_idx"]
        assert 3 == len(defs)  # and the primary key

    def test_columns_are_commented(self, admin: Any, postgres_schema: str) -> None:
        """Every column carries a COMMENT explaining it."""
        rows = query(
            admin,
            "SELECT a.attname, col_description(a.attrelid, a.attnum)"
            " FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0"
            " AND NOT a.attisdropped",
            (f'"{postgres_schema}"."hydracache"',),
        )
        comments = dict(rows)
        expected = ["created_at", "expires_at", "is_none", "key", "tags", "value"]
        assert expected == sorted(comments)
        assert [] == [name for name, text in comments.items() if not text]

    def test_check_constraint_ties_is_none_to_value(
        self, admin: Any, postgres_schema: str
    ) -> None:
        """A row claiming is_none with a value (or the reverse) is refused."""
        table = f'"{postgres_schema}"."hydracache"'
        for value, is_none in ((b"x", True), (None, False)):
            with pytest.raises(psycopg2.errors.CheckViolation):
                query(
                    admin,
                    f"INSERT INTO {table} (key, value, is_none)"  # noqa: S608
                    " VALUES ('k', %s, %s)",
                    (value, is_none),
                )

    def test_long_table_name_gets_distinct_short_index_names(
        self, admin: Any, postgres_schema: str
    ) -> None:
        """A 63-character table still gets two distinct, untruncated indexes."""
        table = "t" * 63
        query(admin, migration_sql(schema=postgres_schema, table=table))
        names = sorted(
            row[0]
            for row in query(
                admin,
                "SELECT indexname FROM pg_indexes"
                " WHERE schemaname = %s AND tablename = %s",
                (postgres_schema, table),
            )
        )
        assert 3 == len(set(names))
        assert all(len(name) <= 63 for name in names)

    @pytest.mark.parametrize("bad", HOSTILE)
    def test_hostile_names_are_refused(self, bad: str) -> None:
        """Names that are not plain identifiers raise ConfigError, for both."""
        with pytest.raises(ConfigError):
            migration_sql(schema=bad)
        with pytest.raises(ConfigError):
            migration_sql(table=bad)

    def test_default_names(self) -> None:
        """Without arguments it targets public.hydracache."""
        assert 'CREATE TABLE IF NOT EXISTS "public"."hydracache"' in migration_sql()
        assert "{{" not in migration_sql()
        assert "--!" not in migration_sql()

    def test_works_without_psycopg2_which_the_store_then_names(self) -> None:
        """The module imports and renders SQL with psycopg2 blocked; the store
        then raises MissingDependencyError naming the extra."""
        script = (
            "import sys; sys.modules['psycopg2'] = None\n"
            "from hydracache_sync.tiers.postgres import PostgresStore, migration_sql\n"
            "from hydracache_sync.errors import MissingDependencyError\n"
            "assert 'CREATE TABLE' in migration_sql()\n"
            "try:\n"
            "    PostgresStore('dbname=x')\n"
            "except MissingDependencyError as exc:\n"
            "    assert isinstance(exc.__cause__, ImportError)\n"
            "    print(exc)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={"PYTHONPATH": str(REPO)},
            check=False,
            timeout=60,
        )
        assert 0 == result.returncode, result.stderr
        assert "pip install 'hydracache_sync[postgres]'" in result.stdout
        assert issubclass(MissingDependencyError, ImportError)


class TestConstructionChecks:
    """The store checks its table at construction and never changes schema."""

    def test_missing_table_names_the_schema_command(
        self, postgres_dsn: str, postgres_schema: str
    ) -> None:
        """No table: ConfigError telling how to print the migration."""
        with pytest.raises(ConfigError) as info:
            PostgresStore(postgres_dsn, schema=postgres_schema, table="absent")
        assert "python -m hydracache_sync schema" in str(info.value)
        assert "--table absent" in str(info.value)

    def test_missing_schema_says_create_schema_and_that_sql_works(
        self, admin: Any, postgres_dsn: str
    ) -> None:
        """No schema: the message gives CREATE SCHEMA, and running it plus the
        migration it names makes the store start."""
        schema = f"nope_{uuid.uuid4().hex[:8]}"
        with pytest.raises(ConfigError) as info:
            PostgresStore(postgres_dsn, schema=schema)
        message = str(info.value)
        assert f'schema "{schema}" does not exist' in message
        assert f"python -m hydracache_sync schema --schema {schema}" in message
        try:
            query(admin, suggested(message, "CREATE SCHEMA"))
            query(admin, migration_sql(schema=schema))
            store = PostgresStore(postgres_dsn, schema=schema)
            store.close()
        finally:
            query(admin, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def test_wrong_column_type(
        self, admin: Any, postgres_dsn: str, postgres_schema: str
    ) -> None:
        """``value TEXT`` instead of BYTEA: ConfigError naming the column."""
        query(
            admin,
            f'CREATE TABLE "{postgres_schema}".wrong (key TEXT PRIMARY KEY,'
            " value TEXT, is_none BOOLEAN NOT NULL, expires_at TIMESTAMPTZ,"
            " created_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
            " tags TEXT[] NOT NULL DEFAULT '{}')",
        )
        with pytest.raises(ConfigError) as info:
            PostgresStore(postgres_dsn, schema=postgres_schema, table="wrong")
        message = str(info.value)
        assert "'value'" in message
        assert "expected bytea" in message
        assert "python -m hydracache_sync schema" in message
        assert f'DROP TABLE "{postgres_schema}"."wrong"' in message  # the rebuild
        query(admin, suggested(message, "ALTER TABLE"))
        PostgresStore(postgres_dsn, schema=postgres_schema, table="wrong").close()

    def test_missing_column(
        self, admin: Any, postgres_dsn: str, postgres_schema: str
    ) -> None:
        """A table without ``tags``: ConfigError naming it."""
        query(
            admin,
            f'CREATE TABLE "{postgres_schema}".notags (key TEXT PRIMARY KEY,'
            " value BYTEA, is_none BOOLEAN NOT NULL, expires_at TIMESTAMPTZ,"
            " created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        with pytest.raises(ConfigError, match="no column 'tags'") as info:
            PostgresStore(postgres_dsn, schema=postgres_schema, table="notags")
        query(admin, suggested(str(info.value), "ALTER TABLE"))
        PostgresStore(postgres_dsn, schema=postgres_schema, table="notags").close()

    def test_missing_primary_key(
        self, admin: Any, postgres_dsn: str, postgres_schema: str
    ) -> None:
        """Upserts need a unique key: a table without one is refused."""
        query(
            admin,
            f'CREATE TABLE "{postgres_schema}".nokey (key TEXT,'
            " value BYTEA, is_none BOOLEAN NOT NULL, expires_at TIMESTAMPTZ,"
            " created_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
            " tags TEXT[] NOT NULL DEFAULT '{}')",
        )
        with pytest.raises(ConfigError, match="primary key") as info:
            PostgresStore(postgres_dsn, schema=postgres_schema, table="nokey")
        query(admin, suggested(str(info.value), "ALTER TABLE"))
        PostgresStore(postgres_dsn, schema=postgres_schema, table="nokey").close()

    @pytest.mark.parametrize("bad", HOSTILE)
    def test_hostile_identifiers_drop_nothing(
        self, admin: Any, postgres_dsn: str, postgres_schema: str, bad: str
    ) -> None:
        """Injection attempts in schema or table raise ConfigError, and the
        table they aim at is still there afterwards."""
        query(admin, f'CREATE TABLE "{postgres_schema}".y (id int)')
        with pytest.raises(ConfigError):
            PostgresStore(postgres_dsn, schema=postgres_schema, table=bad)
        with pytest.raises(ConfigError):
            PostgresStore(postgres_dsn, schema=bad)
        rows = query(
            admin,
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = %s ORDER BY 1",
            (postgres_schema,),
        )
        assert [("hydracache",), ("y",)] == rows

    def test_never_creates_schema(self, admin: Any, postgres_dsn: str) -> None:
        """A failed construction leaves no table behind."""
        schema = f"hctest_{uuid.uuid4().hex[:12]}"
        query(admin, f'CREATE SCHEMA "{schema}"')
        try:
            with pytest.raises(ConfigError):
                PostgresStore(postgres_dsn, schema=schema)
            rows = query(
                admin,
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_schema = %s",
                (schema,),
            )
            assert [(0,)] == rows
        finally:
            query(admin, f'DROP SCHEMA "{schema}" CASCADE')

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"max_connections": 0},
            {"min_connections": 3, "max_connections": 2},
            {"min_connections": -1},
            {"connect_timeout": 0},
            {"statement_timeout_ms": -5},
            {"pool_timeout": 0},
        ],
    )
    def test_bad_arguments(self, postgres_dsn: str, kwargs: dict[str, Any]) -> None:
        """Impossible pool sizes and timeouts raise ConfigError."""
        with pytest.raises(ConfigError):
            PostgresStore(postgres_dsn, **kwargs)

    def test_neither_dsn_nor_pool(self) -> None:
        """Anything but a DSN string or a pool raises ConfigError."""
        with pytest.raises(ConfigError, match="DSN string or a psycopg2"):
            PostgresStore(42)  # type: ignore[arg-type]

    def test_invalid_dsn(self) -> None:
        """A DSN libpq cannot parse raises ConfigError."""
        with pytest.raises(ConfigError, match="invalid PostgreSQL DSN"):
            PostgresStore("this is = not = a dsn")

    def test_unreachable_server(self) -> None:
        """Nothing listening: built; calls and ensure_ready() raise TierUnavailable.

        The table check waits for a reachable server (a cache under
        ``on_tier_error="degrade"`` boots and fails over meanwhile).
        """
        dsn = f"host=127.0.0.1 port={free_port()} user=postgres dbname=test"
        with PostgresStore(dsn, connect_timeout=2) as store:
            with pytest.raises(TierUnavailableError) as info:
                store.get("k")
            assert "postgres" == info.value.tier
            assert isinstance(info.value.__cause__, psycopg2.OperationalError)
            with pytest.raises(TierUnavailableError):
                store.ensure_ready()

    def test_owned_pool_settings(self, store: PostgresStore) -> None:
        """An owned pool's connections get the statement timeout and a name."""
        settings = store._run(
            lambda cur, *_: query(
                cur.connection,
                "SELECT current_setting('statement_timeout'),"
                " current_setting('application_name')",
            ),
            "",
            (),
        )
        assert [("2s", "hydracache_sync")] == settings


class TestNegativeEntries:
    """An entry written with negative=True is stored natively, read as a flag."""

    def test_round_trip(
        self, store: PostgresStore, admin: Any, postgres_schema: str
    ) -> None:
        """The row is ``value NULL, is_none TRUE``; reading it gives a
        NativeNegative with the same tags and expiry. The bytes are not read."""
        expires_at = time.time() + 60
        store.set("neg", b"not parsed", 60, ("t",), True)
        back = store.get("neg")
        assert isinstance(back, NativeNegative)
        assert ("t",) == back.tags
        assert back.expires_at is not None
        assert abs(expires_at - back.expires_at) < 1
        rows = query(
            admin,
            f'SELECT value, is_none FROM "{postgres_schema}".hydracache'  # noqa: S608
            " WHERE key = 'neg'",
        )
        assert [(None, True)] == rows

    def test_negative_bytes_without_the_flag_are_bytes(
        self, store: PostgresStore
    ) -> None:
        """Without the flag an envelope framing None is stored as its bytes: the
        store does not look inside (a signed negative keeps its MAC)."""
        data = _envelope.pack(
            "neg", b"", flags=_envelope.F_NEGATIVE, expires_at=None, tags=()
        )
        store.set("neg", data, None, ())
        assert data == store.get("neg")
        assert store.trusted is True

    def test_negative_in_batches_and_overwrites(self, store: PostgresStore) -> None:
        """set_many and get_many carry negatives; a value can replace one."""
        store.set_many(
            [
                StoreItem("n", b"", None, ("a", "b"), negative=True),
                StoreItem("v", b"1", None, ()),
            ]
        )
        negative, value = store.get_many(["n", "v"])
        assert NativeNegative(None, ("a", "b")) == negative
        assert b"1" == value
        store.set("n", b"now a value", None, ())
        assert b"now a value" == store.get("n")

    def test_swap_on_a_negative(self, store: PostgresStore) -> None:
        """swap() with the NativeNegative read replaces it; a stale one fails."""
        store.set("n", b"", None, (), True)
        current = store.get("n")
        assert isinstance(current, NativeNegative)
        assert True is store.swap("n", current, b"1", None, ())
        assert False is store.swap("n", current, b"2", None, ())
        assert b"1" == store.get("n")


class TestExpiryAndCounts:
    """Expired rows are invisible, swept by cleanup_expired, never counted."""

    def test_cleanup_expired_counts_exactly(
        self, store: PostgresStore, admin: Any, postgres_schema: str
    ) -> None:
        """Only the expired rows go, and their number is returned."""
        store.set_many(
            [StoreItem(f"old{i}", b"x", 0.05, ()) for i in range(5)]
            + [StoreItem("fresh", b"y", 60, ()), StoreItem("forever", b"z", None, ())]
        )
        time.sleep(0.15)
        assert 5 == store.cleanup_expired()
        assert 0 == store.cleanup_expired()
        rows = query(
            admin,
            f'SELECT key FROM "{postgres_schema}".hydracache ORDER BY key',  # noqa: S608
        )
        assert [("forever",), ("fresh",)] == rows

    def test_removals_count_only_live_rows(self, store: PostgresStore) -> None:
        """An expired row is removed by delete/invalidate but not counted."""
        store.set("gone", b"x", 0.05, ("t",))
        store.set("live", b"y", None, ("t",))
        time.sleep(0.15)
        assert store.delete("gone") is False
        store.set("gone", b"x", 0.05, ("t",))
        time.sleep(0.15)
        assert 1 == store.invalidate_tag("t")
        assert 0 == store.cleanup_expired()

    def test_set_many_last_duplicate_wins(self, store: PostgresStore) -> None:
        """A key repeated in one batch ends with its last value."""
        store.set_many([StoreItem("k", b"1", None, ()), StoreItem("k", b"2", None, ())])
        assert b"2" == store.get("k")

    def test_big_batch_and_value(self, store: PostgresStore) -> None:
        """A 1000-item batch and a 1 MB value go through in one statement each."""
        store.set_many(
            [StoreItem(f"k{i}", b"%d" % i, 60, ("bulk",)) for i in range(1000)]
        )
        keys = [f"k{i}" for i in range(1000)]
        assert [b"%d" % i for i in range(1000)] == store.get_many(keys)
        store.set("big", bytes(range(256)) * 4096, None, ())
        assert bytes(range(256)) * 4096 == store.get("big")
        assert 1000 == store.invalidate_tag("bulk")

    def test_wildcard_with_backslashes_and_percent(self, store: PostgresStore) -> None:
        """Backslash, percent and underscore stay literal around ``*``."""
        for key in ["p\\%_:1", "p\\%_:2", "pX%_:1", "p\\x_:1"]:
            store.set(key, b"v", None, ())
        assert 2 == store.invalidate_pattern("p\\%_:*")
        assert [b"v", b"v"] == store.get_many(["pX%_:1", "p\\x_:1"])

    def test_tag_invalidation_uses_the_gin_index(
        self, store: PostgresStore, admin: Any, postgres_schema: str
    ) -> None:
        """The tag delete is written so the planner can use the GIN index."""
        statement = store._sql["invalidate_tag"]
        with admin.cursor() as cur:
            cur.execute("SET enable_seqscan = off")
            cur.execute("EXPLAIN " + statement, ("users",))
            plan = "\n".join(row[0] for row in cur.fetchall())
            cur.execute("RESET enable_seqscan")
        assert "hydracache_tags_idx" in plan


class TestConnections:
    """Pools, prepared statements and what happens when a connection breaks."""

    def test_more_threads_than_connections_wait_for_one(
        self, postgres_dsn: str, postgres_schema: str
    ) -> None:
        """8 threads on a 1-connection pool queue for it instead of failing."""
        store = PostgresStore(
            postgres_dsn, schema=postgres_schema, max_connections=1, pool_timeout=10
        )
        store.set("k", b"v", None, ())
        errors: list[BaseException] = []
        reads: list[bytes | None] = []
        barrier = threading.Barrier(8)

        def reader() -> None:
            barrier.wait()
            try:
                reads.extend(store.get("k") for _ in range(20))
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        store.close()
        assert [] == errors
        assert [b"v"] * 160 == reads

    def test_busy_pool_times_out_with_tier_timeout(
        self, postgres_dsn: str, postgres_schema: str
    ) -> None:
        """A call that gets no connection within pool_timeout is a TierTimeoutError."""
        from hydracache_sync.errors import TierTimeoutError

        store = PostgresStore(
            postgres_dsn, schema=postgres_schema, max_connections=1, pool_timeout=0.2
        )
        store._slots.get(timeout=1)  # hold the only connection's slot
        try:
            started = time.monotonic()
            with pytest.raises(TierTimeoutError, match="no free connection"):
                store.get("k")
            assert 0.15 < time.monotonic() - started < 2
        finally:
            store._slots.put(None)
            store.close()

    def test_caller_pool_stays_open(self, pool: Any, postgres_schema: str) -> None:
        """close() leaves a caller's pool open and the store refuses calls."""
        tier = PostgresStore(pool, schema=postgres_schema)
        tier.set("k", b"v", None, ())
        tier.close()
        tier.close()
        assert pool.closed is False
        conn = pool.getconn()
        assert [(1,)] == query(conn, "SELECT 1")
        pool.putconn(conn)
        with pytest.raises(TierError, match="closed"):
            tier.get("k")

    def test_owned_pool_is_closed(
        self, postgres_dsn: str, postgres_schema: str
    ) -> None:
        """close() closes the pool the store opened."""
        tier = PostgresStore(postgres_dsn, schema=postgres_schema)
        owned = tier._pool
        tier.close()
        assert owned.closed is True

    def test_context_manager_closes(
        self, postgres_dsn: str, postgres_schema: str
    ) -> None:
        """``with PostgresStore(...)`` closes it at the end."""
        with PostgresStore(postgres_dsn, schema=postgres_schema) as tier:
            tier.set("k", b"v", None, ())
        with pytest.raises(TierError):
            tier.get("k")

    def test_prepared_statement_is_reused(
        self, pool: Any, postgres_schema: str
    ) -> None:
        """get prepares once per connection, then only EXECUTEs it."""
        tier = PostgresStore(pool, schema=postgres_schema)
        tier.set("k", b"v", None, ())
        for _ in range(7):
            assert b"v" == tier.get("k")
        conn = pool.getconn()
        rows = query(
            conn,
            "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE name LIKE 'hydracache\\_get\\_%%' AND name NOT LIKE '%%many%%'",
        )
        pool.putconn(conn)
        assert 1 == len(rows)
        assert 7 == rows[0][1]
        assert f"EXECUTE {rows[0][0]} (%s)" == tier._sql["get"]
        tier.close()

    def test_deallocated_statements_are_prepared_again(
        self, pool: Any, postgres_schema: str
    ) -> None:
        """Someone running DISCARD ALL on the connection costs one re-PREPARE."""
        tier = PostgresStore(pool, schema=postgres_schema)
        tier.set("k", b"v", None, ())
        conn = pool.getconn()
        conn.autocommit = True
        query(conn, "DISCARD ALL")
        pool.putconn(conn)
        assert b"v" == tier.get("k")
        assert [b"v"] == tier.get_many(["k"])
        tier.close()

    def test_terminated_backend_is_replaced(
        self, pool: Any, admin: Any, postgres_schema: str
    ) -> None:
        """A killed backend: the next call discards the dead connection and
        succeeds on a fresh one; the pool never sees the dead one again."""
        tier = PostgresStore(pool, schema=postgres_schema)
        tier.set("k", b"v", None, ())
        old_pid = backend_pid(pool)
        conn = pool.getconn()
        pool.putconn(conn)
        assert [(True,)] == query(admin, "SELECT pg_terminate_backend(%s)", (old_pid,))
        time.sleep(0.1)
        assert b"v" == tier.get("k")  # retried on a new connection
        assert b"v" == tier.get("k")
        assert 0 != conn.closed
        assert old_pid != backend_pid(pool)
        tier.close()

    def test_every_connection_dead_at_once(
        self, postgres_dsn: str, admin: Any, postgres_schema: str
    ) -> None:
        """All pooled connections killed (a server restart): the first call
        still succeeds, and every later one too."""
        tier = PostgresStore(
            postgres_dsn, schema=postgres_schema, min_connections=3, max_connections=3
        )
        barrier = threading.Barrier(3)
        pids: list[int] = []

        def hold() -> None:
            def work(cur: Any, *_: Any) -> None:
                pids.append(cur.connection.info.backend_pid)
                barrier.wait(timeout=5)  # three connections busy at once

            tier._run(work, "", ())

        threads = [threading.Thread(target=hold) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert 3 == len(set(pids))
        for pid in pids:
            query(admin, "SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.1)
        assert tier.get("absent") is None
        tier.set("k", b"v", None, ())
        assert b"v" == tier.get("k")
        tier.close()

    def test_statement_timeout_keeps_the_connection(
        self, postgres_dsn: str, admin: Any, postgres_schema: str
    ) -> None:
        """A statement cancelled by statement_timeout raises TierTimeoutError;
        the (healthy) connection is kept, and the next call works."""
        timed = ThreadedConnectionPool(
            1, 1, postgres_dsn, options="-c statement_timeout=200"
        )
        try:
            tier = PostgresStore(timed, schema=postgres_schema)
            tier.set("k", b"v", None, ())
            pid = backend_pid(timed)
            locker = psycopg2.connect(postgres_dsn)
            try:
                table = f'"{postgres_schema}".hydracache'
                query(locker, f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                with pytest.raises(TierTimeoutError) as info:
                    tier.get("k")
                assert time.monotonic() - started < 2
                assert isinstance(info.value, TimeoutError)
                assert isinstance(info.value.__cause__, psycopg2.errors.QueryCanceled)
            finally:
                locker.rollback()
                locker.close()
            assert b"v" == tier.get("k")
            assert pid == backend_pid(timed)
            tier.close()
        finally:
            timed.closeall()

    def test_sql_error_is_a_plain_tier_error(
        self, store: PostgresStore, admin: Any, postgres_schema: str
    ) -> None:
        """A table altered behind the store's back: TierError (neither
        unavailable nor timeout), chained from the driver's error."""
        query(admin, f'ALTER TABLE "{postgres_schema}".hydracache DROP COLUMN tags')
        with pytest.raises(TierError) as info:
            store.invalidate_tag("t")
        assert TierError is type(info.value)
        assert isinstance(info.value.__cause__, psycopg2.Error)
        assert "postgres" == info.value.tier

    def test_pool_exhaustion_is_a_tier_error(
        self, pool: Any, postgres_schema: str
    ) -> None:
        """Every connection busy: TierError at once; fine again after."""
        tier = PostgresStore(pool, schema=postgres_schema)
        conn = pool.getconn()
        try:
            with pytest.raises(TierError, match="exhausted"):
                tier.get("k")
        finally:
            pool.putconn(conn)
        assert tier.get("k") is None
        tier.close()

    def test_caller_pool_without_autocommit_commits(
        self, pool: Any, admin: Any, postgres_schema: str
    ) -> None:
        """A borrowed connection keeps its transaction mode; writes are
        committed and visible to other sessions."""
        tier = PostgresStore(pool, schema=postgres_schema)
        tier.set("k", b"v", None, ())
        conn = pool.getconn()
        assert conn.autocommit is False
        pool.putconn(conn)
        rows = query(
            admin,
            f'SELECT value FROM "{postgres_schema}".hydracache',  # noqa: S608
        )
        assert [b"v"] == [bytes(row[0]) for row in rows]
        assert 1 == tier.delete_many(["k"])
        tier.close()

    def test_threads_share_the_pool(self, store: PostgresStore) -> None:
        """Four threads writing and reading concurrently see no errors."""
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for i in range(50):
                    store.set(f"t{n}:{i}", b"%d" % i, 60, (f"t{n}",))
                    assert b"%d" % i == store.get(f"t{n}:{i}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [] == errors
        assert 50 == store.invalidate_tag("t0")


class TestUsage:
    """usage(): row counts and table size, for ``hydracache stats``."""

    def test_counts(self, store: PostgresStore) -> None:
        """Rows, expired and negative rows are counted; the size is positive."""
        store.set_many(
            [StoreItem("old", b"x", 0.05, ()), StoreItem("live", b"y", 60, ())]
        )
        store.set("neg", b"", None, (), True)
        time.sleep(0.15)
        usage = store.usage()
        assert (3, 2, 1, 1) == (
            usage.rows,
            usage.live_rows,
            usage.expired_rows,
            usage.negative_rows,
        )
        assert usage.table_bytes > 0
