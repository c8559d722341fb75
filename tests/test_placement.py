"""Placement by cost, promotion with bounded TTLs, and envelopes between tiers.

Uses ``MemoryTier`` (an in-process RemoteTier) to test the core's policy; the
same behaviour against real Redis and Postgres lives in test_tiering_*.py.
"""

from __future__ import annotations

import pickle

import pytest

from hydracache_sync import (
    ConfigError,
    Cost,
    Expires,
    HydraCache,
    Tier,
    TierPlan,
    TierTTLs,
)
from hydracache_sync._envelope import F_NEGATIVE, pack
from hydracache_sync.testing import MemoryTier
from hydracache_sync.tiers.base import NativeNegative


@pytest.mark.parametrize(
    ("shared", "durable", "cost", "never", "expected"),
    [
        (False, False, Cost.CHEAP, False, Tier.LOCAL),
        (False, False, Cost.MODERATE, False, Tier.LOCAL),
        (False, False, Cost.EXPENSIVE, False, Tier.LOCAL),
        (False, False, Cost.MODERATE, True, Tier.LOCAL),
        (True, False, Cost.CHEAP, False, Tier.LOCAL),
        (True, False, Cost.MODERATE, False, Tier.SHARED),
        (True, False, Cost.EXPENSIVE, False, Tier.SHARED),
        (True, False, Cost.CHEAP, True, Tier.LOCAL),
        (False, True, Cost.MODERATE, False, Tier.LOCAL),
        (False, True, Cost.EXPENSIVE, False, Tier.DURABLE),
        (False, True, Cost.CHEAP, True, Tier.DURABLE),
        (True, True, Cost.CHEAP, False, Tier.LOCAL),
        (True, True, Cost.MODERATE, False, Tier.SHARED),
        (True, True, Cost.EXPENSIVE, False, Tier.DURABLE),
        (True, True, Cost.CHEAP, True, Tier.DURABLE),
    ],
)
def test_default_placement_table(
    shared: bool, durable: bool, cost: Cost, never: bool, expected: Tier
) -> None:
    """The default table, falling back to the nearest configured tier."""
    cache = HydraCache(
        shared=MemoryTier("s") if shared else None,
        durable=MemoryTier("d") if durable else None,
    )
    assert expected == cache.base_tier(cost, never=never)


def test_plan_overrides_and_is_validated() -> None:
    """A TierPlan overrides the table; naming a missing tier is a ConfigError."""
    cache = HydraCache(
        shared=MemoryTier(),
        plan=TierPlan(cheap="shared", moderate=Tier.LOCAL, expensive="shared"),
    )
    assert cache.base_tier(Cost.CHEAP) == Tier.SHARED
    assert cache.base_tier(Cost.MODERATE) == Tier.LOCAL
    with pytest.raises(ConfigError, match="durable"):
        HydraCache(shared=MemoryTier(), plan=TierPlan(expensive="durable"))
    with pytest.raises(ConfigError):
        TierPlan(cheap="memcached")


@pytest.mark.parametrize(
    ("shared", "durable", "plan", "expected"),
    [
        # Only the named cost moves; the others follow the default table.
        (
            True,
            False,
            TierPlan(cheap="shared"),
            (Tier.SHARED, Tier.SHARED, Tier.SHARED),
        ),
        (
            True,
            True,
            TierPlan(cheap="shared"),
            (Tier.SHARED, Tier.SHARED, Tier.DURABLE),
        ),
        (
            False,
            False,
            TierPlan(moderate="local"),
            (Tier.LOCAL, Tier.LOCAL, Tier.LOCAL),
        ),
        (
            False,
            True,
            TierPlan(cheap="durable"),
            (Tier.DURABLE, Tier.LOCAL, Tier.DURABLE),
        ),
        (True, True, TierPlan(), (Tier.LOCAL, Tier.SHARED, Tier.DURABLE)),
        (
            True,
            True,
            TierPlan(expensive=Tier.SHARED),
            (Tier.LOCAL, Tier.SHARED, Tier.SHARED),
        ),
    ],
)
def test_partial_plan_keeps_the_default_table_for_unnamed_costs(
    shared: bool,
    durable: bool,
    plan: TierPlan,
    expected: tuple[Tier, Tier, Tier],
) -> None:
    """Unnamed costs resolve with the default table and its fallbacks.

    Only the tiers a plan names must be configured: a partial plan on a
    local+shared cache never asks for the durable tier.
    """
    cache = HydraCache(
        shared=MemoryTier("s") if shared else None,
        durable=MemoryTier("d") if durable else None,
        plan=plan,
    )
    assert expected == tuple(cache.base_tier(cost) for cost in Cost)


