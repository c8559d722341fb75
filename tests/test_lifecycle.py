"""Forked workers: a cache built before fork() works in the child.

Real fork (multiprocessing "fork"), real Redis and Postgres, and Flask under a
real gunicorn with ``--preload`` (the app and its cache built in the master,
then inherited by forked workers).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from hydracache_sync import Cost, HydraCache, TierTTLs

redis = pytest.importorskip("redis")
psycopg2 = pytest.importorskip("psycopg2")

from hydracache_sync import PostgresStore, RedisStore  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parent.parent


def _backends(admin: Any, application_name: str) -> set[int]:
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        )
        return {int(row[0]) for row in cur.fetchall()}


def _child(cache: HydraCache, conn: Connection) -> None:
    """The forked child: report what it inherited, then follow invalidations."""
    try:
        report: dict[str, Any] = {"entries_at_start": len(cache.local_store)}
        started = time.monotonic()
        # The parent has a load of "slow" in flight: the child must not wait
        # for it (that thread does not exist here).
        report["slow"] = cache.get_or_load("slow", lambda: "child")
        report["slow_seconds"] = time.monotonic() - started
        deadline = time.monotonic() + 10
        while not cache.listening and time.monotonic() < deadline:
            time.sleep(0.005)
        report["listening"] = cache.listening
        report["k"] = cache.get("k")
        report["k_is_local"] = "k" in cache.local_store.entries
        report["durable"] = cache.get("d")
        conn.send(report)
        assert "go" == conn.recv()
        deadline = time.monotonic() + 5
        while "k" in cache.local_store.entries and time.monotonic() < deadline:
            time.sleep(0.001)
        conn.send({"seen_at": time.time(), "k": cache.get("k")})
        cache.close()  # closes the child's Postgres pool; the parent's stays
        conn.send("closed")
    except BaseException as exc:  # reported to the parent, which fails the test
        conn.send({"error": repr(exc)})


def _recv(conn: Connection, timeout: float = 20) -> Any:
    if not conn.poll(timeout):
        raise AssertionError(f"no answer from the child in {timeout}s")
    answer = conn.recv()
    if isinstance(answer, dict) and "error" in answer:
        raise AssertionError(f"the child failed: {answer['error']}")
    return answer


def test_forked_child_resubscribes_and_uses_no_parent_connection(
    redis_url: str, redis_prefix: str, postgres_dsn: str, postgres_schema: str
) -> None:
    """A "fork" child drops local copies and in-flight loads, re-subscribes,
    sees another process's invalidation within the usual bound, and never
    uses (or ends) a Postgres session of its parent's."""
    app = f"hc-fork-{uuid.uuid4().hex[:12]}"
    cache = HydraCache(
        shared=RedisStore.from_url(redis_url, prefix=redis_prefix),
        durable=PostgresStore(
            f"{postgres_dsn} application_name={app}", schema=postgres_schema
        ),
        promotion=TierTTLs(local=600),
    )
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True
    gate, loading = threading.Event(), threading.Event()

    def slow() -> str:
        loading.set()
        gate.wait(20)
        return "parent"

    loader = threading.Thread(target=lambda: cache.get_or_load("slow", slow))
    try:
        assert cache.listening
        cache.set("k", "v1")
        cache.set("d", "durable", cost=Cost.EXPENSIVE)
        assert "v1" == cache.get("k")
        loader.start()
        assert loading.wait(10)
        parent_sessions = _backends(admin, app)
        assert parent_sessions, "the parent holds a Postgres connection"

        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        child = context.Process(target=_child, args=(cache, theirs))
        child.start()
        report = _recv(ours)
        assert 0 == report["entries_at_start"]
        assert "child" == report["slow"]
        assert report["slow_seconds"] < 5
        assert report["listening"]
        assert ("v1", True) == (report["k"], report["k_is_local"])
        assert "durable" == report["durable"]

        invalidated_at = time.time()
        cache.set("k", "v2")  # another process's write: the child must drop v1
        ours.send("go")
        seen = _recv(ours)
        assert "v2" == seen["k"]
        assert seen["seen_at"] - invalidated_at < 1.0
        assert "closed" == _recv(ours)
        child.join(10)
        assert 0 == child.exitcode

        assert parent_sessions <= _backends(admin, app), "a parent session ended"
        assert cache.listening
        assert "durable" == cache.get("d")
    finally:
        gate.set()
        if loader.is_alive():
            loader.join(10)
        cache.close()
        admin.close()


APP = """
import os

from flask import Flask

from hydracache_sync import HydraCache, RedisStore, TierTTLs

url, prefix = os.environ["HC_REDIS_URL"], os.environ["HC_PREFIX"]
cache = HydraCache(
    shared=RedisStore.from_url(url, prefix=prefix), promotion=TierTTLs(local=600)
)
cache.set("item", "v1")
app = Flask(__name__)


@app.get("/read")
def read():
    value = cache.get("item")
    return {
        "pid": os.getpid(),
        "value": value,
        "local": "item" in cache.local_store.entries,
        "listening": cache.listening,
    }


@app.post("/write/<value>")
def write(value):
    cache.set("item", value)
    return {"pid": os.getpid()}
"""


def _call(port: int, path: str, method: str = "GET") -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _fill_after_fork(cache: HydraCache, conn: Connection) -> None:
    """The forked child: write past the full local tier's budget, report."""
    try:
        for n in range(300):
            cache.set(f"child:{n}", "w" * 200)
        store = cache.local_store
        conn.send(("ok", len(store), store.size, sum(store.policy.queue_sizes())))
    except BaseException as exc:  # report it: the parent asserts
        conn.send(("error", repr(exc), 0, 0))


def test_forked_child_writes_into_a_full_local_tier() -> None:
    """A tier full in the parent is empty in the child, and evicts normally there."""
    cache = HydraCache.local(max_bytes=40_000)
    for n in range(300):
        cache.set(f"parent:{n}", "v" * 200)
    assert cache.stats().evictions > 0  # the parent's tier is full
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_fill_after_fork, args=(cache, child_end))
    child.start()
    assert parent_end.poll(30)
    outcome, entries, size, queued = parent_end.recv()
    child.join(10)
    assert "ok" == outcome, entries
    assert entries == queued  # the policy holds exactly the child's entries
    assert 0 < size <= 40_000
    assert 0 < entries < 300


def test_gunicorn_preload_workers_see_each_others_invalidations(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """Flask under gunicorn --preload, two workers: after a write in one worker,
    the other worker's next read is fresh (its inherited cache listens)."""
    (tmp_path / "lifecycle_app.py").write_text(textwrap.dedent(APP))
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        HC_REDIS_URL=redis_url,
        HC_PREFIX=redis_prefix,
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(tmp_path),
            "lifecycle_app:app",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Every worker must answer, listen and hold a local copy of v1.
        ready: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 20
        while len(ready) < 2 and time.monotonic() < deadline:
            try:
                answer = _call(port, "/read")
            except OSError:
                time.sleep(0.05)
                continue
            if answer["listening"] and answer["local"]:
                ready[answer["pid"]] = answer
        assert 2 == len(ready), (tmp_path / "gunicorn.log").read_text()
        assert {"v1"} == {answer["value"] for answer in ready.values()}

        writer = _call(port, "/write/v2", method="POST")["pid"]
        others: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while not others and time.monotonic() < deadline:
            answer = _call(port, "/read")
            assert "v2" == answer["value"], answer
            if answer["pid"] != writer:
                others.append(answer)
        assert 1 == len(others)
    finally:
        _stop(server)
        log.close()
