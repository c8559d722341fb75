"""Which tier holds an entry: cost classes, tier plans and promotion TTLs; no I/O."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ._units import parse_seconds
from .errors import ConfigError

__all__ = [
    "Cost",
    "Tier",
    "TierPlan",
    "TierTTLs",
    "base_positions",
    "resolve_base",
    "validate_plan",
]


class Tier(str, enum.Enum):
    """A tier's role; the strings ``"local"``, ``"shared"``, ``"durable"`` work too."""

    LOCAL = "local"
    SHARED = "shared"
    DURABLE = "durable"


class Cost(enum.Enum):
    """How expensive a value is to recompute; decides its base tier."""

    CHEAP = "cheap"
    MODERATE = "moderate"
    EXPENSIVE = "expensive"


def _tier(value: Tier | str, field: str) -> Tier:
    try:
        return Tier(value)
    except ValueError:
        raise ConfigError(
            f"TierPlan.{field}={value!r}: use 'local', 'shared' or 'durable'"
        ) from None


@dataclass(frozen=True, slots=True)
class TierPlan:
    """Map cost classes to base tiers, overriding the default table.

    A cost class the plan does not name follows the default table with its
    fallbacks (``TierPlan(cheap="shared")`` changes only cheap entries), so
    only the tiers a plan names must be configured.
    """

    cheap: Tier | str | None = None
    moderate: Tier | str | None = None
    expensive: Tier | str | None = None

    def __post_init__(self) -> None:
        for field in ("cheap", "moderate", "expensive"):
            value = getattr(self, field)
            if value is not None:
                object.__setattr__(self, field, _tier(value, field))

    def tier_for(self, cost: Cost) -> Tier | None:
        """Return the base tier planned for ``cost`` (``None``: not named)."""
        value = getattr(self, cost.value)
        return None if value is None else Tier(value)


@dataclass(frozen=True, slots=True)
class TierTTLs:
    """Upper bounds (seconds) for copies placed in faster tiers."""

    local: float = 60.0
    shared: float = 300.0

    def __post_init__(self) -> None:
        for field in ("local", "shared"):
            seconds = parse_seconds(getattr(self, field), name=f"TierTTLs.{field}")
            object.__setattr__(self, field, seconds)

    def bound(self, tier: Tier) -> float | None:
        """Return the copy bound for ``tier`` (``None`` for the durable tier)."""
        if tier is Tier.LOCAL:
            return self.local
        if tier is Tier.SHARED:
            return self.shared
        return None


def resolve_base(
    cost: Cost, never: bool, plan: TierPlan | None, configured: frozenset[Tier]
) -> Tier:
    """Return the base tier for an entry.

    Args:
        cost: The entry's cost class.
        never: Whether it never expires (``Expires.NEVER``): durable when present.
        plan: An explicit plan (validated at construction) or ``None``. The
            default table, used for every cost the plan does not name, falls
            back to the nearest configured tier.
        configured: The tiers this cache has (always including local).
    """
    if never and Tier.DURABLE in configured:
        return Tier.DURABLE
    planned = None if plan is None else plan.tier_for(cost)
    if planned is not None:
        return planned
    if cost is Cost.CHEAP:
        return Tier.LOCAL
    if cost is Cost.EXPENSIVE and Tier.DURABLE in configured:
        return Tier.DURABLE
    return Tier.SHARED if Tier.SHARED in configured else Tier.LOCAL


def validate_plan(plan: TierPlan, configured: frozenset[Tier]) -> None:
    """Raise ConfigError when ``plan`` names a tier this cache does not have."""
    for cost in Cost:
        tier = plan.tier_for(cost)
        if tier is not None and tier not in configured:
            raise ConfigError(
                f"TierPlan sends {cost.name} entries to the {tier.value!r} tier, "
                "which this cache does not configure"
            )


def base_positions(
    plan: TierPlan | None, remote_roles: Sequence[Tier]
) -> dict[tuple[Cost, bool], int]:
    """Return the base tier's position (0: local) for every (cost, never) pair.

    Args:
        plan: An explicit plan or ``None`` for the default table.
        remote_roles: The configured remote tiers, fastest first.

    Raises:
        ConfigError: ``plan`` names a tier that is not configured.
    """
    configured = frozenset([Tier.LOCAL, *remote_roles])
    if plan is not None:
        validate_plan(plan, configured)
    positions = {Tier.LOCAL: 0, **{role: i for i, role in enumerate(remote_roles, 1)}}
    return {
        (cost, never): positions[resolve_base(cost, never, plan, configured)]
        for cost in Cost
        for never in (False, True)
    }
