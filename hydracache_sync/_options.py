"""Per-call options: expiry (``Expires``) and the immutable ``CacheOptions``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

from ._keys import MAX_TAGS, check_tag
from ._placement import Cost
from ._types import UNSET, Unset
from ._units import parse_seconds
from .errors import ConfigError, InvalidKey

__all__ = [
    "TTL",
    "CacheOptions",
    "Defaults",
    "Expires",
    "OptionResolver",
    "Resolved",
    "resolve_ttl",
]


class Expires:
    """An expiry: ``Expires.after(minutes=5)``, ``Expires.NEVER`` or ``.DEFAULT``."""

    __slots__ = ("_seconds",)
    NEVER: ClassVar[Expires]
    DEFAULT: ClassVar[Expires]

    def __init__(self, seconds: float | Unset | None) -> None:
        self._seconds = seconds

    @classmethod
    def after(
        cls,
        seconds: float | timedelta = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> Expires:
        """Expire after a duration given in seconds/minutes/... or a timedelta."""
        base = parse_seconds(seconds, name="seconds")
        total = base + 60 * minutes + 3600 * hours + 86400 * days
        if total <= 0 or math.isnan(total):
            raise ConfigError("Expires.after() needs a positive duration")
        return cls(total)

    @property
    def seconds(self) -> float | Unset | None:
        """The duration in seconds; ``None`` for never, ``UNSET`` for default."""
        return self._seconds

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expires) and other._seconds == self._seconds

    def __hash__(self) -> int:
        return hash(self._seconds)

    def __repr__(self) -> str:
        if self is Expires.NEVER:
            return "Expires.NEVER"
        if self._seconds is UNSET:
            return "Expires.DEFAULT"
        return f"Expires.after(seconds={self._seconds})"


Expires.NEVER = Expires(None)
Expires.DEFAULT = Expires(UNSET)

#: What a ``ttl`` argument accepts.
TTL: TypeAlias = "int | float | timedelta | Expires | None"


def resolve_ttl(ttl: TTL | Unset, default: float | None) -> float | None:
    """Return seconds (``None`` = no expiry) for a ``ttl`` argument.

    ``None``, ``UNSET`` and ``Expires.DEFAULT`` mean the cache's ``default_ttl``;
    ``Expires.NEVER`` means no expiry; ``0`` means "do not store".
    """
    if ttl is None or ttl is UNSET:
        return default
    if isinstance(ttl, Expires):
        seconds = ttl.seconds
        return default if seconds is UNSET else seconds
    return parse_seconds(ttl, name="ttl")


_O = TypeVar("_O", bound="CacheOptions")


class _ClassOrInstance(Generic[_O]):
    """Let ``CacheOptions.tag(...)`` build new options and ``opts.tag(...)`` extend."""

    def __init__(self, func: Callable[[Any, Any], Any]) -> None:
        self._func = func

    def __get__(self, obj: _O | None, owner: type[_O]) -> Callable[[Any], _O]:
        base = obj if obj is not None else owner()
        return lambda arg: self._func(base, arg)


def _add_tag(options: CacheOptions, tag: str) -> CacheOptions:
    return replace(options, tag_names=options.tag_names | _check_tags([tag]))


def _add_tags(options: CacheOptions, tags: Iterable[str]) -> CacheOptions:
    return replace(options, tag_names=options.tag_names | _check_tags(tags))


def _check_tags(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise ConfigError(f"tags must be a list of strings, not the string {tags!r}")
    result = frozenset(tags)
    for tag in result:
        if not isinstance(tag, str) or not tag:
            raise ConfigError(f"a tag must be a non-empty str, not {tag!r}")
        check_tag(tag)
    if len(result) > MAX_TAGS:
        raise InvalidKey(f"{len(result)} tags: an entry carries at most {MAX_TAGS}")
    return result


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """Immutable per-call options; keywords given to a call override them.

    ``CacheOptions.tag("users")`` and ``CacheOptions.tags([...])`` are
    constructors; on an instance they return a copy with the tags added.
    """

    ttl: TTL = None
    tag_names: frozenset[str] = field(default_factory=frozenset)
    cost: Cost | None = None
    negative_ttl: float | timedelta | None = None
    compress: bool | None = None
    stale_while_revalidate: float | timedelta | None = None
    early_refresh: float | None = None

    tag: ClassVar[_ClassOrInstance[CacheOptions]] = _ClassOrInstance(_add_tag)
    tags: ClassVar[_ClassOrInstance[CacheOptions]] = _ClassOrInstance(_add_tags)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag_names", _check_tags(self.tag_names))
        if self.cost is not None and not isinstance(self.cost, Cost):
            raise ConfigError(f"cost must be a Cost, not {self.cost!r}")

    def with_ttl(self, ttl: TTL) -> CacheOptions:
        """Return a copy with another ``ttl``."""
        return replace(self, ttl=ttl)

    def with_cost(self, cost: Cost) -> CacheOptions:
        """Return a copy with another cost class."""
        return replace(self, cost=cost)

    def with_negative_ttl(self, seconds: float | timedelta | None) -> CacheOptions:
        """Return a copy with another TTL for cached ``None`` results."""
        return replace(self, negative_ttl=seconds)

    def with_compress(self, compress: bool = True) -> CacheOptions:
        """Return a copy that asks for (or refuses) gzip compression."""
        return replace(self, compress=compress)

    def with_refresh(
        self,
        stale_while_revalidate: float | timedelta | None = None,
        early_refresh: float | None = None,
    ) -> CacheOptions:
        """Return a copy that refreshes without making callers wait."""
        return replace(
            self,
            stale_while_revalidate=stale_while_revalidate,
            early_refresh=early_refresh,
        )


@dataclass(frozen=True, slots=True)
class Resolved:
    """One call's options, resolved against the cache's defaults (internal)."""

    ttl: float | None
    never: bool  # Expires.NEVER was asked for: durable placement when present
    tags: frozenset[str]
    cost: Cost
    negative_ttl: float | None
    compress: bool
    grace: float  # stale-while-revalidate seconds (0: off)
    early: float | None  # early-refresh beta (None: off)
    dlock: bool  # distributed single-flight through the shared tier's lock
    base: int  # position of the base tier (0: local), decided once here

    @property
    def refreshing(self) -> bool:
        """Whether a stale entry may be served while it is refreshed."""
        return self.grace > 0 or self.early is not None

    def entry_ttl(self, value: object) -> float | None:
        """The TTL for ``value``: ``negative_ttl`` for a cached ``None``."""
        if value is None and self.negative_ttl is not None:
            return self.negative_ttl
        return self.ttl


@dataclass(frozen=True, slots=True)
class Defaults:
    """A cache's defaults for everything a call may leave out (internal)."""

    ttl: float | None
    compress: bool
    stale_while_revalidate: float
    early_refresh: float | None
    lock: bool  # lock="redis" for every load
    can_lock: bool  # the shared tier offers locks
    base: Mapping[tuple[Cost, bool], int]  # (cost, never) -> base tier position


