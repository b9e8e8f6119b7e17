"""The UI's server, as a user starts it from the README: it loads workspace.yaml and serves the
asset graph over GraphQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from native_pipeline.definitions import defs

ROOT = Path(__file__).resolve().parents[2]
QUERY = "{ assetNodes { assetKey { path } isPartitioned hasAssetChecks } }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.fixture
def webserver(tmp_path):
    port = _free_port()
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    webserver = Path(sys.executable).with_name("dagster-webserver")
    process = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its code server is a child: stop the whole group
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert process.poll() is None, "dagster-webserver exited"
                time.sleep(1)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.slow
def test_webserver_serves_the_asset_graph(webserver):
    deadline = time.monotonic() + 60
    nodes: list = []
    while not nodes and time.monotonic() < deadline:  # the code location loads after start-up
        nodes = _graphql(webserver, QUERY)["assetNodes"]
        time.sleep(1)
    found = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    graph = defs().resolve_asset_graph()
    assert set(found) == {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert found["cleaned_text"]["isPartitioned"] and found["cleaned_text"]["hasAssetChecks"]
    assert not found["corpus_funnel"]["isPartitioned"]
