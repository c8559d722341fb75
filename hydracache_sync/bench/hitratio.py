"""Hit ratio of the local tier against its peers on synthetic traces.

Every cache replays the same request trace as a read-through cache would see
it (``get``; on a miss, ``set``), holding the same number of entries, and the
hit ratio is hits / requests. Trace families:

- ``zipf-A``: independent draws from a Zipf distribution of exponent ``A``
  (0.6 to 1.2) over the key space;
- ``scan``: Zipf 1.0 mixed with one-time scans (runs of 1,000 keys never seen
  before and never seen again; 30 % of the requests);
- ``loop``: the keys ``0 .. 1.2 x capacity - 1`` over and over (an LRU cache,
  or any recency policy, gets no hit at all);
- ``shift``: Zipf 0.9 whose popular set moves to other keys four times.

Keys are fixed-width strings so every cache holds entries of one size: the
byte budget of ``HydraCache`` is the capacity times that size. The peers are
optional (``pip install 'hydracache_sync[bench]'``): cachetools LRU and LFU,
theine (W-TinyLFU, Rust core), moka-py (TinyLFU, Rust) and cachebox (LRU, Rust).

    hydracache bench --only hitratio [--quick] [--plot DIR]
    python benchmarks/bench_hitratio.py [--quick] [--plot DIR]
"""

from __future__ import annotations

import importlib.util
import itertools
import platform
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError
from .display import Progress
from .report import Report, Table, Target

__all__ = [
    "CAPACITIES",
    "FULL_SIZE",
    "PEERS",
    "QUICK_CAPACITIES",
    "QUICK_SIZE",
    "Result",
    "Trace",
    "draw",
    "hit_ratio",
    "hitratio_report",
    "measure",
    "table",
    "targets",
    "traces",
]

CAPACITIES = (0.01, 0.02, 0.05, 0.10)  # of the key space
QUICK_CAPACITIES = (0.02, 0.10)
FULL_SIZE = (100_000, 200_000)  # keys, requests per trace
QUICK_SIZE = (20_000, 60_000)
_VALUE = 1


@dataclass(frozen=True)
class Trace:
    """A named request trace (a list of keys) for one capacity, or for all."""

    name: str
    describe: str
    keys: Callable[[int], list[str]]  # capacity (entries) -> the requests


def _key(n: int) -> str:
    return f"key:{n:09d}"


def _zipf(
    alpha: float, n_keys: int, count: int, rng: random.Random, offset: int = 0
) -> list[str]:
    weights = [1.0 / (rank**alpha) for rank in range(1, n_keys + 1)]
    cumulative = list(itertools.accumulate(weights))
    ids = list(range(n_keys))
    rng.shuffle(ids)  # the popular keys are spread over the key space
    ranks = rng.choices(range(n_keys), cum_weights=cumulative, k=count)
    return [_key(ids[rank] + offset) for rank in ranks]


def traces(
    n_keys: int = 100_000, requests: int = 200_000, seed: int = 7
) -> list[Trace]:
    """Return the trace families over ``n_keys`` keys, ``requests`` long each."""
    result: list[Trace] = []
    for alpha in (0.6, 0.8, 1.0, 1.2):

        def zipf(capacity: int, alpha: float = alpha) -> list[str]:
            return _zipf(alpha, n_keys, requests, random.Random(seed))

        result.append(Trace(f"zipf-{alpha}", f"Zipf a={alpha}", zipf))

    def scan(capacity: int) -> list[str]:
        popular = iter(_zipf(1.0, n_keys, requests, random.Random(seed)))
        fresh = itertools.count(10 * n_keys)  # scan keys: never requested twice
        run = 1_000
        between = round(run * 0.7 / 0.3)  # scans are 30 % of the requests
        out: list[str] = []
        while len(out) < requests:
            out.extend(itertools.islice(popular, between))
            out.extend(_key(next(fresh)) for _ in range(run))
        return out[:requests]

    result.append(Trace("scan", "Zipf 1.0 + 30 % one-time scans", scan))

    def loop(capacity: int) -> list[str]:
        span = max(2, int(capacity * 1.2))
        return [_key(n % span) for n in range(requests)]

    result.append(Trace("loop", "loop over 1.2 x capacity", loop))

    def shift(capacity: int) -> list[str]:
        rng = random.Random(seed)
        phase = requests // 4
        out: list[str] = []
        for number in range(4):
            out.extend(_zipf(0.9, n_keys, phase, rng, offset=number * n_keys))
        return out

    result.append(Trace("shift", "Zipf 0.9, popular set moves 4 times", shift))
    return result


