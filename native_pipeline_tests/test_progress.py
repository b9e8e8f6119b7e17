"""A long step says where it is: items done, rate, time left, at a steady pace."""

from __future__ import annotations

import pytest

from native_pipeline.progress import Progress, duration


def _clock(monkeypatch, *times: float) -> None:
    ticks = iter(times)
    monkeypatch.setattr("native_pipeline.progress.time.perf_counter", lambda: next(ticks))


def test_progress_speaks_at_most_every_interval_and_at_the_end(monkeypatch):
    _clock(monkeypatch, 0.0, 1.0, 5.0, 11.0, 12.0)
    said: list[str] = []
    progress = Progress(said.append, "documents cleaned", total=40, every_s=10.0)  # t=0
    progress.add(10)  # t=1: too soon
    progress.add(10)  # t=5: too soon
    progress.add(10)  # t=11: speaks
    progress.add(10)  # t=12: the end always speaks
    assert said == [
        "documents cleaned: 30 of 40 (75%), 2.7/s, about 4 s left",
        "documents cleaned: 40 of 40 (100%), 3.3/s, about 0 s left",
    ]


def test_slow_items_read_as_seconds_each_and_the_note_ends_the_line(monkeypatch):
    _clock(monkeypatch, 0.0, 40.0)
    said: list[str] = []
    Progress(said.append, "crawl files read", total=100, every_s=0).add(1, "2,000 records")
    assert said == [
        "crawl files read: 1 of 100 (1%), 40.0 s each, about 1 h 06 min left; 2,000 records"
    ]


def test_items_done_before_a_resume_do_not_count_towards_the_rate(monkeypatch):
    _clock(monkeypatch, 0.0, 10.0)
    said: list[str] = []
    Progress(said.append, "optimizer steps", total=100, every_s=0, done=50).add(10)
    assert said == ["optimizer steps: 60 of 100 (60%), 1.0/s, about 40 s left"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4.4, "4 s"), (200, "3 min 20 s"), (7500, "2 h 05 min"), (float("inf"), "unknown")],
)
def test_durations_read_as_a_person_reads_them(seconds, text):
    assert duration(seconds) == text
