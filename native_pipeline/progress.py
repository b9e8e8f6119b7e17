"""The one progress line of every long step: items done, the rate and the time left.

Dagster-free, so that the packages (the training loop in a Pipes subprocess too) and the wiring
share it: a package takes a `log` or `on_progress` callable, `defs/` passes the step's logger."""

from __future__ import annotations

import time
from collections.abc import Callable


def duration(seconds: float) -> str:
    """4 s, 3 min 20 s, 2 h 05 min: the time left as a person reads it."""
    if seconds == float("inf"):
        return "unknown"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Logs items done, the rate and the time left, at most every `every_s` seconds and when the
    last item is done, so that a long step says where it is without flooding its log. `done`
    counts items finished before this run (a resumed step): they do not count towards the rate."""

    def __init__(
        self,
        log: Callable[[str], None],
        what: str,
        total: int,
        every_s: float = 15.0,
        done: int = 0,
    ) -> None:
        self.log, self.what, self.total, self.every_s = log, what, total, every_s
        self.done = self.before = done
        self.started = time.perf_counter()
        self.said = self.started

    def add(self, n: int = 1, note: str = "") -> None:
        """`n` more items done; `note` (a loss, a running count) ends the line when it is said."""
        self.done += n
        now = time.perf_counter()
        if now - self.said < self.every_s and self.done < self.total:
            return
        self.said = now
        rate = (self.done - self.before) / max(now - self.started, 1e-9)
        left = (self.total - self.done) / rate if rate else float("inf")
        # Slow items (files, tasks) read better as seconds each than as a fraction per second.
        speed = f"{rate:,.1f}/s" if rate >= 1 or not rate else f"{1 / rate:,.1f} s each"
        line = (
            f"{self.what}: {self.done:,} of {self.total:,} ({self.done / max(self.total, 1):.0%}),"
            f" {speed}, about {duration(max(left, 0))} left"
        )
        self.log(f"{line}; {note}" if note else line)
