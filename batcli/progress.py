"""Progress bars on stderr, so that stdout stays clean for JSONL."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

stderr = Console(stderr=True, soft_wrap=True)  # a message is one line in a log, however long


class RateColumn(ProgressColumn):
    """Items per second since the start, in the unit the task names (`fields["unit"]`).

    A task can count in steps of `fields["scale"]` items (a training step of 32 clips) and start
    at `fields["first"]` (a resumed run); both default to 1 and 0.
    """

    def render(self, task) -> Text:
        unit = task.fields.get("unit", "it")
        done = (task.completed - task.fields.get("first", 0)) * task.fields.get("scale", 1)
        if not task.elapsed or done <= 0:
            return Text(f"- {unit}/s", style="progress.data.speed")
        return Text(f"{done / task.elapsed:.1f} {unit}/s", style="progress.data.speed")


class QuietProgress(Progress):
    """rich's Progress, quieter outside a terminal (a log, a pipe), where it prints its bars once, on
    stopping: not when the work failed, so that the error is the one line there, and no blank line
    when no task was shown (a single file's bar is hidden)."""

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is not None and not self.console.is_terminal:
            self.live.transient = True
            self.live.stop()
        else:
            super().__exit__(exc_type, exc_value, traceback)

    def stop(self) -> None:
        if any(task.visible for task in self.tasks):
            super().stop()
        elif not self.disable:
            self.live.stop()


def progress_bar(*extra: ProgressColumn, show: bool = True) -> Progress:
    """Description, bar, done/total, rate, any `extra` columns, time left; nothing at all unless `show`
    (library calls print nothing unless asked)."""
    return QuietProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        *extra,
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
        disable=not show,
    )
