"""The Redis population family on a tiny population (real server)."""

from __future__ import annotations

import pytest

from hydracache_sync.bench import redis_populations
from hydracache_sync.bench.harness import Settings

TINY = Settings(rounds=1, warmup=0, sample_time=0.001)


def test_report_on_a_tiny_population(
    redis_url: str, redis_client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both groups, three targets, the sandbox emptied, no local hit by TTL."""
    monkeypatch.setattr(redis_populations, "POPULATION", 300)
    monkeypatch.setattr(redis_populations, "population_settings", lambda quick: TINY)
    report = redis_populations.redis_population_report(
        redis_url, quick=True, progress=False
    )
    assert ["hit", "many"] == [g.name for g in report.groups]
    assert 3 == len(report.targets)
    assert all(r.median_ns > 0 for g in report.groups for r in g.rows)
    assert any(": 0 keys left after cleanup" in note for note in report.notes)
