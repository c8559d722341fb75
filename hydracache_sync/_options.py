"""Per-call options: expiry (``Expires``) and the immutable ``CacheOptions``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

from ._placement import Cost
from ._types import UNSET, Unset
from ._units import parse_seconds
from .errors import ConfigError

__all__ = ["TTL", "CacheOptions", "Expires", "resolve_ttl"]


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


DEFAULT_OPTIONS = CacheOptions()
