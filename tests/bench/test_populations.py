"""The population helpers and the decorator family, on tiny populations."""

from __future__ import annotations

import pytest

from hydracache_sync.bench import populations
from hydracache_sync.bench.harness import Settings
from hydracache_sync.bench.populations import CHUNK, batches, shuffled, walk

TINY = Settings(rounds=1, warmup=0, sample_time=0.001)


class TestHelpers:
    def test_walk_covers_the_population_in_order_and_wraps(self) -> None:
        """walk() calls CHUNK items per body call, resuming, wrapping at the end."""
        seen: list[int] = []
        population = list(range(CHUNK + 30))
        body = walk(seen.append, population)
        body()
        body()
        body()
        assert (population * 3)[: 3 * CHUNK] == seen

    def test_batches_cycle(self) -> None:
        """batches() hands out the groups in order, then starts over."""
        seen: list[str] = []
        body = batches(seen.append, ["a", "b", "c"])
        for _ in range(4):
            body()
        assert ["a", "b", "c", "a"] == seen

    def test_shuffled_is_a_fixed_permutation(self) -> None:
        """shuffled() is deterministic, a permutation, and not the identity."""
        first = shuffled(range(1000))
        assert first == shuffled(range(1000))
        assert list(range(1000)) == sorted(first)
        assert list(range(1000)) != first


class TestDecoratorFamily:
    def test_report_on_tiny_populations(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every group and target is there; each row measured a positive time."""
        monkeypatch.setattr(populations, "POPULATIONS", (300,))
        monkeypatch.setattr(populations, "COLD_POPULATION", 300)
        monkeypatch.setattr(populations, "population_settings", lambda quick: TINY)
        report = populations.decorator_population_report(quick=True, progress=False)
        assert ["best", "300", "cold"] == [g.name for g in report.groups]
        assert 3 == len(report.groups[1].rows)
        assert all(r.median_ns > 0 for g in report.groups for r in g.rows)
        assert [
            "hit over best case: 1 argument value / cachetools",
            "hit over 300 distinct int arguments, shuffled / cachetools",
            "cold key build, one int (ns)",
        ] == [t.label for t in report.targets]
