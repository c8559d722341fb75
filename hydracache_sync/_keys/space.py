"""Key prefixes and composed keys: namespaces, versions, flat keys under a prefix.

Namespace and version names and the prefixes they make (``audio:``,
``audio@v1:``), a flat key under a prefix and the remembered texts of
structured keys (``("users", 42)`` -> ``"users:42"``).
"""

from __future__ import annotations

import re

from ..errors import ConfigError, InvalidKey
from .parts import WILDCARD, KeyPart, join_segments

__all__ = [
    "check_name",
    "flat_key",
    "namespace_prefix",
    "segments_text",
    "version_prefix",
    "wildcard_misuse",
]


_NAME = re.compile(r"^[^:*@\s\x00-\x1f\x7f-\x9f]+$")


def check_name(name: object, what: str) -> str:
    """Validate a namespace or version name.

    Raises:
        ConfigError: ``name`` is not a non-empty ``str`` free of ``:``, ``*``,
            ``@``, whitespace and control characters.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{what} {name!r} must be a non-empty str without ':', '*', '@', "
            "whitespace or control characters"
        )
    return name


def namespace_prefix(name: object) -> str:
    """Return the key prefix of a namespace: ``"a:b"`` nests ``a`` then ``b``.

    Raises:
        ConfigError: ``name`` is not a ``str``, or one of its ``:``-separated
            parts is empty or holds ``*``, ``@``, whitespace or control
            characters.
    """
    if not isinstance(name, str):
        raise ConfigError(f"namespace {name!r} must be a str")
    parts = name.split(":")
    for part in parts:
        if not _NAME.match(part):
            raise ConfigError(
                f"namespace {name!r}: each ':'-separated part must be a non-empty "
                "str without '*', '@', whitespace or control characters"
            )
    return name + ":"


def version_prefix(prefix: str, version: object) -> str:
    """Return a namespace prefix at a version: ``audio:`` becomes ``audio@v1:``.

    Raises:
        ConfigError: ``prefix`` is the root (empty) or already versioned, or
            ``version`` is not a valid name.
    """
    if not prefix:
        raise ConfigError("version() applies to a namespace view")
    last = prefix[:-1].rsplit(":", 1)[-1]
    if "@" in last:
        raise ConfigError(f"view {prefix!r} is already versioned")
    return f"{prefix[:-1]}@{check_name(version, 'version')}:"


def flat_key(prefix: str, key: object) -> str:
    """Return ``key`` under ``prefix`` (the engine checks the rest of the key).

    Raises:
        InvalidKey: ``key`` is not a non-empty ``str``.
    """
    if not isinstance(key, str):
        raise InvalidKey(f"cache keys are str, not {type(key).__name__}: {key!r}")
    if not key:
        raise InvalidKey("the empty string is not a cache key")
    return prefix + key


def wildcard_misuse(key: str, operation: str) -> InvalidKey:
    """Return the error for a wildcard key given to anything but invalidate."""
    return InvalidKey(
        f"key {key!r} holds the wildcard segment '*', which only invalidate() "
        f"accepts, not {operation}(); hash literal text with KeyPart.hash()"
    )


# Building a key from segments (validation, join) is most of the cost of
# ``cache.key("users", 1).get(loader)`` on a hit, and the same few shapes
# repeat, so validated segment tuples are remembered, at two levels:
#
# - ``_TEXTS`` (here, module-wide): segments -> (key text, int positions). Used
#   when a view is new (``cache.namespace("a").key(...)`` builds a view per call).
# - each view's memo (``_views.py``): segments -> (builder, int positions).
#   Builders are immutable, so one can be handed out again; this skips even
#   the builder's allocation.
#
# Only tuples of exact str/int/KeyPart are remembered (plain values: nothing
# else is kept alive). A tuple lookup matches by ==, and ``True == 1 == 1.0``,
# so the int positions are re-checked on every hit: a bool or a float segment
# never passes. Positions are encoded as one int: -1 none, i >= 0 the single
# int segment, -2 several (checked with one set test).
_TEXTS: dict[tuple[object, ...], tuple[str, int]] = {}
MEMO_CAP = 2048  # per map; a full map is cleared (cheap, and rare)
_MEMO_TEXT = 200  # longer keys are built each time rather than remembered
EXACT = frozenset({str, int, KeyPart})
NO_INT = -1  # the hit path in CacheView.key spells these as literals
SEVERAL = -2


def _int_positions(segments: tuple[object, ...]) -> int:
    positions = [i for i, s in enumerate(segments) if type(s) is int]
    if not positions:
        return NO_INT
    return positions[0] if len(positions) == 1 else SEVERAL


def segments_text(segments: tuple[object, ...]) -> tuple[str, int | None]:
    """Return (validated key text, int positions or None when not memoizable).

    Raises:
        InvalidKey: No segments, or a segment is not allowed.
    """
    hit = _TEXTS.get(segments)
    if hit is not None:
        text, pos = hit
        if (
            pos == NO_INT
            or (pos >= 0 and type(segments[pos]) is int)
            or (pos == SEVERAL and EXACT.issuperset(map(type, segments)))
        ):
            return text, pos
    text = join_segments("", segments)
    if (
        WILDCARD in text
        or len(text) > _MEMO_TEXT
        or not EXACT.issuperset(map(type, segments))
    ):
        return text, None
    pos = _int_positions(segments)
    if len(_TEXTS) >= MEMO_CAP:
        _TEXTS.clear()
    _TEXTS[segments] = (text, pos)
    return text, pos
