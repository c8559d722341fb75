"""The benchmark harness: inline bodies, interleaved rounds, skipped rows, threads."""

from __future__ import annotations

import math

import pytest

from hydracache_sync.bench.harness import (
    Harness,
    Settings,
    compile_loop,
    measure_scaling,
    scaling_steps,
    throughput,
)

TINY = Settings(
    rounds=3, warmup=1, sample_time=0.001, scaling_time=0.01, scaling_rounds=2
)


class TestCompileLoop:
    """compile_loop: a statement repeated inline with its index substituted."""

    def test_repeats_with_index(self) -> None:
        """``{i}`` becomes 0..ops-1, each once per call."""
        seen: list[int] = []
        body = compile_loop("seen.append(k{i})", 3, seen=seen, k0=10, k1=11, k2=12)
        body()
        assert [10, 11, 12] == seen

    def test_bad_ops(self) -> None:
        """Fewer than one repetition is a ValueError."""
        with pytest.raises(ValueError, match="ops must be >= 1"):
            compile_loop("pass", 0)


class TestHarness:
    """Harness: rows of a group measured round by round."""

    def test_rows_rounds_and_ratio(self) -> None:
        """Every live row gets one sample per round; the baseline's ratio is 1."""
        harness = Harness(TINY)
        harness.group("g", baseline="a", title="a group")
        harness.add("g", "a", lambda: None)
        harness.add("g", "b", setup=lambda: compile_loop("x = 1", 4), ops=4)
        assert 2 * (TINY.rounds + TINY.warmup) == harness.planned_steps()
        (group,) = harness.run()
        assert ["a", "b"] == [row.name for row in group.rows]
        assert [TINY.rounds, TINY.rounds] == [len(row.samples) for row in group.rows]
        assert 1.0 == group.ratio("a")
        assert group.row("b").median_ns > 0

    def test_import_error_skips(self) -> None:
        """A setup raising ImportError becomes a skipped row naming the module."""

        def setup() -> object:
            raise ImportError("no", name="somepeer")

        harness = Harness(TINY)
        harness.group("g", baseline="a")
        harness.add("g", "a", lambda: None)
        harness.add("g", "peer", setup=setup)  # type: ignore[arg-type]
        harness.skip("g", "gone", "not here")
        (group,) = harness.run()
        assert "somepeer not installed" == group.row("peer").skipped
        assert "not here" == group.row("gone").skipped
        assert math.isnan(group.ratio("peer"))

    def test_bad_registrations(self) -> None:
        """Both fn and setup, or a duplicate name, is a ValueError."""
        harness = Harness(TINY)
        with pytest.raises(ValueError, match="exactly one"):
            harness.add("g", "a", lambda: None, setup=lambda: lambda: None)
        harness.add("g", "a", lambda: None)
        with pytest.raises(ValueError, match="duplicate row"):
            harness.add("g", "a", lambda: None)


class TestThreads:
    """throughput and measure_scaling."""

    def test_throughput_counts_ops(self) -> None:
        """Two threads calling a body for a short time report a positive rate."""
        assert 0 < throughput(lambda: None, ops=2, threads=2, duration=0.01)

    def test_scaling_rows(self) -> None:
        """A live row gets rounds of both counts; a reason or ImportError skips."""

        def missing() -> object:
            raise ImportError("x", name="peer")

        rows = measure_scaling(
            [
                ("live", lambda: lambda: None, 1, None),
                ("reason", None, 1, "not installed"),
                ("missing", missing, 1, None),  # type: ignore[list-item]
            ],
            threads=2,
            settings=TINY,
        )
        live, reason, gone = rows
        assert (2, 2) == (len(live.single), len(live.multi))
        assert "not installed" == reason.skipped
        assert "peer not installed" == gone.skipped
        assert 3 * 2 * TINY.scaling_rounds == scaling_steps(3, TINY)
