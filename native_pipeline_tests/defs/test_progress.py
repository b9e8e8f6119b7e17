"""A long step says where it is: items done, rate, time left, at a steady pace."""

from __future__ import annotations

from native_pipeline.defs.metadata import Progress


def test_progress_speaks_at_most_every_interval_and_at_the_end(monkeypatch):
    clock = iter([0.0, 1.0, 5.0, 11.0, 12.0])
    monkeypatch.setattr("native_pipeline.defs.metadata.time.perf_counter", lambda: next(clock))
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