class OptionResolver:
    """Turns a call's ``options=`` and keywords into ``Resolved`` options.

    Built once per cache. The common calls allocate nothing: no option at all
    returns one shared object, and ``ttl=N`` alone reuses one per value.
    """

    def __init__(self, defaults: Defaults) -> None:
        self._defaults = defaults
        self._by_ttl: dict[float, Resolved] = {}
        self.default = self._build(None, UNSET, UNSET, UNSET, UNSET, UNSET)

    def resolve(
        self,
        options: CacheOptions | None,
        ttl: TTL | Unset,
        tags: Iterable[str] | Unset,
        cost: Cost | Unset,
        negative_ttl: float | timedelta | Unset | None,
        compress: bool | Unset,
        stale_while_revalidate: float | timedelta | Unset | None = UNSET,
        early_refresh: float | Unset | None = UNSET,
        lock: str | Unset | None = UNSET,
    ) -> Resolved:
        """Return the resolved options of one call.

        Raises:
            ConfigError: An option is invalid.
        """
        if (
            options is None
            and tags is UNSET
            and cost is UNSET
            and negative_ttl is UNSET
            and compress is UNSET
            and stale_while_revalidate is UNSET
            and early_refresh is UNSET
            and lock is UNSET
        ):
            if ttl is UNSET:
                return self.default
            if type(ttl) in (int, float):
                # ``set(k, v, ttl=60)`` is the common per-call option; building
                # options costs more than the rest of a local set: reuse them.
                seconds: float = ttl  # type: ignore[assignment]
                resolved = self._by_ttl.get(seconds)
                if resolved is None:
                    resolved = self._build(None, seconds, UNSET, UNSET, UNSET, UNSET)
                    if len(self._by_ttl) >= 64:
                        self._by_ttl.clear()
                    self._by_ttl[seconds] = resolved
                return resolved
        return self._build(
            options,
            ttl,
            tags,
            cost,
            negative_ttl,
            compress,
            stale_while_revalidate,
            early_refresh,
            lock,
        )

    def _build(
        self,
        options: CacheOptions | None,
        ttl: TTL | Unset,
        tags: Iterable[str] | Unset,
        cost: Cost | Unset,
        negative_ttl: float | timedelta | Unset | None,
        compress: bool | Unset,
        stale_while_revalidate: float | timedelta | Unset | None = UNSET,
        early_refresh: float | Unset | None = UNSET,
        lock: str | Unset | None = UNSET,
    ) -> Resolved:
        defaults = self._defaults
        base = options if options is not None else CacheOptions()
        if not isinstance(base, CacheOptions):
            raise ConfigError(f"options must be a CacheOptions, not {base!r}")
        if tags is not UNSET:
            base = base.tags(tags)
        if cost is not UNSET:
            if not isinstance(cost, Cost):
                raise ConfigError(f"cost must be a Cost, not {cost!r}")
            base = base.with_cost(cost)
        neg = base.negative_ttl if negative_ttl is UNSET else negative_ttl
        comp = base.compress if compress is UNSET else compress
        ttl_arg = base.ttl if ttl is UNSET else ttl
        swr = (
            base.stale_while_revalidate
            if stale_while_revalidate is UNSET
            else stale_while_revalidate
        )
        early = base.early_refresh if early_refresh is UNSET else early_refresh
        if early is None:
            early = defaults.early_refresh
        elif (
            isinstance(early, bool) or not isinstance(early, (int, float)) or early <= 0
        ):
            raise ConfigError(f"early_refresh is a positive beta, not {early!r}")
        cost_value = base.cost or Cost.MODERATE
        never = ttl_arg is Expires.NEVER
        return Resolved(
            ttl=resolve_ttl(ttl_arg, defaults.ttl),
            never=never,
            tags=base.tag_names,
            cost=cost_value,
            negative_ttl=None
            if neg is None
            else parse_seconds(neg, name="negative_ttl"),
            compress=defaults.compress if comp is None else comp,
            grace=defaults.stale_while_revalidate
            if swr is None
            else parse_seconds(swr, name="stale_while_revalidate"),
            early=None if early is None else float(early),
            dlock=self._lock_choice(lock),
            base=defaults.base[(cost_value, never)],
        )

    def _lock_choice(self, lock: str | Unset | None) -> bool:
        if lock is UNSET:
            return self._defaults.lock
        if lock is None:
            return False
        if lock != "redis":
            raise ConfigError(f"lock={lock!r}: use None or 'redis'")
        if not self._defaults.can_lock:
            raise ConfigError("lock='redis' needs a shared tier that offers locks")
        return True
