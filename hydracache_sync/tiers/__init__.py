"""Tiers: the in-process local store and the optional remote stores.

Only :mod:`.base` and :mod:`.local` are imported eagerly; :mod:`.redis` and
:mod:`.postgres` import their drivers when a store is constructed.
"""

from __future__ import annotations

from .base import BaseTier as BaseTier
from .base import RemoteTier as RemoteTier
from .base import StoreItem as StoreItem

__all__ = ["BaseTier", "RemoteTier", "StoreItem"]
