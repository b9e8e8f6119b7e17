"""Dagster's webserver and daemon, started as a user starts them (`workspace.yaml`, a Dagster
home of their own), for the tests that talk to them over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


def wait_for(condition: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Polls `condition` until it returns something truthy, at most `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        if value := condition():
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(1)


def bin_path(name: str) -> str:
    """A console script of the environment running the tests."""
    return str(Path(sys.executable).with_name(name))


@contextmanager
def process_group(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`command` started from the repository root in a session of its own, its output in `log`;
    the whole group (code servers and run workers are its children) stopped on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def webserver(home: Path, env: dict[str, str], log: Path) -> Iterator[int]:
    """dagster-webserver on 127.0.0.1 on a free port with DAGSTER_HOME=`home`; yields the port
    once it answers."""
    port = free_port()
    command = [bin_path("dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1"]
    env = {**env, "DAGSTER_HOME": str(home)}
    with process_group([*command, "-p", str(port)], env, log) as process:

        def answers() -> bool:
            assert process.poll() is None, f"dagster-webserver exited; see {log}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                return True
            except OSError:
                return False

        wait_for(answers, 120, f"dagster-webserver answering (log: {log})")
        yield port
