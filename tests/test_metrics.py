"""Prometheus metrics: exact values in the text exposition after known operations,
in one process, across forked processes and under a real 2-worker gunicorn.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest

from hydracache_sync import HydraCache, MissingDependencyError
from hydracache_sync._stats import COUNTERS
from hydracache_sync.errors import ConfigError
from hydracache_sync.metrics import HydraCacheCollector, register
from hydracache_sync.testing import MemoryTier

ROOT = Path(__file__).resolve().parent.parent


def parse(text: str) -> dict[str, float]:
    """Return ``{"name{labels}": value}`` for every sample of an exposition."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def scrape(registry: CollectorRegistry) -> dict[str, float]:
    """Return ``{"name{labels}": value}`` for every sample of a scrape."""
    return parse(generate_latest(registry).decode())


@pytest.fixture
def registry() -> CollectorRegistry:
    """A private registry (the global one is left alone)."""
    return CollectorRegistry()


class TestCollector:
    """The collector reports ``stats()`` and the local tier at every scrape."""

    def test_exact_values(self, registry: CollectorRegistry) -> None:
        """Counters, per-tier hits and local gauges after known operations."""
        cache = HydraCache.local(max_bytes="1MB")
        register(cache, registry)
        cache.set("a", "x" * 10)
        cache.set("b", 2, tags=["t"])
        cache.get("a")
        cache.get("a")
        cache.get("missing")
        cache.get_or_load("c", lambda: 3)
        cache.invalidate_tag("t")
        samples = scrape(registry)
        expected_bytes = cache.local_store.size
        assert 0 < expected_bytes
        assert {
            'hydracache_hits_total{tier="local"}': 2.0,
            'hydracache_hits_total{tier="shared"}': 0.0,
            'hydracache_hits_total{tier="durable"}': 0.0,
            "hydracache_misses_total": 2.0,
            "hydracache_loads_total": 1.0,
            "hydracache_load_seconds_count": 1.0,
            "hydracache_invalidations_total": 1.0,
            "hydracache_local_entries": 2.0,
            "hydracache_local_bytes": float(expected_bytes),
            "hydracache_local_max_bytes": float(1 << 20),
        } == {
            name: samples[name]
            for name in [
                'hydracache_hits_total{tier="local"}',
                'hydracache_hits_total{tier="shared"}',
                'hydracache_hits_total{tier="durable"}',
                "hydracache_misses_total",
                "hydracache_loads_total",
                "hydracache_load_seconds_count",
                "hydracache_invalidations_total",
                "hydracache_local_entries",
                "hydracache_local_bytes",
                "hydracache_local_max_bytes",
            ]
        }

    def test_every_counter_is_exported_with_its_help(
        self, registry: CollectorRegistry
    ) -> None:
        """Each counter of ``_stats.COUNTERS`` is exported with its description;
        the per-tier hits are one counter with a ``tier`` label."""
        register(HydraCache.local(), registry)
        text = generate_latest(registry).decode()
        for name, description in COUNTERS:
            if name.endswith("_hits") and name != "stale_hits":
                tier = name.removesuffix("_hits")
                assert f'\nhydracache_hits_total{{tier="{tier}"}} 0.0\n' in text
                assert f"hydracache_{name}_total" not in text
                continue
            assert f"# HELP hydracache_{name}_total {description}\n" in text
            assert f"# TYPE hydracache_{name}_total counter" in text
            assert f"\nhydracache_{name}_total 0.0\n" in text

    def test_every_metric_has_help_and_no_ratio_gauge(
        self, registry: CollectorRegistry
    ) -> None:
        """Every family has a real HELP line; no lifetime hit ratio is exported."""
        register(HydraCache(shared=MemoryTier()), registry)
        text = generate_latest(registry).decode()
        helps = re.findall(r"^# HELP (\S+) (.*)$", text, flags=re.MULTILINE)
        types = re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE)
        assert sorted(types) == sorted(name for name, _ in helps)
        assert [] == [name for name, help_text in helps if len(help_text) < 20]
        assert "hit_ratio" not in text

    def test_tier_latency_histogram(self, registry: CollectorRegistry) -> None:
        """Calls to a remote tier: a histogram and an error counter per operation."""
        tier = MemoryTier()
        cache = HydraCache(shared=tier, breaker_cooldown=0)
        register(cache, registry)
        cache.set("a", 1)
        cache.local_store.clear()
        cache.get("a")
        cache.get("b")
        tier.down = True
        cache.get("c")
        samples = scrape(registry)
        get = 'op="get",store="memory",tier="shared"'
        assert 3.0 == samples[f"hydracache_tier_seconds_count{{{get}}}"]
        assert 3.0 == samples[f'hydracache_tier_seconds_bucket{{le="+Inf",{get}}}']
        assert samples[f"hydracache_tier_seconds_sum{{{get}}}"] > 0
        assert 1.0 == samples[f"hydracache_tier_call_errors_total{{{get}}}"]
        put = 'op="set",store="memory",tier="shared"'
        assert 1.0 == samples[f"hydracache_tier_seconds_count{{{put}}}"]
        bounds = [
            float(m)
            for m in re.findall(
                r'hydracache_tier_seconds_bucket\{le="([0-9.e+-]+)",' + get,
                "\n".join(samples),
            )
        ]
        assert bounds == sorted(bounds)
        counts = [
            samples[f'hydracache_tier_seconds_bucket{{le="{b!r}",{get}}}']
            for b in bounds
        ]
        assert counts == sorted(counts)  # cumulative

    def test_load_latency_histogram(self, registry: CollectorRegistry) -> None:
        """A loader that sleeps 30 ms lands above the 25 ms bucket."""
        cache = HydraCache.local()
        register(cache, registry)
        cache.get_or_load("slow", lambda: time.sleep(0.03) or 1)
        samples = scrape(registry)
        assert 0.0 == samples['hydracache_load_seconds_bucket{le="0.025"}']
        assert 1.0 == samples['hydracache_load_seconds_bucket{le="+Inf"}']
        assert 1.0 == samples["hydracache_load_seconds_count"]
        assert samples["hydracache_load_seconds_sum"] >= 0.03

    def test_breaker_state_gauge(self, registry: CollectorRegistry) -> None:
        """0 while the tier works, 2 once a failure opens the breaker."""
        tier = MemoryTier()
        cache = HydraCache(shared=tier, breaker_cooldown=300)
        register(cache, registry)
        assert 0.0 == scrape(registry)['hydracache_breaker_state{tier="shared"}']
        assert {"shared": "closed"} == cache.breaker_states()
        tier.down = True
        cache.get("k")
        assert 2.0 == scrape(registry)['hydracache_breaker_state{tier="shared"}']
        assert {"shared": "open"} == cache.breaker_states()

    def test_no_listener_gauge_without_broadcast(
        self, registry: CollectorRegistry
    ) -> None:
        """A memory-only cache has no listener: no sample (no false alarm)."""
        cache = HydraCache.local()
        register(cache, registry)
        assert False is cache.broadcasting
        assert [] == [k for k in scrape(registry) if "listener_up" in k]

    @pytest.mark.redis
    def test_listener_gauge(
        self, registry: CollectorRegistry, redis_url: str, redis_prefix: str
    ) -> None:
        """A cache with a Redis tier reports 1 while its listener is subscribed."""
        from hydracache_sync import RedisStore

        with HydraCache(
            shared=RedisStore.from_url(redis_url, prefix=redis_prefix)
        ) as cache:
            register(cache, registry)
            deadline = time.monotonic() + 10
            while not cache.listening:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert True is cache.broadcasting
            assert 1.0 == scrape(registry)["hydracache_listener_up"]

    def test_values_follow_the_cache(self, registry: CollectorRegistry) -> None:
        """Each scrape takes a fresh snapshot."""
        cache = HydraCache.local()
        register(cache, registry)
        assert 0.0 == scrape(registry)["hydracache_misses_total"]
        cache.get("x")
        assert 1.0 == scrape(registry)["hydracache_misses_total"]

    def test_name_and_labels(self, registry: CollectorRegistry) -> None:
        """Two caches in one registry, told apart by a constant label."""
        users, pages = HydraCache.local(), HydraCache.local()
        collector = register(
            users, registry, name="app_cache", labels={"cache": "users"}
        )
        collector.add(pages, {"cache": "pages"})
        users.get("nope")
        samples = scrape(registry)
        assert 1.0 == samples['app_cache_misses_total{cache="users"}']
        assert 0.0 == samples['app_cache_misses_total{cache="pages"}']
        assert 0.0 == samples['app_cache_hits_total{cache="pages",tier="local"}']

    def test_add_checks_labels(self) -> None:
        """Added caches need the same label names and distinct values."""
        collector = HydraCacheCollector(HydraCache.local(), labels={"cache": "a"})
        with pytest.raises(ConfigError, match="differ"):
            collector.add(HydraCache.local(), {"name": "b"})
        with pytest.raises(ConfigError, match="already"):
            collector.add(HydraCache.local(), {"cache": "a"})

    def test_duplicate_registration_rejected(self, registry: CollectorRegistry) -> None:
        """The registry refuses a second collector with the same names."""
        cache = HydraCache.local()
        register(cache, registry)
        with pytest.raises(ValueError, match="Duplicated"):
            register(cache, registry)

    def test_unregister(self, registry: CollectorRegistry) -> None:
        """``register`` returns the collector, which can be unregistered."""
        collector = register(HydraCache.local(), registry)
        assert isinstance(collector, HydraCacheCollector)
        registry.unregister(collector)
        assert {} == scrape(registry)

    @pytest.mark.parametrize(
        ("name", "labels"),
        [
            ("bad-name", None),
            ("ok", {"bad-label": "x"}),
            ("ok", {"__x": "y"}),
            ("ok", {"tier": "x"}),  # reserved: the collector's own label
        ],
    )
    def test_invalid_names(self, name: str, labels: dict[str, str] | None) -> None:
        """Invalid metric or label names raise ConfigError at construction."""
        with pytest.raises(ConfigError):
            HydraCacheCollector(HydraCache.local(), name=name, labels=labels)

    def test_default_registry(self) -> None:
        """Without ``registry`` the collector goes to prometheus_client.REGISTRY."""
        from prometheus_client import REGISTRY

        collector = register(HydraCache.local(), name="hctest_default")
        try:
            value = REGISTRY.get_sample_value(
                "hctest_default_hits_total", {"tier": "local"}
            )
            assert 0.0 == value
        finally:
            REGISTRY.unregister(collector)


