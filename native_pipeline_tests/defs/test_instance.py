"""The shipped dagster.yaml: one instance under DAGSTER_HOME, whichever folder it is opened from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPEN_AND_COUNT = """
import dagster as dg
instance = dg.DagsterInstance.get()
if not instance.get_dynamic_partitions("crawl_dumps"):
    instance.add_dynamic_partitions("crawl_dumps", ["CC-A"])
print(instance.get_dynamic_partitions("crawl_dumps"))
"""


def test_the_instance_lives_under_dagster_home_wherever_it_is_opened(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    seen = []
    for folder in ("a", "b"):
        cwd = tmp_path / folder
        cwd.mkdir()
        run = subprocess.run(
            [sys.executable, "-c", OPEN_AND_COUNT], cwd=cwd, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        seen.append(run.stdout.strip())
        assert list(cwd.iterdir()) == []  # nothing stored beside the caller
    assert seen == ["['CC-A']", "['CC-A']"]  # the second folder opened the same instance
    assert (home / "history").is_dir()  # runs.db, under DAGSTER_HOME
