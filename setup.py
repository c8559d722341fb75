"""Packaging for hydracache_sync (the build the design fixes: setuptools)."""

from __future__ import annotations

from setuptools import find_packages, setup

EXTRAS = {
    "redis": ["redis>=5", "hiredis>=2"],  # hiredis: the C reply parser
    "postgres": ["psycopg2-binary>=2.9"],
    "flask": ["flask>=2.2"],
    "django": ["django>=4.2"],
    "flask-caching": ["flask-caching>=2.0"],
    "prometheus": ["prometheus_client>=0.17"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})
# `hydracache bench`: rich draws its progress bar and tables; the peers it
# compares against are cachetools and dogpile.cache (not part of "all"), and
# for hit ratios theine, moka-py and cachebox; matplotlib draws `--plot DIR`.
EXTRAS["bench"] = [
    "rich>=13",
    "cachetools>=5",
    "dogpile.cache>=1.3",
    "theine>=2",
    "moka-py>=0.1",
    "cachebox>=4",
    "matplotlib>=3.7",
]
EXTRAS["dev"] = EXTRAS["all"] + EXTRAS["bench"] + [
    "pytest>=7",
    "pytest-timeout>=2",
    "hypothesis>=6",
    "ruff>=0.6",
    "mypy>=1.10",
    "types-cachetools",
    "types-psycopg2",
    "docutils",  # tests/test_docs.py checks README.rst and docs/ render cleanly
    "gunicorn>=21",  # test_metrics, test_lifecycle: real forked workers
    "build",  # tests/test_packaging.py builds the sdist and runs its tests
    "setuptools>=61",  # ... without build isolation (no index needed),
    "wheel",  # as pyproject.toml's build-system requires
]
# The repository's address: the sdist and the docs point here.
REPOSITORY = "https://github.com/hydracache/hydracache_sync"

setup(
    name="hydracache_sync",
    version="0.1.0",
    description="A synchronous, thread-safe, tiered cache: memory, Redis, Postgres.",
    long_description=open("README.rst", encoding="utf-8").read(),  # noqa: SIM115
    long_description_content_type="text/x-rst",
    license="MIT",
    url=REPOSITORY,
    project_urls={
        "Source": REPOSITORY,
        "Documentation": f"{REPOSITORY}/blob/main/docs/index.rst",
        "Issues": f"{REPOSITORY}/issues",
    },
    keywords=["cache", "redis", "postgresql", "flask", "single-flight", "memoize"],
    python_requires=">=3.10",
    packages=find_packages(include=["hydracache_sync", "hydracache_sync.*"]),
    package_data={"hydracache_sync": ["py.typed", "sql/*.sql"]},
    # What runs: cbor2 alone. cachetools is a benchmark peer ([bench]), not a
    # runtime dependency: the local tier has its own policy.
    install_requires=["cbor2>=5.4"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["hydracache = hydracache_sync.cli:main"]},
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Developers",
        "License :: OSI Approved :: MIT License",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Framework :: Django",
        "Framework :: Flask",
        "Topic :: Database",
        "Topic :: Internet :: WWW/HTTP :: WSGI",
        "Topic :: Software Development :: Libraries :: Python Modules",
        "Typing :: Typed",
    ],
)
