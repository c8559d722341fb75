"""The Postgres population family on a tiny population (real server)."""

from __future__ import annotations

import pytest

from hydracache_sync.bench import postgres_populations, redis_populations
from hydracache_sync.bench.harness import Settings

TINY = Settings(rounds=1, warmup=0, sample_time=0.001)


def test_report_on_a_tiny_population(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both groups, three targets, and the sandbox schema dropped."""
    # The population (remote_keys) and the titles share redis_populations's.
    monkeypatch.setattr(redis_populations, "POPULATION", 300)
    monkeypatch.setattr(postgres_populations, "population_settings", lambda q: TINY)
    report = postgres_populations.postgres_population_report(
        postgres_dsn, quick=True, progress=False
    )
    assert ["hit", "many"] == [g.name for g in report.groups]
    assert 3 == len(report.targets)
    assert all(r.median_ns > 0 for g in report.groups for r in g.rows)
    assert any(note.endswith("dropped: True") for note in report.notes)
