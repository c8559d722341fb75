"""Prometheus metrics: exact values in the text exposition after known operations."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest

from hydracache_sync import CacheStats, HydraCache, MissingDependencyError
from hydracache_sync.errors import ConfigError
from hydracache_sync.metrics import HydraCacheCollector, register


def scrape(registry: CollectorRegistry) -> dict[str, float]:
    """Return ``{"name{labels}": value}`` for every sample of a scrape."""
    samples: dict[str, float] = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


@pytest.fixture
def registry() -> CollectorRegistry:
    """A private registry (the global one is left alone)."""
    return CollectorRegistry()


class TestCollector:
    """The collector reports ``stats()`` and the local tier at every scrape."""

    def test_exact_values(self, registry: CollectorRegistry) -> None:
        """Counters, hit ratio and local gauges after known operations."""
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
            "hydracache_hits_total": 2.0,
            "hydracache_local_hits_total": 2.0,
            "hydracache_shared_hits_total": 0.0,
            "hydracache_misses_total": 2.0,
            "hydracache_loads_total": 1.0,
            "hydracache_invalidations_total": 1.0,
            "hydracache_hit_ratio": 0.5,
            "hydracache_local_entries": 2.0,
            "hydracache_local_bytes": float(expected_bytes),
            "hydracache_local_max_bytes": float(1 << 20),
        } == {
            name: samples[name]
            for name in [
                "hydracache_hits_total",
                "hydracache_local_hits_total",
                "hydracache_shared_hits_total",
                "hydracache_misses_total",
                "hydracache_loads_total",
                "hydracache_invalidations_total",
                "hydracache_hit_ratio",
                "hydracache_local_entries",
                "hydracache_local_bytes",
                "hydracache_local_max_bytes",
            ]
        }

    def test_every_counter_is_exported(self, registry: CollectorRegistry) -> None:
        """Each CacheStats counter is a ``<name>_<field>_total`` counter."""
        cache = HydraCache.local()
        register(cache, registry)
        text = generate_latest(registry).decode()
        for field in dataclasses.fields(CacheStats):
            if field.name == "hit_ratio":
                assert "# TYPE hydracache_hit_ratio gauge" in text
            elif field.name == "tier_latency":
                assert "# TYPE hydracache_tier_seconds summary" in text
            else:
                assert f"# TYPE hydracache_{field.name}_total counter" in text
                assert f"\nhydracache_{field.name}_total 0.0\n" in text

    def test_tier_latency(self, registry: CollectorRegistry) -> None:
        """Calls to a remote tier appear as a summary and an error counter."""
        from hydracache_sync.testing import MemoryTier

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
        get = '{op="get",tier="shared:memory"}'
        assert 3.0 == samples[f"hydracache_tier_seconds_count{get}"]
        assert samples[f"hydracache_tier_seconds_sum{get}"] > 0
        assert 1.0 == samples[f"hydracache_tier_call_errors_total{get}"]
        put = '{op="set",tier="shared:memory"}'
        assert 1.0 == samples[f"hydracache_tier_seconds_count{put}"]

    def test_values_follow_the_cache(self, registry: CollectorRegistry) -> None:
        """Each scrape takes a fresh snapshot."""
        cache = HydraCache.local()
        register(cache, registry)
        assert 0.0 == scrape(registry)["hydracache_misses_total"]
        cache.get("x")
        assert 1.0 == scrape(registry)["hydracache_misses_total"]
        assert 0.0 == scrape(registry)["hydracache_hit_ratio"]

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
        [("bad-name", None), ("ok", {"bad-label": "x"}), ("ok", {"__x": "y"})],
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
            assert REGISTRY.get_sample_value("hctest_default_hits_total") == 0.0
        finally:
            REGISTRY.unregister(collector)


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
