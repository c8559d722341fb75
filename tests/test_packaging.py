"""The sdist is complete and honest: its metadata, its files, and its own tests run.

One sdist is built per session (``python -m build --sdist --no-isolation``,
with the setuptools of this environment: no package index is needed) and
unpacked; a quick subset of the tests then runs from the unpacked tree, which
must import its own copy of the package, not this checkout's.
"""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Files the sdist's tests, docs and examples need (issue 16: they were missing).
REQUIRED = (
    "LICENSE",
    "README.rst",
    "MANIFEST.in",
    "pyproject.toml",
    "setup.py",
    "tests/conftest.py",
    "tests/tiers/__init__.py",
    "tests/tiers/test_postgres.py",
    "tests/typing/usage.py",
    "examples/flask_app.py",
    "examples/etl_memoize.py",
    "docs/index.rst",
    "docs/metrics.rst",
    "benchmarks/README.md",
    "hydracache_sync/py.typed",
    "hydracache_sync/sql/migration.sql",
)
#: A quick subset run from the unpacked sdist: one module per area, the
#: conftest fixtures with real servers included (seconds, not minutes).
SUBSET = (
    "tests/test_singleflight.py",
    "tests/test_examples.py",
    "tests/tiers/test_pgcheck.py",
    "tests/tiers/test_postgres.py::TestConstructionChecks",
    "tests/test_docs.py::TestDocumentStructure",
)
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist of this checkout; return the ``.tar.gz``."""
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("sdist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    [archive] = out.glob("hydracache_sync-*.tar.gz")
    return archive


@pytest.fixture(scope="module")
def unpacked(sdist: Path) -> Path:
    """The sdist unpacked; return its top directory."""
    with tarfile.open(sdist) as tar:
        tar.extractall(sdist.parent, filter="data")
    return sdist.parent / sdist.name.removesuffix(".tar.gz")


def members(sdist: Path) -> set[str]:
    """Return the sdist's file paths, relative to its top directory."""
    with tarfile.open(sdist) as tar:
        return {
            name.split("/", 1)[1] for name in tar.getnames() if "/" in name.strip("/")
        }


def test_sdist_holds_what_its_tests_need(sdist: Path) -> None:
    """LICENSE, conftest.py, tests/tiers/, examples/, docs/, benchmarks/ are in."""
    files = members(sdist)
    assert set() == set(REQUIRED) - files
    assert [] == [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    tracked = subprocess.run(
        ["git", "ls-files", "tests", "docs", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if tracked.returncode == 0:  # a checkout (an unpacked sdist has no git)
        assert set() == set(tracked.stdout.split()) - files


def test_metadata_is_complete(sdist: Path) -> None:
    """License, project URLs and one classifier per supported Python version."""
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(sdist.name.removesuffix(".tar.gz") + "/PKG-INFO")
        assert member is not None
        info = email.parser.Parser().parsestr(member.read().decode())
    classifiers = info.get_all("Classifier") or []
    assert "MIT" == info["License"]
    assert "License :: OSI Approved :: MIT License" in classifiers
    for version in PYTHONS:
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert ">=3.10" == info["Requires-Python"]
    lines = info.get_all("Project-URL") or []
    urls = dict(line.split(", ", 1) for line in lines if ", " in line)
    assert {"Source", "Documentation", "Issues"} <= set(urls)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_sdist_tests_run_from_the_unpacked_tree(unpacked: Path) -> None:
    """``python -m pytest`` in the unpacked sdist imports its own package and passes."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [sys.executable, "-c", "import hydracache_sync as h; print(h.__file__)"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert Path(where.stdout.strip()).is_relative_to(unpacked), where
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUBSET],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert 0 == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
