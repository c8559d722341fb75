"""Key segments: the segment rules, the ``*`` wildcard and hashed parts (``KeyPart``).

A structured key is its segments joined by ``:``. A segment is a ``str`` (used
verbatim: literals are never hashed), an ``int`` (its decimal text) or a
:class:`KeyPart` (text this package built, e.g. a SHA-256 digest). A ``str``
segment must not contain ``:``, ``*``, whitespace or control characters, so a
segment can never change the shape of the key or turn it into a pattern;
arbitrary text goes through :meth:`KeyPart.hash`. A lone ``"*"`` is the
wildcard segment, accepted only when invalidating.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from ..errors import InvalidKey

__all__ = ["WILDCARD", "KeyPart", "check_segment", "join_segments", "segment_text"]

#: The wildcard segment: matches any run of characters, ``:`` included.
WILDCARD: Final = "*"

# What a str segment may not contain: the separator, the wildcard, whitespace
# (``\s`` covers Unicode spaces and line separators) and C0/C1 controls.
_BAD = re.compile(r"[:*\s\x00-\x1f\x7f-\x9f]")


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