def _child_work(directory: str, loads: int) -> None:
    """In a forked child: ``loads`` loads on the inherited cache, one write."""
    cache = _INHERITED["cache"]
    for i in range(loads):
        cache.get_or_load(f"child:{i}", lambda: 1)
    list(_INHERITED["collector"].collect())  # a scrape writes this process's file


_INHERITED: dict[str, Any] = {}


class TestMultiprocess:
    """With a shared directory, a scrape sums every process's numbers."""

    def test_bad_directory(self, tmp_path: Path) -> None:
        """A directory that does not exist is a ConfigError."""
        with pytest.raises(ConfigError, match="not a directory"):
            HydraCacheCollector(HydraCache.local(), multiprocess_dir=tmp_path / "no")

    def test_environment_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``PROMETHEUS_MULTIPROC_DIR`` turns it on, as for prometheus_client."""
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        collector = HydraCacheCollector(HydraCache.local())
        try:
            assert tmp_path == collector.multiprocess_dir
        finally:
            collector.close()

    def test_foreign_files_are_ignored(
        self, tmp_path: Path, registry: CollectorRegistry
    ) -> None:
        """Files of another shape (another version, other label names) in the
        directory do not break the scrape and are not counted."""
        cache = HydraCache.local()
        collector = register(cache, registry, multiprocess_dir=tmp_path, interval=60)
        try:
            cache.get("x")
            foreign = [
                {"labels": ["other"], "counters": {"misses": 5}},
                {"labels": [], "counters": "broken"},
                "not a dict",
            ]
            (tmp_path / "hydracache_hydracache_1.json").write_text(
                json.dumps({"pid": 1, "caches": foreign})
            )
            assert 1.0 == scrape(registry)["hydracache_misses_total"]
        finally:
            collector.close()

    def test_single_process_mode_keeps_counts_after_fork(
        self, registry: CollectorRegistry
    ) -> None:
        """Without a directory a forked child reports its cache's full counts."""
        cache = HydraCache.local()
        register(cache, registry)
        cache.get("before-fork")
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one more miss, then report what it scrapes
            try:
                cache.get("after-fork")
                value = scrape(registry)["hydracache_misses_total"]
                os.write(writer, str(value).encode())
            finally:
                os._exit(0)
        os.close(writer)
        with os.fdopen(reader) as pipe:
            reported = pipe.read()
        os.waitpid(pid, 0)
        assert "2.0" == reported

    def test_forked_children_add_only_their_own_counts(
        self, tmp_path: Path, registry: CollectorRegistry
    ) -> None:
        """A parent with 3 loads forks two children making 1 and 2 loads, which
        then exit: the scrape says 6 loads (not 3 + 3 + 3 + 1 + 2), and the dead
        children's local entries are not in the gauges."""
        cache = HydraCache.local()
        collector = register(cache, registry, multiprocess_dir=tmp_path, interval=60)
        try:
            for i in range(3):
                cache.get_or_load(f"parent:{i}", lambda: 1)
            _INHERITED.update(cache=cache, collector=collector)
            context = multiprocessing.get_context("fork")
            for loads in (1, 2):
                child = context.Process(target=_child_work, args=(str(tmp_path), loads))
                child.start()
                child.join(60)
                assert 0 == child.exitcode
            samples = scrape(registry)
            assert 6.0 == samples["hydracache_loads_total"]
            assert 6.0 == samples["hydracache_misses_total"]
            assert 6.0 == samples["hydracache_load_seconds_count"]
            assert 3.0 == samples["hydracache_local_entries"]  # the live parent's
            assert 3 == len(list(tmp_path.glob("hydracache_hydracache_*.json")))
        finally:
            _INHERITED.clear()
            collector.close()


