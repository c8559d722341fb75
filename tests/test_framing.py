"""Framing: the secret's rules and bounded, counted decoding of hostile bytes."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest

from hydracache_sync import ConfigError, HydraCache
from hydracache_sync._envelope import F_GZIP, pack
from hydracache_sync._framing import MIN_SECRET, check_secret
from hydracache_sync.testing import MemoryTier
from hydracache_sync.tiers.local import LocalStore


@pytest.mark.parametrize("secret", ["", b"", "short", b"x" * (MIN_SECRET - 1)])
def test_empty_or_short_secret_is_a_config_error(secret: str | bytes) -> None:
    """A secret under 16 bytes (the empty one included) is refused."""
    with pytest.raises(ConfigError, match="too short"):
        HydraCache(shared=MemoryTier(), secret=secret)


def test_secret_types() -> None:
    """str is taken as UTF-8, bytes as is; anything else is a ConfigError."""
    assert b"\xc3\xa9" * 8 == check_secret("\u00e9" * 8)
    assert b"k" * 16 == check_secret(b"k" * 16)
    assert check_secret(None) is None
    with pytest.raises(ConfigError):
        check_secret(1234567890123456)


def test_gzip_bomb_is_a_counted_miss_with_bounded_memory() -> None:
    """A 1 KB envelope inflating to 100 MB costs at most ~3x max_entry_size of
    memory, is a miss and counts one decode error."""
    shared = MemoryTier()
    bomb = gzip.compress(b"\0" * 100_000_000, compresslevel=9)
    shared.set("k", pack("k", bomb, flags=F_GZIP, expires_at=None, tags=()), None, ())
    cache = HydraCache(LocalStore("8MB", "1MB"), shared=shared)
    tracemalloc.start()
    try:
        assert "miss" == cache.get("k", "miss")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 1_048_576, peak
    assert 1 == cache.stats().decode_errors


def test_explicit_max_decompressed() -> None:
    """max_decompressed overrides the bound: 2 MB inflates, 1 MB does not."""
    shared = MemoryTier()
    value = "x" * 1_500_000
    HydraCache(shared=shared, compress=True, max_decompressed="4MB").set("k", value)
    small = HydraCache(shared=shared, max_decompressed="1MB")
    assert "miss" == small.get("k", "miss")
    assert 1 == small.stats().decode_errors
    assert value == HydraCache(shared=shared, max_decompressed="2MB").get("k")


def test_body_over_the_bound_is_stored_plain() -> None:
    """A writer never compresses what readers with its bound could not inflate."""
    shared = MemoryTier()
    value = "y" * 2_000_000  # over the default 1 MB max_entry_size
    HydraCache(shared=shared, compress=True).set("k", value)
    data = shared.get("k")
    assert data is not None
    assert 0 == data[2] & F_GZIP
    assert value == HydraCache(shared=shared).get("k")


def test_hostile_body_in_the_common_form_is_a_counted_miss() -> None:
    """A well-framed unsigned envelope around foreign bytes (a pickle, trailing
    bytes, truncated CBOR) is a miss counting one decode error each; an expired
    one is a plain miss."""
    shared = MemoryTier()
    bodies = [b"\x80\x04\x95\x05\x00K\x01.", b"\x01\x01", b"\x82\x01", b""]
    for index, body in enumerate(bodies):
        shared.set(
            f"k{index}",
            pack(f"k{index}", body, flags=0, expires_at=None, tags=()),
            None,
            (),
        )
    shared.set("old", pack("old", b"\x01", flags=0, expires_at=1.0, tags=()), None, ())
    cache = HydraCache(shared=shared)
    assert ["miss"] * 5 == [
        cache.get(key, "miss") for key in ("k0", "k1", "k2", "k3", "old")
    ]
    assert len(bodies) == cache.stats().decode_errors
