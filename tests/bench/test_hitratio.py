"""The hit-ratio benchmark: its traces, its replay and its report (small sizes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hydracache_sync.bench import hitratio


def _trace(name: str) -> hitratio.Trace:
    return next(t for t in hitratio.traces(2_000, 6_000) if name == t.name)


class TestTraces:
    def test_families(self) -> None:
        """Zipf 0.6-1.2, scans, loop and shift, each as long as asked."""
        names = [t.name for t in hitratio.traces(2_000, 6_000)]
        expected = ["zipf-0.6", "zipf-0.8", "zipf-1.0", "zipf-1.2"]
        assert [*expected, "scan", "loop", "shift"] == names
        for trace in hitratio.traces(2_000, 6_000):
            assert 6_000 == len(trace.keys(40))

    def test_scan_keys_are_seen_once(self) -> None:
        """30 % of the scan trace is keys requested exactly once."""
        scan = next(t for t in hitratio.traces(2_000, 60_000) if t.name == "scan")
        keys = scan.keys(40)
        counts: dict[str, int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        once = sum(1 for key in keys if counts[key] == 1 and key >= "key:000020000")
        assert 0.28 < once / len(keys) < 0.32

    def test_loop_is_larger_than_the_cache(self) -> None:
        """The loop cycles over 1.2 x capacity keys."""
        assert 48 == len(set(_trace("loop").keys(40)))


class TestReplay:
    def test_lru_gets_nothing_on_the_loop_and_hydracache_does(self) -> None:
        """The loop defeats LRU; the admission filter keeps most of the cache."""
        keys = _trace("loop").keys(100)
        peers = {p.name: p for p in hitratio.PEERS}
        assert 0.0 == hitratio.hit_ratio(peers["cachetools LRU"].make, 100, keys)
        assert 0.5 <= hitratio.hit_ratio(peers["hydracache_sync"].make, 100, keys)

    def test_hydracache_holds_the_capacity_in_entries(self) -> None:
        """max_bytes is set so that HydraCache holds exactly ``capacity`` entries."""
        get, put = hitratio.PEERS[0].make(50)
        for n in range(500):
            put(f"key:{n:09d}", 1)
        assert 50 == sum(1 for n in range(500) if get(f"key:{n:09d}") is not None)


class TestReport:
    def test_report_table_targets_and_chart(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """The report: one row per trace and capacity, targets, and the chart."""
        monkeypatch.setattr(hitratio, "QUICK_SIZE", (2_000, 6_000))
        report = hitratio.hitratio_report(
            quick=True, progress=False, plot=str(tmp_path)
        )
        (table,) = report.tables
        assert ("trace", "capacity") == table.header[:2]
        assert 7 * 2 == len(table.rows)
        labels = [t.label for t in report.targets]
        assert any("loop" in label for label in labels)
        assert (tmp_path / "hitratio.png").stat().st_size > 0
