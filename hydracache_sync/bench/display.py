"""Show benchmarks with rich: the progress bar on stderr and the result tables.

rich comes with the ``[bench]`` extra; without it, importing this module raises
:class:`~hydracache_sync.errors.MissingDependencyError` naming the extra.
"""

from __future__ import annotations

import io
import math
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

from ..errors import MissingDependencyError

try:
    from rich import box
    from rich.console import Console, Group, RenderableType
    from rich.progress import BarColumn, TaskID, TaskProgressColumn, TextColumn
    from rich.progress import Progress as RichProgress
    from rich.table import Table
    from rich.text import Text
except ImportError as exc:  # pragma: no cover - the dev extra installs rich
    raise MissingDependencyError(
        "the benchmarks need rich: pip install 'hydracache_sync[bench]'"
    ) from exc

if TYPE_CHECKING:
    from .report import Report

__all__ = ["Progress", "format_table", "print_report", "print_table", "render_report"]

#: Width of the plain-text rendering (files, pipes): wide rows are not wrapped.
TEXT_WIDTH = 160
_STATUS_STYLE = {"PASS": "green", "MISS": "bold red", "SKIP": "yellow"}


class Progress:
    """A progress bar on stderr, drawn by rich between samples.

    rich refreshes from this thread only (``auto_refresh=False``), at most 20
    times a second, inside :meth:`advance`: no drawing thread runs while a
    sample is being timed.

    Args:
        total: Planned steps; may be raised later through ``total``.
        enabled: ``None`` shows the bar only when ``stream`` is a TTY,
            ``True`` forces it, ``False`` turns it off.
        stream: Where to draw (default ``sys.stderr``).
    """

    def __init__(
        self,
        total: int = 0,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.done = 0
        self._total = total
        self._last_draw = 0.0
        self._bar: RichProgress | None = None
        self._task = TaskID(0)
        if enabled:
            self._bar = RichProgress(
                BarColumn(bar_width=24),
                TaskProgressColumn(),
                TextColumn("{task.description}"),
                console=Console(file=self.stream, force_terminal=True),
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._task = self._bar.add_task("", total=max(total, 1))
            self._bar.start()

    @property
    def total(self) -> int:
        """The planned steps."""
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        self._total = value
        if self._bar is not None:
            self._bar.update(self._task, total=max(value, self.done, 1))

    def advance(self, label: str = "", steps: int = 1) -> None:
        """Count ``steps`` more steps done and redraw (at most 20 times a second)."""
        self.done += steps
        if self._bar is None:
            return
        if label:
            self._bar.update(self._task, advance=steps, description=label[:44])
        else:
            self._bar.update(self._task, advance=steps)
        now = time.monotonic()
        if now - self._last_draw >= 0.05 or self.done >= self._total:
            self._last_draw = now
            self._bar.refresh()

    def close(self) -> None:
        """Erase the bar."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# -- tables -----------------------------------------------------------------------


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str | Text]], align: str | None
) -> Table:
    how = (align or "").ljust(len(headers), "l")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for header, side in zip(headers, how, strict=False):
        table.add_column(Text(header), justify="right" if side == "r" else "left")
    for row in rows:
        # Text, not str: a cell such as "[vkt]" is data, never rich markup.
        cells = [
            Text(c) if isinstance(c, str) else c for c in list(row)[: len(headers)]
        ]
        table.add_row(*cells, *[Text("")] * (len(headers) - len(cells)))
    return table


def _text(renderable: RenderableType, width: int = TEXT_WIDTH) -> str:
    """Render ``renderable`` as plain text (no colour, no terminal codes)."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
    )
    console.print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def format_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    align: str | None = None,
) -> str:
    """Return ``rows`` as aligned plain-text columns under ``headers``.

    Args:
        headers: Column titles.
        rows: Cells as strings; short rows are padded.
        align: One ``l`` or ``r`` per column (default: all left).

    Returns:
        The table, without a trailing newline; trailing blanks are stripped.
    """
    return _text(_table(headers, rows, align))


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    align: str | None = None,
    file: TextIO | None = None,
) -> None:
    """Print a table to ``file`` (default stdout), in colour on a terminal."""
    stream = file if file is not None else sys.stdout
    console = Console(file=stream, highlight=False)
    if console.is_terminal:
        console.print(_table(headers, rows, align))
    else:
        stream.write(format_table(headers, rows, align=align) + "\n")