def test_partial_plan_names_only_its_own_fields() -> None:
    """A partial plan keeps ``None`` for the costs it leaves to the table."""
    plan = TierPlan(cheap="shared")
    assert (Tier.SHARED, None, None) == (
        plan.tier_for(Cost.CHEAP),
        plan.tier_for(Cost.MODERATE),
        plan.tier_for(Cost.EXPENSIVE),
    )


def test_writes_go_to_base_with_bounded_copies_above() -> None:
    """EXPENSIVE writes durable with the full TTL; faster tiers get bounded copies."""
    shared, durable = MemoryTier("s"), MemoryTier("d")
    cache = HydraCache(
        shared=shared, durable=durable, promotion=TierTTLs(local=5, shared=50)
    )
    cache.set("k", {"v": 1}, ttl=1000, cost=Cost.EXPENSIVE)
    assert 999 < (durable.ttl_of("k") or 0) <= 1000
    assert 49 < (shared.ttl_of("k") or 0) <= 50
    entry = cache.local_store.entries["k"]
    assert 4 < entry.expires_at - cache.local_store.timer() <= 5
    cache.set("cheap", 1, ttl=1000, cost=Cost.CHEAP)
    assert ["k"] == shared.keys() == durable.keys()


def test_never_goes_durable_and_copies_stay_bounded() -> None:
    """Expires.NEVER lands in durable with no expiry; copies above are bounded."""
    shared, durable = MemoryTier("s"), MemoryTier("d")
    cache = HydraCache(shared=shared, durable=durable)
    cache.set("k", 1, ttl=Expires.NEVER, cost=Cost.CHEAP)
    assert durable.ttl_of("k") is None
    assert 299 < (shared.ttl_of("k") or 0) <= 300
    assert cache.local_store.entries["k"].expires_at < float("inf")


def test_remote_hit_is_promoted_with_bounded_ttl() -> None:
    """A durable hit is copied into shared and local, bounded; counters move."""
    shared, durable = MemoryTier("s"), MemoryTier("d")
    writer = HydraCache(shared=shared, durable=durable)
    writer.set("k", [1, 2], ttl=1000, cost=Cost.EXPENSIVE)
    shared.clear()
    reader = HydraCache(
        shared=shared, durable=durable, promotion=TierTTLs(local=2, shared=20)
    )
    assert reader.get("k") == [1, 2]
    assert 19 < (shared.ttl_of("k") or 0) <= 20
    assert reader.get("k") == [1, 2]
    stats = reader.stats()
    assert (
        stats.local_hits,
        stats.shared_hits,
        stats.durable_hits,
        stats.promotions,
    ) == (1, 0, 1, 2)


def test_promotion_never_outlives_the_entry() -> None:
    """A promoted copy lives min(remaining, tier bound)."""
    shared = MemoryTier()
    HydraCache(shared=shared).set("k", 1, ttl=3)
    reader = HydraCache(shared=shared, promotion=TierTTLs(local=60))
    assert reader.get("k") == 1
    remaining = reader.local_store.entries["k"].expires_at - reader.local_store.timer()
    assert remaining <= 3


def test_negative_entries_travel_between_tiers() -> None:
    """A cached None in the shared tier is a hit for another cache."""
    shared = MemoryTier()
    HydraCache(shared=shared).get_or_load("n", lambda: None, negative_ttl=60)
    runs = []
    reader = HydraCache(shared=shared)
    assert reader.get_or_load("n", lambda: runs.append(1)) is None
    assert runs == []
    assert reader.stats().shared_hits == 1


