"""The durable tier's table check: each problem comes with the SQL that fixes it."""

from __future__ import annotations

import pytest

from hydracache_sync.tiers._pgcheck import EXPECTED_COLUMNS, table_problem

MIGRATION = "python -m hydracache_sync schema --schema app --table cache"


def problem(**overrides: object) -> str | None:
    """``table_problem`` for schema ``app``, table ``cache``, healthy by default."""
    arguments: dict[str, object] = {
        "schema_exists": True,
        "columns": dict(EXPECTED_COLUMNS),
        "has_unique_key": True,
    }
    arguments.update(overrides)
    return table_problem("app", "cache", **arguments)  # type: ignore[arg-type]


def test_a_table_like_the_migration_has_no_problem() -> None:
    """The migration's columns and key: nothing to say."""
    assert None is problem()


def test_missing_schema_says_create_schema_first() -> None:
    """No schema: CREATE SCHEMA, then the migration."""
    message = problem(schema_exists=False, columns={})
    assert message is not None
    assert 'CREATE SCHEMA IF NOT EXISTS "app"' in message
    assert message.index("CREATE SCHEMA") < message.index(MIGRATION)


def test_missing_table_names_the_migration() -> None:
    """A schema without the table: the migration command, no CREATE SCHEMA."""
    message = problem(columns={})
    assert message is not None
    assert '"app"."cache" does not exist' in message
    assert MIGRATION in message
    assert "CREATE SCHEMA" not in message


@pytest.mark.parametrize("column", sorted(EXPECTED_COLUMNS))
def test_missing_column_offers_the_rebuild(column: str) -> None:
    """Every missing column: the rebuild; an ALTER only where one is safe."""
    columns = {k: v for k, v in EXPECTED_COLUMNS.items() if k != column}
    message = problem(columns=columns)
    assert message is not None
    assert f"no column {column!r}" in message
    assert 'DROP TABLE "app"."cache"' in message
    assert MIGRATION in message
    addable = column in ("expires_at", "created_at", "tags")
    assert addable == (f'ALTER TABLE "app"."cache" ADD COLUMN {column}' in message)


def test_wrong_type_offers_the_conversion_and_the_rebuild() -> None:
    """``value TEXT``: ALTER ... TYPE BYTEA USING, or drop and re-create."""
    message = problem(columns={**EXPECTED_COLUMNS, "value": "text"})
    assert message is not None
    assert (
        'ALTER TABLE "app"."cache" ALTER COLUMN value TYPE BYTEA USING value::BYTEA;'
    ) in message
    assert 'DROP TABLE "app"."cache"' in message


def test_missing_key_offers_the_primary_key() -> None:
    """No unique key: ADD PRIMARY KEY (key), or the rebuild."""
    message = problem(has_unique_key=False)
    assert message is not None
    assert 'ALTER TABLE "app"."cache" ADD PRIMARY KEY (key);' in message