# -- reports ----------------------------------------------------------------------


def _fmt_ns(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _fmt_ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def _fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.0f}k"


def _fmt_value(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g}{unit}"


def _heading(text: str) -> Text:
    return Text("\n" + text, style="bold")


def _report_parts(report: Report) -> list[RenderableType]:
    """Return the report's title, section headings and tables, in order."""
    parts: list[RenderableType] = [
        Text(report.title, style="bold"),
        Text("=" * len(report.title)),
    ]
    for group in report.groups:
        parts.append(_heading(group.title or group.name))
        base = group.baseline
        rows: list[list[str | Text]] = []
        for row in group.rows:
            if row.skipped:
                rows.append([row.name, "skipped", "", "", "", row.skipped])
                continue
            ratio = group.ratio(row.name)
            rows.append(
                [
                    row.name,
                    _fmt_ns(row.median_ns),
                    _fmt_ns(row.p25_ns),
                    _fmt_ns(row.p75_ns),
                    "baseline" if row.name == base else _fmt_ratio(ratio),
                    row.note,
                ]
            )
        headers = ["", "ns/op", "p25", "p75", f"vs {base}" if base else "", ""]
        parts.append(_table(headers, rows, "lrrrrl"))
    if report.scaling:
        threads = report.scaling[0].threads
        parts.append(_heading(report.scaling_title))
        rows = []
        for srow in report.scaling:
            if srow.skipped:
                rows.append([srow.name, "skipped", "", srow.skipped])
                continue
            rows.append(
                [
                    srow.name,
                    _fmt_rate(statistics.median(srow.single)),
                    _fmt_rate(statistics.median(srow.multi)),
                    _fmt_ratio(srow.ratio),
                ]
            )
        headers = ["", "1 thread ops/s", f"{threads} threads ops/s", "ratio"]
        parts.append(_table(headers, rows, "lrrr"))
    if report.counts:
        parts.append(_heading(report.counts_title))
        rows = [
            [
                c.label,
                ", ".join(str(v) for v in c.values),
                "" if c.expected is None else str(c.expected),
            ]
            for c in report.counts
        ]
        parts.append(_table(["", "per trial", "expected"], rows, "lll"))
    for extra in report.tables:
        parts.append(_heading(extra.title))
        parts.append(_table(extra.header, extra.rows, extra.align))
    if report.targets:
        parts.append(_heading("targets"))
        rows = [
            [
                t.label,
                "-" if math.isnan(t.value) else _fmt_value(t.value, t.unit),
                f"{t.op} {_fmt_value(t.limit, t.unit)}",
                Text(t.status, style=_STATUS_STYLE[t.status]),
            ]
            for t in report.targets
        ]
        parts.append(_table(["", "measured", "target", ""], rows, "lrrl"))
    if report.notes:
        parts.append(Text(""))
        parts += [Text(f"note: {n}") for n in report.notes]
    if report.seconds:
        parts.append(Text(f"\n({report.seconds:.1f} s)"))
    return parts


def render_report(report: Report) -> str:
    """Return ``report`` as plain-text tables."""
    return _text(Group(*_report_parts(report)))


def print_report(report: Report, file: TextIO | None = None) -> None:
    """Print ``report`` to ``file`` (default stdout), in colour on a terminal."""
    stream = file if file is not None else sys.stdout
    console = Console(file=stream, highlight=False)
    if console.is_terminal:
        console.print(Group(*_report_parts(report)))
    else:  # a file or a pipe: plain text, wide rows unwrapped
        stream.write(render_report(report) + "\n")
