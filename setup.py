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
# compares against are cachetools and dogpile.cache (not part of "all").
EXTRAS["bench"] = ["rich>=13", "cachetools>=5", "dogpile.cache>=1.3"]
EXTRAS["dev"] = EXTRAS["all"] + EXTRAS["bench"] + [
    "pytest>=7",
    "pytest-timeout>=2",
    "hypothesis>=6",
    "ruff>=0.6",
    "mypy>=1.10",
    "types-cachetools",
    "types-psycopg2",
    "docutils",  # tests/test_docs.py checks README.rst and docs/ render cleanly
]

setup(
    name="hydracache_sync",
    version="0.1.0",
    description="A synchronous, thread-safe, tiered cache: memory, Redis, Postgres.",
    long_description=open("README.rst", encoding="utf-8").read(),  # noqa: SIM115
    long_description_content_type="text/x-rst",
    python_requires=">=3.10",
    packages=find_packages(include=["hydracache_sync", "hydracache_sync.*"]),
    package_data={"hydracache_sync": ["py.typed", "sql/*.sql"]},
    install_requires=["cachetools>=5", "cbor2>=5.4"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["hydracache = hydracache_sync.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
        "License :: OSI Approved :: MIT License",
    ],
)
