"""Progress bars on standard error, only when it is a terminal (logs and CI stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["Advance", "progress_bar"]


class Advance(Protocol):
    def __call__(self, completed: float) -> None: ...


@contextmanager
def progress_bar(description: str, total: float | None, *, enabled: bool | None = None) -> Iterator[Advance]:
    """Yield a function that sets how much is done; a no-op when stderr is not a terminal."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield lambda completed: None
        return
    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda completed: bar.update(task, completed=completed)
