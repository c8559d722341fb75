"""The canonical, process-independent byte encoding of function arguments.

The decorator's key digest (``args.py``) hashes this encoding, so it is this
package's own: the same in every process and Python version (``hash()`` is
salted; ``repr()`` may hold addresses). Values equal in Python encode alike
where they may share a key. :func:`retainable` tells which values are plain
enough to be remembered.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import fractions
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

__all__ = ["SCALARS", "encode", "encode_value", "qualified", "retainable", "utf8"]


def qualified(cls: type) -> bytes:
    return f"{cls.__module__}.{cls.__qualname__}".encode()


def utf8(text: str) -> bytes:
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
        data = utf8(value)
        out += b"s%d:" % len(data) + data
    elif cls is int or cls is bool:
        out += b"i%d;" % value
    elif (hook := getattr(cls, "__cache_key__", None)) is not None and callable(hook):
        out += b"K" + qualified(cls) + b";"
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
        data = utf8(str.__str__(value))
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
        out += b"E" + qualified(cls) + b"." + utf8(value.name) + b";"
    elif isinstance(value, type):
        out += b"C" + qualified(value) + b";"
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
        out += b"O" + qualified(cls) + b"%d;" % len(fields)
        for fld in fields:
            encode_value(getattr(value, fld.name), out, depth)
    else:
        raise TypeError(f"no canonical form for a {cls.__module__}.{cls.__qualname__}")


def _encode_float(value: float) -> bytes:
    out = bytearray()
    _rational(value, out)
    return bytes(out)


def _encode_str(value: str) -> bytes:
    data = utf8(value)
    return b"s%d:" % len(data) + data


def _encode_tuple(value: tuple[Any, ...]) -> bytes:
    out = bytearray()
    encode_value(value, out)
    return bytes(out)


# The exact types the specialised key function encodes without the general
# dispatch (the same bytes as encode_value: tests compare the two).
SCALARS: Final[dict[type, Callable[[Any], bytes]]] = {
    int: b"i%d;".__mod__,
    bool: b"i%d;".__mod__,
    str: _encode_str,
    type(None): lambda value: b"N",
    float: _encode_float,
    bytes: lambda value: b"b%d:" % len(value) + value,
    tuple: _encode_tuple,
}


def encode(value: Any) -> bytes:
    """Return the canonical encoding of ``value`` (scalars without dispatch)."""
    scalar = SCALARS.get(type(value))
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
