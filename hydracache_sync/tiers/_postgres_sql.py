"""PostgresStore's SQL: the migration, name checks, statements and work functions."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from hydracache_sync.errors import ConfigError

if TYPE_CHECKING:
    from psycopg2.extensions import cursor

__all__ = [
    "check_identifier",
    "fetch_all",
    "fetch_count",
    "fetch_one",
    "like_pattern",
    "migration_sql",
    "no_result",
    "render_statements",
    "row_count",
    "ttl_param",
]

#: An unquoted-style identifier of at most 63 bytes (PostgreSQL's NAMEDATALEN).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MAX_IDENTIFIER = 63


# A row's liveness, shared by every read and every counting delete.
_LIVE = "(expires_at IS NULL OR expires_at > now())"


def check_identifier(value: object, what: str) -> str:
    """Return ``value`` when it is a safe SQL identifier, else raise ConfigError."""
    if not isinstance(value, str) or _IDENTIFIER.fullmatch(value) is None:
        raise ConfigError(
            f"invalid {what} name {value!r}: use 1-63 ASCII letters, digits and "
            "underscores, not starting with a digit"
        )
    return value


def _index_name(table: str, suffix: str) -> str:
    """Name an index after its table, shortened (uniquely) to fit 63 bytes.

    PostgreSQL would silently truncate a longer name, which could make the two
    index names collide with each other or with the table.
    """
    name = f"{table}_{suffix}"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    keep = _MAX_IDENTIFIER - len(suffix) - len(digest) - 2
    return f"{table[:keep]}_{digest}_{suffix}"


@cache
def _template() -> str:
    """Read the migration template shipped as package data."""
    path = resources.files("hydracache_sync").joinpath("sql").joinpath("migration.sql")
    return path.read_text(encoding="utf-8")


def migration_sql(schema: str = "public", table: str = "hydracache") -> str:
    """Return the runnable SQL that creates the store's table and indexes.

    Pure string work on the shipped template (``hydracache_sync/sql/
    migration.sql``); psycopg2 is not needed. The SQL is idempotent and expects
    ``schema`` to exist.

    Args:
        schema: The schema holding the table.
        table: The table name.

    Returns:
        ``CREATE TABLE IF NOT EXISTS``, a partial index on ``expires_at``, a GIN
        index on ``tags`` and a comment on every column, as one SQL script.

    Raises:
        ConfigError: ``schema`` or ``table`` is not a plain identifier.

    .. versionadded:: 0.1
    """
    check_identifier(schema, "schema")
    check_identifier(table, "table")
    # "--!" lines are notes about the template itself, not for the output.
    text = "".join(
        line
        for line in _template().splitlines(keepends=True)
        if not line.startswith("--!")
    )
    # The names are validated to [A-Za-z0-9_], so double quotes are an exact
    # quote_ident() here; str.replace keeps the template's '{}' literal intact.
    for placeholder, value in (
        ("{{schema}}", schema),
        ("{{table}}", table),
        ("{{expires_index}}", _index_name(table, "expires_at_idx")),
        ("{{tags_index}}", _index_name(table, "tags_idx")),
    ):
        text = text.replace(placeholder, value)
    return text


# Work functions for PostgresStore._run: module level so a call allocates no
# closure; each gets the cursor, the statement and its parameters.
def fetch_one(cur: cursor, statement: str, params: Sequence[Any]) -> Any:
    cur.execute(statement, params)
    return cur.fetchone()


def fetch_all(cur: cursor, statement: str, params: Sequence[Any]) -> Any:
    cur.execute(statement, params)
    return cur.fetchall()


def fetch_count(cur: cursor, statement: str, params: Sequence[Any]) -> int:
    cur.execute(statement, params)
    row = cur.fetchone()
    return int(row[0]) if row is not None else 0


def row_count(cur: cursor, statement: str, params: Sequence[Any]) -> int:
    cur.execute(statement, params)
    return max(cur.rowcount, 0)


def no_result(cur: cursor, statement: str, params: Sequence[Any]) -> None:
    cur.execute(statement, params)


def like_pattern(pattern: str) -> str:
    """Translate a ``*`` wildcard into a LIKE pattern with ``\\`` as escape."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def ttl_param(ttl: float | None) -> float | None:
    """Return the ttl in seconds for SQL; ``None`` (or infinity) is no expiry."""
    if ttl is None or math.isinf(ttl):
        return None
    return float(ttl)