# -- the caches, each as (get, set) over one fresh instance --------------------------

Ops = tuple[Callable[[str], Any], Callable[[str, Any], None]]


def _hydra(capacity: int) -> Ops:
    from .._cache import HydraCache
    from ..tiers.local import LocalStore

    probe = LocalStore()
    probe.put(_key(0), _VALUE, _value_size(), None)
    per_entry = probe.size
    cache = HydraCache.local(max_bytes=per_entry * capacity, max_entry_size=per_entry)
    return cache.get, cache.set


def _value_size() -> int:
    from .._sizing import measure

    return measure(_VALUE)


def _cachetools(kind: str) -> Callable[[int], Ops]:
    def make(capacity: int) -> Ops:
        import cachetools

        cache: Any = getattr(cachetools, kind)(maxsize=capacity)
        return cache.get, cache.__setitem__

    return make


def _theine(capacity: int) -> Ops:
    from theine import Cache

    cache: Any = Cache(capacity)

    def get(key: str) -> Any:
        return cache.get(key)[0]

    return get, cache.set


def _moka(capacity: int) -> Ops:
    from moka_py import Moka

    cache: Any = Moka(capacity)
    return cache.get, cache.set


def _cachebox(capacity: int) -> Ops:
    import cachebox

    cache: Any = cachebox.LRUCache(capacity)
    return cache.get, cache.__setitem__


@dataclass(frozen=True)
class Peer:
    """A cache under test: its name, the module it needs, and its factory."""

    name: str
    module: str
    make: Callable[[int], Ops]


PEERS: tuple[Peer, ...] = (
    Peer("hydracache_sync", "hydracache_sync", _hydra),
    Peer("theine (W-TinyLFU)", "theine", _theine),
    Peer("moka-py (TinyLFU)", "moka_py", _moka),
    Peer("cachetools LRU", "cachetools", _cachetools("LRUCache")),
    Peer("cachetools LFU", "cachetools", _cachetools("LFUCache")),
    Peer("cachebox LRU", "cachebox", _cachebox),
)


def hit_ratio(
    make: Callable[[int], Ops], capacity: int, requests: Iterable[str]
) -> float:
    """Replay ``requests`` read-through on a fresh cache; return hits / requests."""
    get, put = make(capacity)
    hits = total = 0
    for key in requests:
        total += 1
        if get(key) is None:
            put(key, _VALUE)
        else:
            hits += 1
    return hits / total if total else 0.0


@dataclass
class Result:
    """Hit ratios per trace, capacity (fraction of the keys) and cache."""

    n_keys: int
    requests: int
    capacities: tuple[float, ...] = CAPACITIES
    ratios: dict[tuple[str, float, str], float] = field(default_factory=dict)
    traces: list[Trace] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def measure(
    *,
    quick: bool = False,
    capacities: Sequence[float] | None = None,
    only: Sequence[str] = (),
    progress: Progress | None = None,
) -> Result:
    """Run every available cache on every trace and capacity."""
    started = time.perf_counter()
    n_keys, requests = QUICK_SIZE if quick else FULL_SIZE
    if capacities is None:
        capacities = QUICK_CAPACITIES if quick else CAPACITIES
    result = Result(n_keys, requests, capacities=tuple(capacities))
    result.traces = [t for t in traces(n_keys, requests) if not only or t.name in only]
    peers = []
    for peer in PEERS:
        if importlib.util.find_spec(peer.module) is None:
            result.skipped[peer.name] = f"{peer.module} not installed"
        else:
            peers.append(peer)
    result.peers = [peer.name for peer in peers]
    if progress is not None:
        progress.total = len(result.traces) * len(capacities) * len(peers)
    for trace in result.traces:
        for fraction in capacities:
            capacity = max(1, int(n_keys * fraction))
            keys = trace.keys(capacity)
            for peer in peers:
                if progress is not None:
                    progress.advance(f"{trace.name} {fraction:.0%} {peer.name}", 0)
                ratio = hit_ratio(peer.make, capacity, keys)
                result.ratios[trace.name, fraction, peer.name] = ratio
                if progress is not None:
                    progress.advance()
    result.seconds = time.perf_counter() - started
    return result


