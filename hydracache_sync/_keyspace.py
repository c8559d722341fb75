"""Key prefixes and composed keys: namespaces, versions, flat keys under a prefix.

The companion of ``_keys.py`` (segment rules, ``KeyPart``, decorator digests):
everything that turns names into the text of a key lives in these two
modules. Here: namespace and version names and the prefixes they make
(``audio:``, ``audio@v1:``), a flat key under a prefix, the remembered texts of
structured keys (``("users", 42)`` -> ``"users:42"``) and the key of an HTTP
view (the Flask extension's ``view_key``) and the core form of a Django or
Flask-Caching key (``framework_key``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, urlencode

from ._keys import WILDCARD, KeyPart, join_segments
from .errors import ConfigError, InvalidKey

__all__ = [
    "FRAMEWORK_MAX_KEY",
    "check_name",
    "flat_key",
    "framework_key",
    "namespace_prefix",
    "segments_text",
    "version_prefix",
    "view_key_text",
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


#: Characters kept as they are in a view key's path (RFC 3986 pchar + "/").
PATH_SAFE = "/:@!$&'()*+,;=-._~"
#: Longer view keys are hashed: Redis and Postgres take them, but a 2 KB key
#: per page is waste, and the core rejects keys over 2048 characters.
MAX_VIEW_KEY = 512


def view_key_text(
    key_prefix: str,
    path: str,
    args: Iterable[tuple[str, str]],
    headers: Sequence[tuple[str, str]] = (),
    ignore_query: Iterable[str] = (),
) -> str:
    """Return the cache key of an HTTP GET (see ``hydracache_sync.flask.view_key``).

    ``<key_prefix>GET:<path>?<query>|<header>=<value>...``: the path is
    percent-encoded, the query parameters are sorted by name (values of one
    name keep their order) and each header adds its value. Keys over
    ``MAX_VIEW_KEY`` characters become ``<key_prefix>GET:sha256:<hex>``.

    Args:
        key_prefix: Text put first.
        path: The request path (script root included).
        args: The query parameters, in request order.
        headers: ``(name, value)`` of each header that separates entries.
        ignore_query: ``fnmatch`` patterns of parameter names left out.
    """
    key = f"{key_prefix}GET:{quote(path, safe=PATH_SAFE)}"
    ignored = tuple(ignore_query)
    pairs = sorted(
        (
            pair
            for pair in args
            if not any(fnmatch.fnmatchcase(pair[0], p) for p in ignored)
        ),
        key=lambda pair: pair[0],
    )
    if pairs:
        key += "?" + urlencode(pairs)
    for name, value in headers:
        key += f"|{name.lower()}={quote(value, safe='')}"
    if len(key) > MAX_VIEW_KEY:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        key = f"{key_prefix}GET:sha256:{digest}"
    return key


#: Framework keys longer than this are hashed (the core takes up to 2048).
FRAMEWORK_MAX_KEY = 512


def framework_key(key: str) -> str:
    """Return a framework's key as a core key: as it is, or hashed when unusual.

    Django and Flask-Caching accept any string; the core refuses keys over
    2048 characters, and control characters, NUL or lone surrogates would not
    survive every tier. Such keys (and any over :data:`FRAMEWORK_MAX_KEY` characters)
    become their printable start plus ``#sha256:`` and the digest of the
    whole key, so distinct keys stay distinct.
    """
    if len(key) <= FRAMEWORK_MAX_KEY and key.isprintable():
        return key
    raw = key.encode("utf-8", "surrogatepass")
    head = "".join(char for char in key[:64] if char.isprintable())
    return f"{head}#sha256:{hashlib.sha256(raw).hexdigest()}"
