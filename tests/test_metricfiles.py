"""Per-process metric snapshot files: atomic writes, tolerant reads, the writer."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hydracache_sync import _metricfiles as files


class Owner:
    """Stands in for a collector: counts the snapshots taken."""

    def __init__(self) -> None:
        self.taken = 0

    def take(self) -> dict[str, Any]:
        """Return a snapshot with a growing counter."""
        self.taken += 1
        return {"pid": 4242, "caches": [{"n": self.taken}]}


def wait_for(condition: Any, seconds: float = 20.0) -> None:
    """Poll ``condition()`` until true, failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_write_then_read(tmp_path: Path) -> None:
    """A written snapshot is read back; no temporary file is left."""
    files.write_snapshot(tmp_path, "app", {"pid": 7, "caches": [1]})
    files.write_snapshot(tmp_path, "app", {"pid": 7, "caches": [2]})  # replaces
    files.write_snapshot(tmp_path, "other", {"pid": 8, "caches": []})
    assert [{"pid": 7, "caches": [2]}] == files.read_snapshots(tmp_path, "app")
    assert ["hydracache_app_7.json", "hydracache_other_8.json"] == sorted(
        p.name for p in tmp_path.iterdir()
    )


def test_unreadable_and_foreign_files_are_skipped(tmp_path: Path) -> None:
    """Broken JSON, a list, a missing pid: skipped, never an error."""
    (tmp_path / "hydracache_app_1.json").write_text("{not json")
    (tmp_path / "hydracache_app_2.json").write_text("[1, 2]")
    (tmp_path / "hydracache_app_3.json").write_text(json.dumps({"caches": []}))
    files.write_snapshot(tmp_path, "app", {"pid": 4, "caches": []})
    assert [{"pid": 4, "caches": []}] == files.read_snapshots(tmp_path, "app")


def test_alive() -> None:
    """This process is alive; a process that has exited is not."""
    import os

    assert files.alive(os.getpid())
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert not files.alive(int(child.stdout))


def test_writer_writes_periodically_and_stops(tmp_path: Path) -> None:
    """The thread rewrites the file every interval until ``stop()``."""
    owner = Owner()
    writer = files.Writer(tmp_path, "app", owner.take, 0.01)
    writer.start()
    path = files.snapshot_path(tmp_path, "app", 4242)
    wait_for(lambda: owner.taken >= 3)
    writer.stop()
    wait_for(lambda: writer.stopped)
    time.sleep(0.1)  # any write in progress finishes
    settled = owner.taken
    time.sleep(0.2)
    assert settled == owner.taken
    assert settled == json.loads(path.read_text())["caches"][0]["n"]


def test_writer_ends_with_its_owner(tmp_path: Path) -> None:
    """The writer holds its owner weakly: once the owner is gone it stops."""
    owner = Owner()
    writer = files.Writer(tmp_path, "app", owner.take, 0.01)
    writer.start()
    path = files.snapshot_path(tmp_path, "app", 4242)
    wait_for(path.exists)
    del owner
    gc.collect()
    wait_for(lambda: writer.stopped)
    assert False is writer.write()
