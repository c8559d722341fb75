"""What to run when the durable tier's table is missing or differs from the migration.

PostgresStore never changes schema itself, so each problem it finds comes with
the SQL that fixes it: ``CREATE SCHEMA`` for a missing schema, the migration for
a missing table, an ``ALTER TABLE`` where one is safe, and otherwise the rebuild
(drop the table and run the migration: the rows are cache entries, which the
application reloads).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["EXPECTED_COLUMNS", "table_problem"]

#: The columns the store reads and writes, by ``information_schema`` udt_name.
EXPECTED_COLUMNS = {
    "key": "text",
    "value": "bytea",
    "is_none": "bool",
    "expires_at": "timestamptz",
    "created_at": "timestamptz",
    "tags": "_text",
}

#: SQL type names of the expected columns, as the migration spells them.
_SQL_TYPES = {
    "text": "TEXT",
    "bytea": "BYTEA",
    "bool": "BOOLEAN",
    "timestamptz": "TIMESTAMPTZ",
    "_text": "TEXT[]",
}

#: Columns that an ``ALTER TABLE ... ADD COLUMN`` restores without touching rows.
_ADDABLE = {
    "expires_at": "TIMESTAMPTZ",
    "created_at": "TIMESTAMPTZ NOT NULL DEFAULT now()",
    "tags": "TEXT[] NOT NULL DEFAULT '{}'",
}


def _migration(schema: str, table: str) -> str:
    return (
        "the SQL printed by "
        f"`python -m hydracache_sync schema --schema {schema} --table {table}`"
    )


def _rebuild(where: str, schema: str, table: str) -> str:
    return (
        f"or rebuild the table (it only holds cache entries): DROP TABLE {where}; "
        f"then run {_migration(schema, table)}"
    )


def table_problem(
    schema: str,
    table: str,
    *,
    schema_exists: bool,
    columns: Mapping[str, str],
    has_unique_key: bool,
) -> str | None:
    """Return what is wrong with the table and the SQL to run, or ``None``.

    Args:
        schema: The schema name (already validated as an identifier).
        table: The table name (already validated).
        schema_exists: Whether the schema exists.
        columns: The table's columns by ``information_schema`` udt_name
            (empty when the table does not exist).
        has_unique_key: Whether ``key`` has a unique index of its own.
    """
    where = f'"{schema}"."{table}"'
    if not schema_exists:
        return (
            f'PostgresStore: schema "{schema}" does not exist; create it: '
            f'CREATE SCHEMA IF NOT EXISTS "{schema}"; then create the table with '
            f"{_migration(schema, table)}"
        )
    if not columns:
        return (
            f"PostgresStore: table {where} does not exist; create it with "
            f"{_migration(schema, table)}"
        )
    for column, expected in EXPECTED_COLUMNS.items():
        actual = columns.get(column)
        sql_type = _SQL_TYPES[expected]
        if actual is None:
            fix = (
                f"add it: ALTER TABLE {where} ADD COLUMN {column} {_ADDABLE[column]}; "
                if column in _ADDABLE
                else ""
            )
            return (
                f"PostgresStore: table {where} has no column {column!r}; "
                f"{fix}{_rebuild(where, schema, table)}"
            )
        if actual != expected:
            return (
                f"PostgresStore: column {column!r} of {where} has type {actual}, "
                f"expected {expected}; convert it: ALTER TABLE {where} ALTER COLUMN "
                f"{column} TYPE {sql_type} USING {column}::{sql_type}; "
                f"{_rebuild(where, schema, table)}"
            )
    if not has_unique_key:
        return (
            f"PostgresStore: {where} has no primary key on 'key'; add it: "
            f"ALTER TABLE {where} ADD PRIMARY KEY (key); "
            f"{_rebuild(where, schema, table)}"
        )
    return None