GUNICORN_APP = """
import os

from prometheus_client import REGISTRY, generate_latest

from hydracache_sync import HydraCache
from hydracache_sync.metrics import register

cache = HydraCache.local()
register(cache, interval=0.2)  # PROMETHEUS_MULTIPROC_DIR: set by the test


def app(environ, start_response):
    if environ["PATH_INFO"] == "/metrics":
        body = generate_latest(REGISTRY)
    else:
        cache.get("absent")  # one miss per request
        cache.get_or_load("k", lambda: 1)  # per worker: one miss + load, then hits
        body = b""
    headers = [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))]
    start_response("200 OK", headers)
    return [body]
"""


@pytest.fixture(params=[False, True], ids=["no-preload", "preload"])
def gunicorn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A real gunicorn with 2 sync workers serving GUNICORN_APP; its base URL."""
    pytest.importorskip("gunicorn")
    (tmp_path / "app.py").write_text(GUNICORN_APP, encoding="utf-8")
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]),
    }
    argv = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind"]
    argv += [f"127.0.0.1:{port}", "--chdir", str(tmp_path), "--timeout", "60"]
    if request.param:
        argv.append("--preload")
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as errors:
        server = subprocess.Popen(
            [*argv, "app:app"], env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(f"{url}/metrics")
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def get(url: str) -> tuple[str, str]:
    """GET ``url`` on a new connection; return (the X-Pid header, the body)."""
    request = urllib.request.Request(url, headers={"Connection": "close"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.headers["X-Pid"], response.read().decode()


def test_a_scrape_of_two_gunicorn_workers_sums_both(gunicorn: str) -> None:
    """Requests spread over both workers; every scrape, whichever worker
    answers it, returns both workers' counters summed."""
    served: list[str] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len(set(served)) < 2:
            assert len(served) < 2000, "one worker took every request"
            served += [pid for pid, _ in pool.map(get, [f"{gunicorn}/w"] * 20)]
    workers = len(set(served))
    requests = len(served)
    expected = {
        "hydracache_misses_total": float(requests + workers),
        "hydracache_loads_total": float(workers),
        'hydracache_hits_total{tier="local"}': float(requests - workers),
        "hydracache_local_entries": float(workers),
    }

    def summed(text: str) -> dict[str, float]:
        samples = parse(text)
        return {name: samples[name] for name in expected}

    deadline = time.monotonic() + 30  # each worker writes every 0.2 s
    while summed(get(f"{gunicorn}/metrics")[1]) != expected:
        assert time.monotonic() < deadline, summed(get(f"{gunicorn}/metrics")[1])
        time.sleep(0.1)
    answered: dict[str, dict[str, float]] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(100):  # until both workers have answered a scrape
            for pid, text in pool.map(get, [f"{gunicorn}/metrics"] * 8):
                answered[pid] = summed(text)
            if len(answered) == 2:
                break
    assert {pid: expected for pid in answered} == answered


