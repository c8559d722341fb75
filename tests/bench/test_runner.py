"""The runner: family selection, tier skips, failures, JSON and --check."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from hydracache_sync.bench import FAMILIES, family, runner
from hydracache_sync.bench.report import Report, Target
from hydracache_sync.errors import ConfigError


def _fake(report: Report, calls: list[tuple[Any, ...]]) -> Callable[..., Report]:
    def make(*args: Any, **kwargs: Any) -> Report:
        calls.append((args, kwargs))
        return report

    return make


class TestRegistry:
    """FAMILIES: every entry names a module here and its report function."""

    def test_every_family_resolves(self) -> None:
        """Each registered module imports without a driver and has its function."""
        for entry in FAMILIES:
            module = importlib.import_module(f"hydracache_sync.bench.{entry.name}")
            assert callable(getattr(module, entry.report)), entry

    def test_family(self) -> None:
        """family(name) finds an entry; an unknown name is a KeyError."""
        assert "redis" == family("redis").needs
        with pytest.raises(KeyError):
            family("nope")

    def test_select(self) -> None:
        """Default families, registry order for --only, and unknown names."""
        assert [f.name for f in FAMILIES if f.default] == [
            f.name for f in runner.select(None)
        ]
        assert ["local", "redis"] == [f.name for f in runner.select(["redis", "local"])]
        with pytest.raises(ConfigError, match="unknown benchmark"):
            runner.select(["local", "nope"])


class TestRun:
    """run(): what ``hydracache bench`` executes."""

    def test_local_json_and_check(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
    ) -> None:
        """Tier families without a server are left out; --check sees a miss."""
        calls: list[tuple[Any, ...]] = []
        report = Report("fake", targets=[Target("t", 2.0, "<=", 1.0)])
        monkeypatch.setattr(runner, "report_function", lambda _: _fake(report, calls))
        path = tmp_path / "r.json"
        assert 0 == runner.run(quick=True, json_path=str(path), progress=False)
        default = [f for f in FAMILIES if f.default and f.needs is None]
        assert [((), {"quick": True, "progress": False})] * len(default) == calls
        assert "fake" in capsys.readouterr().out
        titles = [r["title"] for r in json.loads(path.read_text())["reports"]]
        assert ["fake"] * len(default) == titles
        assert 1 == runner.run(quick=True, check=True)

    def test_unreachable_and_failed(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unreachable server and a failing family: notes, status 1, others run."""
        calls: list[tuple[Any, ...]] = []

        def pick(entry: Any) -> Callable[..., Report]:
            if entry.name == "postgres":
                raise RuntimeError("boom")
            return _fake(Report(f"ran {entry.name}"), calls)

        monkeypatch.setattr(runner, "report_function", pick)
        monkeypatch.setattr(
            runner,
            "_UNREACHABLE",
            {
                "redis": lambda url: f"cannot reach {url}",
                "postgres": lambda dsn: None,
            },
        )
        url = f"redis://127.0.0.1:{free_port()}/0"
        status = runner.run(progress=False, redis_url=url, postgres_dsn="dbname=x")
        out = capsys.readouterr().out
        assert 1 == status
        assert f"[redis] skipped: cannot reach {url}" in out
        assert "[postgres] failed: RuntimeError: boom" in out
        assert "ran local" in out
        assert "ran hitratio" in out
        assert 2 == len(calls)

    def test_run_family_unreachable(self, capsys: pytest.CaptureFixture[str]) -> None:
        """run_family on a closed port: a skip note and no report."""
        url = f"redis://127.0.0.1:{free_port()}/0"
        args = argparse.Namespace(quick=True, progress=False, json=None, redis=url)
        assert None is runner.run_family("redis", args)
        assert "[redis] skipped: cannot reach" in capsys.readouterr().out
