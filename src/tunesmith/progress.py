"""Progress display for long loops, set up once for every command, build and benchmark.

Consumes a unit ("pieces", "tok", "steps"); produces a rich Progress whose tasks show their
description, a bar, done/total, the rate ("12.3 pieces/s", or "4.2 s/pieces" when slower than
one a second), the time elapsed and the time left.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["RateColumn", "format_rate", "progress"]


def format_rate(speed: float | None, unit: str) -> str:
    """'12.3 pieces/s'; '4.2 s/pieces' below one a second; '- pieces/s' before any is done."""
    if not speed:
        return f"- {unit}/s"
    if speed >= 1:
        return f"{speed:.1f} {unit}/s"
    return f"{1 / speed:.1f} s/{unit}"


class RateColumn(ProgressColumn):
    """A task's rate in `unit` per second (its final rate once finished)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        return Text(format_rate(task.finished_speed or task.speed, self.unit))


def progress(unit: str, *, total_known: bool = True, enabled: bool = True,
             console: Console | None = None, transient: bool = False) -> Progress:
    """A Progress with description, bar, count, rate and ETA (count, rate and elapsed time
    when the total is not known). `enabled=False` shows nothing; `console` defaults to rich's."""
    cols: list[ProgressColumn | str] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total_known:
        cols += [BarColumn(), MofNCompleteColumn(), RateColumn(unit), TimeElapsedColumn(),
                 TextColumn("ETA"), TimeRemainingColumn()]
    else:
        cols += [TextColumn(f"{{task.completed:.0f}} {unit}"), RateColumn(unit), TimeElapsedColumn()]
    return Progress(*cols, console=console, transient=transient, disable=not enabled)
