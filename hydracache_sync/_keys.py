"""Structured keys: segment rules, the ``*`` wildcard and hashed parts (``KeyPart``).

A structured key is its segments joined by ``:``. A segment is a ``str`` (used
verbatim: literals are never hashed), an ``int`` (its decimal text) or a
:class:`KeyPart` (text this module built, e.g. a SHA-256 digest). A ``str``
segment must not contain ``:``, ``*``, whitespace or control characters, so a
segment can never change the shape of the key or turn it into a pattern;
arbitrary text goes through :meth:`KeyPart.hash`. A lone ``"*"`` is the
wildcard segment, accepted only when invalidating.

A flat key (``cache.get("users:42")``), a tag and an invalidation pattern are
checked once, at the API boundary, against what every tier can store
(:func:`check_key`, :func:`check_tag`, :func:`check_pattern`): a non-empty
``str``, UTF-8 encodable (no lone surrogate), without NUL (PostgreSQL ``text``
cannot hold one), of at most ``MAX_KEY_LENGTH`` (2,048) UTF-8 bytes (well
under PostgreSQL's 2,704-byte btree and GIN index rows; Redis allows far more);
an entry carries at most ``MAX_TAGS`` (1,024) tags. Anything else is an
:class:`~hydracache_sync.errors.InvalidKey`, so no driver error (``ValueError``,
``UnicodeEncodeError``) or index-row error ever comes from a key or a tag.

The second half makes ``@hydra_cache``'s keys: a canonical, process-independent
encoding of a call's arguments and its BLAKE2b digest (:class:`ArgumentKeys`,
specialised once per decorated function), and :class:`KeyMemo`, the bounded
map remembering them.

No I/O here, and nothing from the cache. Prefixes (namespaces, versions),
flat keys under a prefix and HTTP view keys are in ``_keyspace.py``; the key
builder that uses the segment rules is ``_builder.py``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import fractions
import hashlib
import inspect
import math
import re
import threading
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from .errors import InvalidKey

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_TAGS",
    "WILDCARD",
    "ArgumentKeys",
    "KeyMemo",
    "KeyPart",
    "check_key",
    "check_pattern",
    "check_tag",
    "join_segments",
    "retainable",
    "segment_text",
]

#: The wildcard segment: matches any run of characters, ``:`` included.
WILDCARD: Final = "*"
#: The longest key, tag or pattern accepted, in UTF-8 bytes.
MAX_KEY_LENGTH: Final = 2048
#: The most tags one entry may carry.
MAX_TAGS: Final = 1024

# What a str segment may not contain: the separator, the wildcard, whitespace
# (``\s`` covers Unicode spaces and line separators) and C0/C1 controls.
_BAD = re.compile(r"[:*\s\x00-\x1f\x7f-\x9f]")


def check_key(key: object) -> str:
    """Return ``key`` if it is a usable flat key, else raise InvalidKey."""
    if (
        type(key) is str
        and key.isascii()
        and 0 < len(key) <= MAX_KEY_LENGTH
        and "\0" not in key
    ):
        return key  # the common case: four C-level checks
    return _check_text(key, "cache key")


def check_tag(tag: object) -> str:
    """Return ``tag`` if every tier can store it, else raise InvalidKey."""
    if (
        type(tag) is str
        and tag.isascii()
        and 0 < len(tag) <= MAX_KEY_LENGTH
        and "\0" not in tag
    ):
        return tag
    return _check_text(tag, "tag")


def check_pattern(pattern: object) -> str:
    """Return ``pattern`` if it is a usable ``*`` pattern, else raise InvalidKey."""
    return _check_text(pattern, "pattern")


def _check_text(text: object, what: str) -> str:
    """The full check behind check_key/check_tag/check_pattern, with reasons."""
    if not isinstance(text, str):
        raise InvalidKey(f"a {what} is a str, not {type(text).__name__}: {text!r}")
    if not text:
        raise InvalidKey(f"the empty string is not a {what}")
    if "\0" in text:
        raise InvalidKey(f"{what} {text[:80]!r} contains NUL, which PostgreSQL refuses")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidKey(
            f"{what} {text[:80]!r} is not UTF-8 encodable (a lone surrogate at "
            f"{exc.start}): decode text with errors='strict' or hash it with "
            "KeyPart.hash()"
        ) from None
    if size > MAX_KEY_LENGTH:
        raise InvalidKey(
            f"{what} of {size} UTF-8 bytes is over {MAX_KEY_LENGTH}: "
            "hash long parts with KeyPart.hash()"
        )
    return text


def _describe(text: str) -> str:
    char = _BAD.search(text)
    assert char is not None  # noqa: S101 - only called for a failing segment
    found = char.group()
    if found == ":":
        return "contains ':' (the segment separator)"
    if found == "*":
        return "contains '*' (only a lone '*' is a wildcard)"
    if found.isspace():
        return f"contains whitespace ({found!r})"
    return f"contains a control character ({found!r})"


def _invalid(segment: object, why: str) -> InvalidKey:
    return InvalidKey(
        f"key segment {segment!r} {why}: segments are str, int or KeyPart; pass "
        "arbitrary text as KeyPart.hash(value) (optionally prefix=...)"
    )


def check_segment(text: str) -> str:
    """Return ``text`` if it is a valid literal ``str`` segment, else raise.

    Raises:
        InvalidKey: ``text`` is empty or contains ``:``, ``*``, whitespace or a
            control character.
    """
    if text.isalnum():  # the common case, checked in C; alnum is never "bad"
        return text
    if not text:
        raise _invalid(text, "is empty")
    if _BAD.search(text) is not None:
        raise _invalid(text, _describe(text))
    return text


def segment_text(segment: object, *, wildcard: bool = True) -> str:
    """Return the text a segment puts into a key.

    Args:
        segment: A ``str``, an ``int`` (not a ``bool``) or a :class:`KeyPart`.
        wildcard: Whether a lone ``"*"`` is accepted (it is returned as is).

    Raises:
        InvalidKey: The segment is not allowed.
    """
    cls = type(segment)
    if isinstance(segment, str):
        text = str.__str__(segment)  # a str subclass counts as its text
        if text == WILDCARD:
            if wildcard:
                return text
            raise _invalid(text, "is a wildcard, only valid for invalidate()")
        return check_segment(text)
    if isinstance(segment, int) and not isinstance(segment, bool):
        return int.__repr__(segment)  # an IntEnum member counts as its number
    if isinstance(segment, KeyPart):
        return segment._text
    if isinstance(segment, bool):
        raise _invalid(segment, "is a bool (ambiguous: use 1/0 or a word)")
    raise _invalid(segment, f"has type {cls.__qualname__}")


def join_segments(prefix: str, segments: tuple[object, ...]) -> str:
    """Return ``prefix`` followed by the segments' texts joined by ``:``.

    A lone ``"*"`` segment passes through; callers that do not invalidate
    check the result for ``*`` (no other segment or prefix can contain one).

    Raises:
        InvalidKey: No segments, or a segment is not allowed.
    """
    if not segments:
        raise InvalidKey("a structured key needs at least one segment")
    # Plain alphanumeric str segments skip the per-segment call entirely.
    return prefix + ":".join(
        [s if type(s) is str and s.isalnum() else segment_text(s) for s in segments]
    )


class KeyPart:
    """A key segment built by this package rather than given literally.

    ``str(part)`` is the text written into the key. Build one with
    :meth:`hash` (any text, bytes or int becomes a fixed-length hex digest) or
    :meth:`literal` (validated text, as a ``str`` segment would be).

    .. versionadded:: 0.1
    """

    __slots__ = ("_text",)

    _text: str

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise InvalidKey(f"KeyPart text must be a str, not {text!r}")
        if text == WILDCARD:
            raise _invalid(text, "is a wildcard; a KeyPart is always literal")
        self._text = check_segment(text)

    @classmethod
    def _of(cls, text: str) -> KeyPart:
        part = object.__new__(cls)
        part._text = text
        return part

    @classmethod
    def literal(cls, text: str) -> KeyPart:
        """Return ``text`` as a part, validated like a ``str`` segment.

        Raises:
            InvalidKey: ``text`` is not a valid segment.
        """
        return cls(text)

    @classmethod
    def hash(cls, value: str | bytes | int, prefix: str | None = None) -> KeyPart:
        """Return the SHA-256 hex digest of ``value`` as a key part.

        ``str`` is hashed as its UTF-8 bytes, ``bytes`` as they are and ``int``
        as its decimal text, so the digest is the same in every process and
        Python version (``hash()`` is salted; this is not).

        Args:
            value: The text, bytes or integer to hash.
            prefix: Optional label: the part becomes ``<prefix>_<hexdigest>``.
                Validated like a ``str`` segment.

        Returns:
            The part: 64 hex characters, after ``prefix_`` when given.

        Raises:
            TypeError: ``value`` is not ``str``, ``bytes`` or ``int``.
            InvalidKey: ``prefix`` is not a valid segment.
        """
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            data = int.__repr__(value).encode("ascii")
        else:
            kind = type(value).__qualname__
            raise TypeError(f"KeyPart.hash() takes str, bytes or int, not {kind}")
        digest = hashlib.sha256(data).hexdigest()
        if prefix is None:
            return cls._of(digest)
        if not isinstance(prefix, str) or prefix == WILDCARD:
            raise _invalid(prefix, "is not a valid KeyPart.hash() prefix")
        return cls._of(f"{check_segment(prefix)}_{digest}")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"KeyPart({self._text!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeyPart):
            return self._text == other._text
        return NotImplemented

    def __hash__(self) -> int:
        return hash((KeyPart, self._text))

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_text"):
            raise AttributeError("KeyPart is immutable")
        object.__setattr__(self, name, value)


# -- decorator argument digests --------------------------------------------------------
#
# A call's key digest is BLAKE2b-128 over ``a<name>=<value>`` for each bound
# parameter in signature order (defaults applied). The encoding is this
# module's own, so it is the same in every process and Python version.


def _qualified(cls: type) -> bytes:
    return f"{cls.__module__}.{cls.__qualname__}".encode()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _rational(value: Any, out: bytearray) -> None:
    """Encode a real number so that equal numbers encode alike (1 == 1.0 == True)."""
    if isinstance(value, int):
        out += b"i%d;" % int(value)
        return
    if isinstance(value, float):
        if math.isnan(value):
            out += b"fnan;"
            return
        if math.isinf(value):
            out += b"f+inf;" if value > 0 else b"f-inf;"
            return
        numerator, denominator = value.as_integer_ratio()
    elif isinstance(value, Decimal):
        if value.is_nan():
            out += b"fnan;"
            return
        if value.is_infinite():
            out += b"f+inf;" if value > 0 else b"f-inf;"
            return
        numerator, denominator = value.as_integer_ratio()
    else:  # fractions.Fraction
        numerator, denominator = value.numerator, value.denominator
    if denominator == 1:
        out += b"i%d;" % numerator
    else:
        out += b"q%d/%d;" % (numerator, denominator)


def _sorted_parts(items: Iterable[Any], depth: int) -> list[bytes]:
    parts = []
    for item in items:
        buffer = bytearray()
        encode_value(item, buffer, depth)
        parts.append(bytes(buffer))
    parts.sort()
    return parts


def encode_value(value: Any, out: bytearray, depth: int = 0) -> None:
    """Append a canonical encoding of ``value`` to ``out``.

    Values equal in Python encode alike where they may share a key (numbers
    across types, str subclasses, set/frozenset, aware datetimes across
    zones), so the remembered keys and the full computation always agree.

    Raises:
        TypeError: The value (or something inside it) has no canonical form.
    """
    if depth > 50:
        raise TypeError("arguments nested more than 50 levels deep")
    depth += 1
    cls = type(value)
    if value is None:
        out += b"N"
    elif cls is str:
        data = _utf8(value)
        out += b"s%d:" % len(data) + data
    elif cls is int or cls is bool:
        out += b"i%d;" % value
    elif (hook := getattr(cls, "__cache_key__", None)) is not None and callable(hook):
        out += b"K" + _qualified(cls) + b";"
        encode_value(value.__cache_key__(), out, depth)
    elif isinstance(value, (int, float, Decimal, fractions.Fraction)):
        _rational(value, out)
    elif isinstance(value, complex):
        if value.imag:
            out += b"c"
            _rational(value.real, out)
            _rational(value.imag, out)
        else:
            _rational(value.real, out)
    elif isinstance(value, str):
        data = _utf8(str.__str__(value))
        out += b"s%d:" % len(data) + data
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        out += b"b%d:" % len(data) + data
    elif isinstance(value, tuple):
        out += b"(%d;" % len(value)
        for item in value:
            encode_value(item, out, depth)
    elif isinstance(value, list):
        out += b"[%d;" % len(value)
        for item in value:
            encode_value(item, out, depth)
    elif isinstance(value, Mapping):
        pairs = []
        for key, item in value.items():
            buffer = bytearray()
            encode_value(key, buffer, depth)
            encode_value(item, buffer, depth)
            pairs.append(bytes(buffer))
        pairs.sort()
        out += b"{%d;" % len(pairs) + b"".join(pairs)
    elif isinstance(value, (set, frozenset)):
        parts = _sorted_parts(value, depth)
        out += b"<%d;" % len(parts) + b"".join(parts)
    elif isinstance(value, enum.Enum):
        out += b"E" + _qualified(cls) + b"." + _utf8(value.name) + b";"
    elif isinstance(value, type):
        out += b"C" + _qualified(value) + b";"
    elif isinstance(value, datetime.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            utc = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
            out += b"Z" + utc.isoformat().encode() + b";"
        else:
            out += b"T" + value.isoformat().encode() + b";"
    elif isinstance(value, datetime.date):
        out += b"D" + value.isoformat().encode() + b";"
    elif isinstance(value, datetime.time):
        out += b"t" + value.isoformat().encode() + b";"
    elif isinstance(value, datetime.timedelta):
        out += b"d%d,%d,%d;" % (value.days, value.seconds, value.microseconds)
    elif isinstance(value, uuid.UUID):
        out += b"u" + value.hex.encode() + b";"
    elif dataclasses.is_dataclass(value):
        fields = [f for f in dataclasses.fields(value) if f.compare]
        out += b"O" + _qualified(cls) + b"%d;" % len(fields)
        for fld in fields:
            encode_value(getattr(value, fld.name), out, depth)
    else:
        raise TypeError(f"no canonical form for a {cls.__module__}.{cls.__qualname__}")


def _encode_float(value: float) -> bytes:
    out = bytearray()
    _rational(value, out)
    return bytes(out)


def _encode_str(value: str) -> bytes:
    data = _utf8(value)
    return b"s%d:" % len(data) + data


def _encode_tuple(value: tuple[Any, ...]) -> bytes:
    out = bytearray()
    encode_value(value, out)
    return bytes(out)


# The exact types the specialised key function encodes without the general
# dispatch (the same bytes as encode_value: tests compare the two).
_SCALARS: Final[dict[type, Callable[[Any], bytes]]] = {
    int: b"i%d;".__mod__,
    bool: b"i%d;".__mod__,
    str: _encode_str,
    type(None): lambda value: b"N",
    float: _encode_float,
    bytes: lambda value: b"b%d:" % len(value) + value,
    tuple: _encode_tuple,
}


def _encode(value: Any) -> bytes:
    """Return the canonical encoding of ``value`` (scalars without dispatch)."""
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        return scalar(value)
    out = bytearray()
    encode_value(value, out)
    return bytes(out)


# Types whose values may be kept in the key memo (and whose defaults may be
# encoded once): immutable plain values that own nothing else, so no instance
# is ever kept alive by the decorator.
_PLAIN = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        complex,
        Decimal,
        fractions.Fraction,
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
        uuid.UUID,
    }
)
_MAX_RETAINED_TEXT = 256


def retainable(value: object, depth: int = 0) -> bool:
    """Tell whether ``value`` is a plain immutable value, safe to keep in a memo."""
    cls = type(value)
    if cls is str or cls is bytes:
        return len(value) <= _MAX_RETAINED_TEXT  # type: ignore[arg-type]
    if cls in _PLAIN or isinstance(value, (type, enum.Enum)):
        return True
    if (cls is tuple or cls is frozenset) and depth < 4 and len(value) <= 16:  # type: ignore[arg-type]
        return all(retainable(item, depth + 1) for item in value)  # type: ignore[attr-defined]
    return False


_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)
_BLAKE2B_128 = hashlib.blake2b(digest_size=16)  # copied per digest: no setup parsing


class ArgumentKeys:
    """The digest of a function's arguments, specialised once per function.

    Calls whose arguments the signature maps without ``Signature.bind``
    (positional and keyword arguments of a signature without ``*args`` or
    ``**kwargs``) are encoded by a loop over precomputed parameter heads, with
    defaults encoded once when they are plain immutable values; scalars
    (``int``, ``str``, ``float``, ``bool``, ``None``, ``bytes``, tuples) skip
    the general dispatch. Anything else (``*args``, a missing argument, a
    value without a canonical form) goes through ``bind`` and gives the same
    digest, or the error.
    """

    __slots__ = (
        "_defaults",
        "_heads",
        "_ignore_self",
        "_index",
        "_positional",
        "_qualname",
        "_signature",
        "_single",
        "_specialised",
        "_typed",
    )

    def __init__(
        self,
        signature: inspect.Signature,
        *,
        qualname: str,
        typed: bool = False,
        ignore_self: bool = False,
    ) -> None:
        self._signature = signature
        self._qualname = qualname
        self._typed = typed
        self._ignore_self = ignore_self
        params = list(signature.parameters.values())
        self._specialised = all(
            p.kind in (*_POSITIONAL, inspect.Parameter.KEYWORD_ONLY) for p in params
        )
        self._heads = [b"a" + _utf8(p.name) + b"=" for p in params]
        self._positional = sum(1 for p in params if p.kind in _POSITIONAL)
        # Parameters a keyword argument may name, by position.
        self._index = {
            p.name: i
            for i, p in enumerate(params)
            if p.kind is not inspect.Parameter.POSITIONAL_ONLY
        }
        # Each parameter's encoded default (head included), or None: required,
        # or a default that may change (encoded per call, through bind).
        defaults: list[bytes | None] = []
        for i, p in enumerate(params):
            if i == 0 and ignore_self:
                defaults.append(None if p.default is p.empty else b"")
            elif p.default is p.empty or not retainable(p.default):
                defaults.append(None)
            else:
                try:
                    defaults.append(self._heads[i] + self._argument(p.default))
                except TypeError:
                    defaults.append(None)
        self._defaults = defaults
        # The head of the only parameter, when one untyped argument is the
        # whole encoding (the common one-argument call takes a shortcut).
        self._single = (
            self._heads[0]
            if len(params) == 1
            and self._specialised
            and not typed
            and not ignore_self
            and params[0].kind in _POSITIONAL
            else None
        )

    def _argument(self, value: Any) -> bytes:
        if self._typed:  # like lru_cache(typed=True): immediate arguments only
            return b"@" + _qualified(type(value)) + b";" + _encode(value)
        return _encode(value)

    def digest(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Return the 32-hex digest of a call's arguments.

        Raises:
            TypeError: The arguments do not fit the signature, or one has no
                canonical form (the message names ``key=``).
        """
        single = self._single
        if single is not None and len(args) == 1 and not kwargs:
            # One scalar for a one-parameter function: no further call frames.
            scalar = _SCALARS.get(type(args[0]))
            data = None if scalar is None else single + scalar(args[0])
        elif self._specialised:
            data = self._specialised_encoding(args, kwargs)
        else:
            data = None
        if data is None:
            data = self._bound_encoding(args, kwargs)
        hasher = _BLAKE2B_128.copy()
        hasher.update(data)
        return hasher.hexdigest()

    def _specialised_encoding(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> bytes | None:
        """Encode without ``bind``; None when the call needs the general path."""
        count = len(args)
        if count > self._positional:
            return None
        heads = self._heads
        argument = self._argument
        try:
            if count == 1 and not kwargs and len(heads) == 1 and not self._ignore_self:
                return heads[0] + argument(args[0])  # the common one-argument call
            parts = list(self._defaults)
            start = 1 if self._ignore_self and count else 0
            if start:
                parts[0] = b""
            for i in range(start, count):
                parts[i] = heads[i] + argument(args[i])
            for name, value in kwargs.items():
                i = self._index.get(name, -1)
                if i < count:  # unknown, positional-only, or given twice
                    return None
                parts[i] = (
                    b"" if i == 0 and self._ignore_self else heads[i] + argument(value)
                )
        except TypeError:
            return None  # the general path raises the helpful message
        if None in parts:
            return None
        return b"".join(parts)  # type: ignore[arg-type]

    def _bound_encoding(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        out = bytearray()
        items = list(bound.arguments.items())
        if self._ignore_self:
            items = items[1:]
        kinds = self._signature.parameters
        for name, value in items:
            kind = kinds[name].kind
            out += b"a" + _utf8(name) + b"="
            try:
                if kind is inspect.Parameter.VAR_POSITIONAL:
                    out += b"(%d;" % len(value)
                    for item in value:
                        out += self._argument(item)
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    pairs = [
                        b"k" + _utf8(key) + b"=" + self._argument(value[key])
                        for key in sorted(value)
                    ]
                    out += b"{%d;" % len(pairs) + b"".join(pairs)
                else:
                    out += self._argument(value)
            except TypeError as exc:
                raise TypeError(
                    f"@hydra_cache cannot build a key for {self._qualname}"
                    f"(): argument {name!r} ({exc}); pass key= (a callable building "
                    "the key from the arguments), give the type a __cache_key__() "
                    "method, or use ignore_self=True for an instance"
                ) from None
        return bytes(out)


class KeyMemo:
    """Keys remembered by argument tuple: bounded, two generations, lock-free reads.

    The hit path reads ``memo.recent[args]``: a plain dict (the same object
    for the memo's life, so callers may bind it once), no lock, a C
    ``KeyError`` on a miss. :meth:`recall` also looks in the previous
    generation and moves a hit forward; :meth:`remember` adds under a lock.
    When the current generation holds ``capacity`` keys it becomes the
    previous one (the older one is dropped), so the memo holds between
    ``capacity`` and ``2 * capacity`` of the most recently used keys and is
    never emptied wholesale because it is full.
    """

    __slots__ = ("_capacity", "_lock", "_older", "recent")

    def __init__(self, capacity: int) -> None:
        self.recent: Final[dict[Hashable, str]] = {}
        self._capacity = max(1, capacity)
        self._older: dict[Hashable, str] = {}
        self._lock = threading.Lock()

    def recall(self, args: Hashable) -> str | None:
        """Return the key remembered for ``args`` in either generation, or None.

        Raises:
            TypeError: ``args`` is not hashable.
        """
        key = self.recent.get(args)
        if key is None:
            key = self._older.get(args)
            if key is not None:
                self.remember(args, key)
        return key

    def remember(self, args: Hashable, key: str) -> None:
        """Add ``args -> key`` to the current generation (rotating when full)."""
        recent = self.recent
        with self._lock:
            if len(recent) >= self._capacity:
                self._older = recent.copy()
                recent.clear()
            recent[args] = key

    def forget(self, capacity: int | None = None) -> None:
        """Drop every remembered key (both generations); optionally resize."""
        with self._lock:
            if capacity is not None:
                self._capacity = max(1, capacity)
            self._older = {}
            self.recent.clear()

    @property
    def size(self) -> int:
        """How many keys are remembered, both generations together."""
        return len(self.recent) + len(self._older)
