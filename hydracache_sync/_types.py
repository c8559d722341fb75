"""Sentinels and shared type aliases; stdlib only."""

from __future__ import annotations

import enum
from typing import Final, Literal, TypeAlias

__all__ = ["MISSING", "UNSET", "Missing", "Unset"]


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: Marks "no entry" (a miss), never confused with a cached ``None``.
MISSING: Final = _Missing.MISSING
Missing: TypeAlias = Literal[_Missing.MISSING]

#: Marks "argument not given", distinct from ``None``.
UNSET: Final = _Unset.UNSET
Unset: TypeAlias = Literal[_Unset.UNSET]