def render_statements(cur: cursor, table: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Render the statements once, with the quoted table name.

    The read path and ``set`` become server-side prepared statements
    (PREPARE once per connection, then EXECUTE): parse and plan happen once
    per connection instead of once per call. A negative row is the only one
    that pays for its expiry and tags (the CASEs are NULL otherwise).

    Returns:
        ``(statements, prepare)``: the SQL each method runs, by method, and
        the ``PREPARE`` statement of each prepared statement, by its name.
    """
    import psycopg2.sql as sql

    fragments = {
        "table": table,
        "regclass": sql.Literal(table.as_string(cur)),
        "live": sql.SQL(_LIVE),
        "columns": sql.SQL(
            "value,"
            " CASE WHEN is_none THEN extract(epoch FROM expires_at)::float8 END,"
            " CASE WHEN is_none THEN tags END"
        ),
        "upsert": sql.SQL(
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
            " is_none = EXCLUDED.is_none, expires_at = EXCLUDED.expires_at,"
            " tags = EXCLUDED.tags, created_at = EXCLUDED.created_at"
        ),
    }

    def render(template: str, where: str = "") -> str:
        composed = sql.SQL(template).format(where=sql.SQL(where), **fragments)
        return composed.as_string(cur)

    prepared = {
        "get": (
            ("text",),
            "SELECT {columns} FROM {table} WHERE key = $1 AND {live}",
        ),
        "get_many": (
            ("text[]",),
            "SELECT key, {columns} FROM {table} WHERE key = ANY($1) AND {live}",
        ),
        "set": (
            ("text", "bytea", "boolean", "float8", "text[]"),
            "INSERT INTO {table} (key, value, is_none, expires_at, tags)"
            " VALUES ($1, $2, $3, now() + $4 * interval '1 second', $5){upsert}",
        ),
    }
    statements: dict[str, str] = {}
    prepare: dict[str, str] = {}
    for kind, (types, template) in prepared.items():
        head = f"({', '.join(types)}) AS {render(template)}"
        # Named after the statement's text: stores sharing a caller's pool
        # and table share it, and a changed statement gets a new name.
        digest = hashlib.sha256(head.encode()).hexdigest()[:16]
        name = f"hydracache_{kind}_{digest}"
        prepare[name] = f"PREPARE {name} {head}"
        statements[kind] = f"EXECUTE {name} ({', '.join(['%s'] * len(types))})"

    # set_many: head + one row per entry + tail, one statement.
    statements["set_many_head"] = render(
        "INSERT INTO {table} (key, value, is_none, expires_at, tags) VALUES "
    )
    statements["set_many_row"] = (
        "(%s, %s, %s, now() + %s::float8 * interval '1 second', %s::text[])"
    )
    statements["set_many_tail"] = render("{upsert}")
    # A removal counts only the rows that were still live (module docstring).
    counting_delete = (
        "WITH removed AS (DELETE FROM {table} WHERE {where} RETURNING expires_at)"
        " SELECT count(*) FROM removed WHERE {live}"
    )
    for kind, where in (
        ("delete", "key = %s"),
        ("delete_many", "key = ANY(%s)"),
        ("invalidate_tag", "tags @> ARRAY[%s]::text[]"),
        ("invalidate_pattern", "key LIKE %s ESCAPE %s"),
        ("clear", "TRUE"),
    ):
        statements[kind] = render(counting_delete, where)
    # swap(): take an absent or expired key, or replace a live row whose
    # value (or negative marker) is still the one read.
    update = (
        "UPDATE {table} SET value = %s, is_none = %s,"
        " expires_at = now() + %s::float8 * interval '1 second',"
        " tags = %s::text[], created_at = now() WHERE key = %s AND {live}"
    )
    statements["swap_absent"] = render(
        "INSERT INTO {table} AS t (key, value, is_none, expires_at, tags)"
        " VALUES (%s, %s, %s, now() + %s::float8 * interval '1 second',"
        " %s::text[]) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
        " is_none = EXCLUDED.is_none, expires_at = EXCLUDED.expires_at,"
        " tags = EXCLUDED.tags, created_at = EXCLUDED.created_at"
        " WHERE t.expires_at IS NOT NULL AND t.expires_at <= now()"
    )
    statements["swap_value"] = render(update + " AND value = %s")
    statements["swap_negative"] = render(update + " AND is_none")
    statements["cleanup_expired"] = render(
        "DELETE FROM {table} WHERE expires_at <= now()"
    )
    statements["usage"] = render(
        "SELECT count(*), count(*) FILTER (WHERE expires_at <= now()),"
        " count(*) FILTER (WHERE is_none),"
        " pg_total_relation_size({regclass}::regclass) FROM {table}"
    )
    return statements, prepare
