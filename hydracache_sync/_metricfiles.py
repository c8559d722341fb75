"""Per-process metric snapshots as JSON files in one directory, for multi-worker sums.

Each process (a gunicorn or uWSGI worker) writes what its caches counted to
``<directory>/hydracache_<name>_<pid>.json``, replacing the file atomically,
every ``interval`` seconds from a daemon thread, at every scrape it answers
and when it exits normally.
A scrape reads every process's file: counters and histograms are summed over
all files (a dead worker's counts stay, so the sums never go down), gauges over
the processes still alive. A pid seen in a file is alive while ``os.kill(pid,
0)`` finds it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Writer", "alive", "read_snapshots", "snapshot_path"]

log = logging.getLogger("hydracache_sync")

#: One process's snapshot: ``{"pid": int, "caches": [per-cache dicts]}``.
Snapshot = dict[str, Any]


def snapshot_path(directory: Path, name: str, pid: int) -> Path:
    """Return the file of process ``pid`` for metrics named ``name``."""
    return directory / f"hydracache_{name}_{pid}.json"


def write_snapshot(directory: Path, name: str, snapshot: Snapshot) -> None:
    """Replace this process's file with ``snapshot`` (atomically)."""
    target = snapshot_path(directory, name, snapshot["pid"])
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix=".hydracache_", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(snapshot, out, separators=(",", ":"))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_snapshots(directory: Path, name: str) -> list[Snapshot]:
    """Return every process's snapshot for ``name``; unreadable files are skipped."""
    snapshots = []
    for path in sorted(directory.glob(f"hydracache_{name}_*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # removed meanwhile, or not ours
        if isinstance(data, dict) and isinstance(data.get("pid"), int):
            snapshots.append(data)
    return snapshots


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours or not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, under another user
    except OSError:
        return False
    return True


class Writer:
    """Writes this process's snapshot every ``interval`` seconds (a daemon thread).

    The thread holds the collector weakly and stops when it is collected or
    ``stop()`` is called. After ``fork()`` the child starts its own thread (the
    parent's does not survive the fork) and writes under its own pid.
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        take: Callable[[], Snapshot],
        interval: float,
    ) -> None:
        self.directory = directory
        self.name = name
        self.interval = interval
        self._take = weakref.WeakMethod(take)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = -1
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _restart(reference))
        # A worker that exits (gunicorn's max_requests, a shutdown) writes
        # its last numbers; a forked child inherits this hook.
        atexit.register(_final, reference)

    def start(self) -> None:
        """Start the thread in this process (again after a fork)."""
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=_run, args=(weakref.ref(self), self._stop), daemon=True
        )
        self._thread.name = f"hydracache-metrics-{self.name}"
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; the file stays (its counters still count)."""
        self._stop.set()

    def write(self) -> bool:
        """Write the snapshot now; ``False`` when the collector is gone."""
        take = self._take()
        if take is None:
            return False
        with self._lock:
            write_snapshot(self.directory, self.name, take())
        return True

    @property
    def stopped(self) -> bool:
        """Whether ``stop()`` was called (or the owner is gone)."""
        return self._stop.is_set() or self._take() is None


def _restart(reference: weakref.ref[Writer]) -> None:
    writer = reference()
    if writer is not None and not writer.stopped:
        writer.start()


def _final(reference: weakref.ref[Writer]) -> None:
    writer = reference()
    if writer is not None and not writer.stopped:
        with contextlib.suppress(Exception):
            writer.write()


def _run(reference: weakref.ref[Writer], stop: threading.Event) -> None:
    while True:
        writer = reference()
        if writer is None:
            return
        interval = writer.interval
        try:
            if not writer.write():
                return
        except OSError as exc:
            log.warning("hydracache_sync: cannot write metrics snapshot: %s", exc)
        del writer
        if stop.wait(interval):
            return
