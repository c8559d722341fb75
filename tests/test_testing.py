"""The test helpers themselves: MemoryTier honours the tier contract."""

from __future__ import annotations

import pytest

from hydracache_sync.testing import MemoryTier, TierContract


class TestMemoryTier(TierContract):
    @pytest.fixture
    def tier(self) -> MemoryTier:
        return MemoryTier()
