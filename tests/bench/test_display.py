"""rich output: the progress bar and the plain-text tables."""

from __future__ import annotations

import io

from hydracache_sync.bench.display import (
    Progress,
    format_table,
    print_report,
    render_report,
)
from hydracache_sync.bench.report import GroupResult, Report, Row, Target


class TestProgress:
    """The bar draws only when enabled, and erases itself."""

    def test_off_on_a_pipe(self) -> None:
        """Not a TTY and not forced: nothing is written, steps still count."""
        stream = io.StringIO()
        bar = Progress(4, stream=stream)
        bar.advance("one", steps=3)
        bar.close()
        assert (False, 3, "") == (bar.enabled, bar.done, stream.getvalue())

    def test_forced(self) -> None:
        """Forced on: it draws the label, and a raised total is kept."""
        stream = io.StringIO()
        bar = Progress(enabled=True, stream=stream)
        bar.total = 2
        bar.advance("first row")
        bar.advance("second row")
        bar.close()
        assert 2 == bar.total
        assert "second row" in stream.getvalue()


class TestTables:
    """Tables render as aligned plain text; cells are data, never markup."""

    def test_format_table(self) -> None:
        """Right-aligned numbers, a literal '[vkt]' and no trailing blanks."""
        text = format_table(["name", "n"], [["a", "1"], ["[vkt]", "100"]], align="lr")
        lines = text.splitlines()
        assert ["name", "n"] == lines[0].split()
        assert lines[2].endswith("  1")
        assert "[vkt]" in lines[3]
        assert all(line == line.rstrip() for line in lines)

    def test_report(self) -> None:
        """A report shows its title, group, ratio and target status."""
        group = GroupResult(
            "g",
            "get hit",
            "base",
            (Row("base", "g", 1, (2.0,)), Row("x", "g", 1, (1.0,))),
        )
        report = Report("a title", [group], targets=[Target("x/base", 0.5, "<=", 1.0)])
        text = render_report(report)
        assert text.startswith("a title\n=======")
        assert "get hit" in text
        assert "0.50x" in text
        assert "PASS" in text
        out = io.StringIO()
        print_report(report, out)
        assert text + "\n" == out.getvalue()
