"""Fetch the peer suites (once, into build/) and set Django up with its test database.

Without network access the peer tests skip, unless ``HYDRACACHE_REQUIRE_SERVICES``
is set (as in CI): then a failed download fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fetch_peer_suites import fetch

REQUIRE = bool(os.environ.get("HYDRACACHE_REQUIRE_SERVICES"))


def peer_suite(dist: str) -> Path | None:
    """The unpacked suite of ``dist``, or None (skip) when it cannot be fetched."""
    try:
        return fetch(dist)
    except (RuntimeError, OSError) as exc:
        if REQUIRE:
            raise
        print(f"hydracache_sync compat: {exc}")
        return None


@pytest.fixture(scope="session")
def django_test_db() -> Iterator[None]:
    """Django's test database (sqlite in memory) for the peer suite's TestCases."""
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    yield
    connection.creation.destroy_test_db(old_name, verbosity=0)
    teardown_test_environment()