def test_compression_is_transparent() -> None:
    """compress=True gzips big payloads in remote tiers; reads are unchanged."""
    shared = MemoryTier()
    cache = HydraCache(shared=shared)
    text = "hello world " * 500
    cache.set("big", text, compress=True)
    cache.set("plain", text)
    stored_big = shared.get("big") or b""
    stored_plain = shared.get("plain") or b""
    assert len(stored_big) < len(stored_plain) / 5
    assert text == HydraCache(shared=shared).get("big")


class TestUntrustedBytes:
    def test_corrupt_and_foreign_bytes_are_a_counted_miss(self) -> None:
        """Garbage, truncation and bad versions decode to a miss + decode_errors."""
        shared = MemoryTier()
        cache = HydraCache(shared=shared)
        good = pack("k", b"\x01", flags=0, expires_at=None, tags=())
        for index, data in enumerate(
            [b"", b"garbage", good[:5], b"\xc8\x02" + good[2:], good[:-1] + b"\xff"]
        ):
            shared.set(f"k{index}", data, None, ())
        values = [cache.get(f"k{i}", "miss") for i in range(5)]
        assert ["miss"] * 5 == values
        assert 5 == cache.stats().decode_errors

    def test_pickle_payload_is_never_executed(self, tmp_path: object) -> None:
        """A pickle in the tier is foreign bytes: a miss, and no code runs."""
        import os

        marker = os.path.join(str(tmp_path), "pwned")

        class Exploit:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return (os.mkdir, (marker,))

        shared = MemoryTier()
        shared.set("k", pickle.dumps(Exploit()), None, ())
        cache = HydraCache(shared=shared)
        assert cache.get("k", "miss") == "miss"
        assert not os.path.exists(marker)
        assert cache.stats().decode_errors == 1

    def test_signed_envelopes(self) -> None:
        """With a secret, unsigned or wrongly signed entries are misses."""
        shared = MemoryTier()
        HydraCache(shared=shared).set("unsigned", 1)
        HydraCache(shared=shared, secret="other-0123456789abcdef").set("other", 1)
        ours = HydraCache(shared=shared, secret="s3cret-0123456789abcdef")
        ours.set("mine", 1)
        shared.set("moved", shared.get("mine") or b"", None, ())
        reader = HydraCache(shared=shared, secret="s3cret-0123456789abcdef")
        assert reader.get("mine") == 1
        assert [reader.get(k) for k in ("unsigned", "other", "moved")] == [
            None,
            None,
            None,
        ]
        assert reader.stats().decode_errors == 3

    def test_native_negative_only_from_a_trusted_tier(self) -> None:
        """A tier's negative flag is accepted from a trusted tier only."""
        untrusted, trusted = (
            MemoryTier("u", trusted=True),
            MemoryTier("t", trusted=True),
        )
        for tier in (untrusted, trusted):
            tier.set("n", b"", None, ["x"], True)
            assert NativeNegative(None, ("x",)) == tier.get("n")
        untrusted.trusted = False
        cache = HydraCache(shared=untrusted)
        assert cache.get("n", "miss") == "miss"
        assert 1 == cache.stats().decode_errors
        assert HydraCache(durable=trusted).get("n", "miss") is None

    def test_engine_passes_the_negative_flag(self) -> None:
        """A cached None goes to the tier with negative=True unless signed."""
        plain, signing = MemoryTier("p", trusted=True), MemoryTier("s", trusted=True)
        HydraCache(shared=plain).set("n", None)
        HydraCache(shared=signing, secret="s3cret-0123456789abcdef").set("n", None)
        assert isinstance(plain.get("n"), NativeNegative)
        assert isinstance(signing.get("n"), bytes)
        assert HydraCache(shared=plain).get("n", "miss") is None

    def test_expired_envelope_is_a_miss(self) -> None:
        """An envelope past its own deadline is not served even if the tier kept it."""
        shared = MemoryTier()
        shared.set(
            "k", pack("k", b"", flags=F_NEGATIVE, expires_at=1.0, tags=()), None, ()
        )
        assert HydraCache(shared=shared).get("k", "miss") == "miss"