class TestGrafanaDashboard:
    """docs/grafana-dashboard.json charts what the collector exports."""

    DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"

    def test_queries_use_exported_metrics(self, registry: CollectorRegistry) -> None:
        """Every metric a panel queries is one the collector exports."""
        register(HydraCache(shared=MemoryTier()), registry)
        text = generate_latest(registry).decode()
        exported = set(re.findall(r"^# HELP (\S+) ", text, flags=re.MULTILINE))
        dashboard = json.loads(self.DASHBOARD.read_text(encoding="utf-8"))
        queried = {
            re.sub(r"_(bucket|count|sum)$", "", name)
            for panel in dashboard["panels"]
            for target in panel["targets"]
            for name in re.findall(r"hydracache_\w+", target["expr"])
        }
        assert set() == queried - exported
        assert 10 <= len(queried)

    def test_panels_the_issue_asks_for(self) -> None:
        """Hit ratio per tier, load latency, tier errors, breaker, listener."""
        dashboard = json.loads(self.DASHBOARD.read_text(encoding="utf-8"))
        titles = {panel["title"] for panel in dashboard["panels"]}
        assert {
            "Hit ratio per tier",
            "Load latency",
            "Tier errors",
            "Breaker state",
            "Invalidation listener",
        } <= titles


class TestMissingDependency:
    """Without prometheus_client the error names the extra."""

    def test_constructor_raises(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """MissingDependencyError (an ImportError) mentioning the extra."""
        monkeypatch.setitem(sys.modules, "prometheus_client", None)
        monkeypatch.setitem(sys.modules, "prometheus_client.core", None)
        with pytest.raises(
            MissingDependencyError, match=r"hydracache_sync\[prometheus\]"
        ):
            HydraCacheCollector(HydraCache.local())

    def test_module_import_is_lazy(self) -> None:
        """Importing hydracache_sync.metrics does not import prometheus_client."""
        code = (
            "import sys, hydracache_sync.metrics; "
            "print('prometheus_client' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert "False\n" == out
