"""The benchmarks behind ``hydracache bench``, as scenario families (bench extra).

Only the ``bench`` command imports this subpackage, so ``import
hydracache_sync`` loads none of it, nor rich (``tests/test_imports.py``).

A scenario family is one module here with a report function, registered by
one line in :data:`FAMILIES`. To add one:

1. write ``hydracache_sync/bench/<name>.py`` with a function returning a
   :class:`~hydracache_sync.bench.report.Report`, called with the keywords
   ``quick`` and ``progress`` (and, when the family needs a server, the URL or
   DSN as its first argument); build it with
   :class:`~hydracache_sync.bench.harness.Harness`;
2. add ``Family("<name>", "<function>")`` to :data:`FAMILIES` (``needs="redis"``
   or ``needs="postgres"`` for a server; ``default=False`` to run it only when
   asked for with ``hydracache bench --only <name>``).

``hydracache bench``, ``python -m hydracache_sync.bench`` and
``benchmarks/run.py`` then run it (``benchmarks/bench_<name>.py`` is a
three-line wrapper around :func:`~hydracache_sync.bench.runner.run_family`).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["FAMILIES", "Family", "family"]


class Family(NamedTuple):
    """A scenario family: the module ``bench/<name>.py`` and its report function.

    Attributes:
        name: The module's name, also the name ``--only`` selects.
        report: The name of the function returning the family's ``Report``.
        needs: The server it measures (its URL/DSN comes first in the call),
            or ``None`` for a family that needs no server.
        default: Whether a plain ``hydracache bench`` runs it (families that
            need a server run only when theirs is given).
        plots: Whether its report function takes ``plot=DIR`` (``--plot``).
    """

    name: str
    report: str
    needs: Literal["redis", "postgres"] | None = None
    default: bool = True
    plots: bool = False


#: Every family, in the order they run. Register a new one with one line here.
FAMILIES: tuple[Family, ...] = (
    Family("local", "local_report"),
    Family("hitratio", "hitratio_report", plots=True),
    Family("redis", "redis_report", needs="redis"),
    Family("postgres", "postgres_report", needs="postgres"),
    Family("coherence", "coherence_report", needs="redis"),
    Family("populations", "decorator_population_report", default=False),
    Family(
        "redis_populations", "redis_population_report", needs="redis", default=False
    ),
    Family(
        "postgres_populations",
        "postgres_population_report",
        needs="postgres",
        default=False,
    ),
)


def family(name: str) -> Family:
    """Return the family called ``name``.

    Raises:
        KeyError: No family has that name.
    """
    for found in FAMILIES:
        if found.name == name:
            return found
    raise KeyError(name)
