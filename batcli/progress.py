"""Progress bars on stderr, so that stdout stays clean for JSONL."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

stderr = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Items per second since the start, in the unit the task names (`fields["unit"]`)."""

    def render(self, task) -> Text:
        unit = task.fields.get("unit", "it")
        if not task.elapsed or not task.completed:
            return Text(f"- {unit}/s", style="progress.data.speed")
        return Text(f"{task.completed / task.elapsed:.1f} {unit}/s", style="progress.data.speed")


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )
