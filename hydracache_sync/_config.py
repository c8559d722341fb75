"""HydraCache's constructor options, checked and normalised in one place."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from ._codec import CborCodec, Codec
from ._framing import check_secret
from ._options import TTL, resolve_ttl
from ._placement import TierTTLs
from ._units import parse_seconds, parse_size
from .errors import ConfigError
from .tiers.local import LocalStore

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """The scalar constructor options of one cache, validated (internal).

    Tiers are checked where they are wired up (``_remotes.make_remotes`` and
    ``_placement.validate_plan``); everything else is checked here.
    """

    local: LocalStore
    strict: bool  # on_tier_error="raise"
    codec: Codec
    secret: bytes | None
    compress: bool
    compress_level: int
    cooldown: float  # breaker_cooldown, seconds
    warn_interval: float
    ttls: TierTTLs
    default_ttl: float | None
    stale_while_revalidate: float
    early_refresh: float | None
    refresh_workers: int
    broadcast: bool
    lock: bool  # lock="redis" by default
    lock_lease: float
    lock_wait: float
    max_decompressed: int  # bytes a compressed remote entry may inflate to
    clock: Callable[[], float]  # wall clock of remote expiry (Unix seconds)

    @classmethod
    def check(
        cls,
        *,
        local: object,
        on_tier_error: str,
        codec: Codec | None,
        secret: bytes | str | None,
        compress: bool,
        compress_level: int,
        breaker_cooldown: float,
        warn_interval: float,
        promotion: TierTTLs | None,
        default_ttl: TTL,
        stale_while_revalidate: float | timedelta | None,
        early_refresh: float | None,
        refresh_workers: int,
        broadcast: bool,
        lock: str | None,
        lock_lease: float,
        lock_wait: float | None,
        max_decompressed: int | str | None,
        clock: Callable[[], float] | None,
    ) -> Settings:
        """Return the validated settings.

        Raises:
            ConfigError: An option is invalid.
        """
        if on_tier_error not in ("degrade", "raise"):
            raise ConfigError(
                f"on_tier_error={on_tier_error!r}: use 'degrade' or 'raise'"
            )
        if not 0 <= compress_level <= 9:
            raise ConfigError(f"compress_level must be 0-9, not {compress_level}")
        if local is not None and not isinstance(local, LocalStore):
            raise ConfigError(f"local must be a LocalStore, not {local!r}")
        if refresh_workers < 1:
            raise ConfigError("refresh_workers must be at least 1")
        if clock is not None and not callable(clock):
            raise ConfigError(f"clock must be callable, not {clock!r}")
        if lock not in (None, "redis"):
            raise ConfigError(f"lock={lock!r}: use None or 'redis'")
        lease = parse_seconds(lock_lease, name="lock_lease")
        store = local if local is not None else LocalStore()
        return cls(
            local=store,
            strict=on_tier_error == "raise",
            codec=codec if codec is not None else CborCodec(),
            secret=check_secret(secret),
            compress=compress,
            compress_level=compress_level,
            cooldown=parse_seconds(breaker_cooldown, name="breaker_cooldown"),
            warn_interval=warn_interval,
            ttls=promotion if promotion is not None else TierTTLs(),
            default_ttl=resolve_ttl(default_ttl, None),
            stale_while_revalidate=parse_seconds(
                stale_while_revalidate or 0.0, name="stale_while_revalidate"
            ),
            early_refresh=early_refresh,
            refresh_workers=refresh_workers,
            broadcast=broadcast,
            lock=lock == "redis",
            lock_lease=lease,
            lock_wait=lease + 1.0
            if lock_wait is None
            else parse_seconds(lock_wait, name="lock_wait"),
            max_decompressed=store.max_entry_size
            if max_decompressed is None
            else parse_size(max_decompressed, name="max_decompressed"),
            clock=time.time if clock is None else clock,
        )