def table(result: Result) -> Table:
    """Return the hit ratios as a report table, one row per trace and capacity."""
    names = result.peers
    rows = []
    for trace in result.traces:
        for fraction in result.capacities:
            cells = [trace.describe, f"{fraction:.0%}"]
            cells += [f"{result.ratios[trace.name, fraction, n]:.3f}" for n in names]
            rows.append(tuple(cells))
    return Table(
        "hit ratio (hits / requests; higher is better)",
        ("trace", "capacity", *names),
        tuple(rows),
        "ll" + "r" * len(names),
    )


def targets(result: Result) -> list[Target]:
    """The issue's targets: within 0.01 of theine on Zipf and scans; loop >= 0.5."""
    ours, theine = PEERS[0].name, "theine (W-TinyLFU)"
    found: list[Target] = []
    for trace in result.traces:
        for fraction in (0.02, 0.10):
            if (trace.name, fraction, ours) not in result.ratios:
                continue
            mine = result.ratios[trace.name, fraction, ours]
            if trace.name == "loop":
                label = f"{trace.describe}, {fraction:.0%}: hit ratio"
                found.append(Target(label, round(mine, 3) + 0.0, ">=", 0.5, unit=""))
            elif trace.name != "shift" and theine in result.peers:
                gap = mine - result.ratios[trace.name, fraction, theine]
                label = f"{trace.describe}, {fraction:.0%}: minus theine"
                found.append(Target(label, round(gap, 3) + 0.0, ">=", -0.01, unit=""))
    return found


def hitratio_report(
    quick: bool = False, progress: bool | None = None, plot: str | None = None
) -> Report:
    """Measure hit ratios against the peers; return the report.

    Args:
        quick: 20,000 keys, 60,000 requests, capacities 2 % and 10 % (about
            a minute) instead of 100,000 keys, 200,000 requests and 1-10 %.
        progress: Progress bar: ``None`` only on a TTY, ``True`` forced,
            ``False`` off.
        plot: Also write ``hitratio.png`` into this directory (matplotlib).
    """
    bar = Progress(enabled=progress)
    try:
        result = measure(quick=quick, progress=bar)
    finally:
        bar.close()
    notes = [
        f"{result.n_keys:,} keys, {result.requests:,} requests per trace, "
        "read-through (get, then set on a miss); every cache holds the same "
        "number of entries (HydraCache: max_bytes = capacity x entry size)"
    ]
    notes += [f"skipped {name}: {why}" for name, why in result.skipped.items()]
    if plot:
        notes.append(f"chart: {draw(result, plot)}")
    return Report(
        title=(
            "hit ratio of the local tier "
            f"({'quick, ' if quick else ''}Python {platform.python_version()})"
        ),
        tables=[table(result)],
        targets=targets(result),
        notes=notes,
        seconds=result.seconds,
    )


def draw(result: Result, directory: str | Path) -> Path:
    """Write ``hitratio.png``: hit ratio against capacity, one panel per trace."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError(
            "--plot needs matplotlib: pip install 'hydracache_sync[bench]'"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    columns = 4
    rows = -(-len(result.traces) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False
    )
    xs = [f * 100 for f in result.capacities]
    for index, trace in enumerate(result.traces):
        axis = axes[index // columns][index % columns]
        for name in result.peers:
            ys = [result.ratios[trace.name, f, name] for f in result.capacities]
            width = 2.5 if name == PEERS[0].name else 1.2
            style = "--" if name.startswith("cachebox") else "-"  # = cachetools LRU
            axis.plot(xs, ys, style, marker="o", label=name, linewidth=width)
        axis.set_title(trace.describe, fontsize=9)
        axis.set_xlabel("capacity (% of keys)")
        axis.set_ylabel("hit ratio")
        axis.grid(alpha=0.3)
    for index in range(len(result.traces), rows * columns):
        axes[index // columns][index % columns].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    path = out / "hitratio.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
