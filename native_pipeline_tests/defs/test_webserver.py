"""The UI's server, as a user starts it from the README: it loads workspace.yaml and serves the
asset graph over GraphQL."""

from __future__ import annotations

import os

import pytest

from native_pipeline.definitions import defs
from native_pipeline_tests.defs.servers import graphql, wait_for, webserver

QUERY = "{ assetNodes { assetKey { path } isPartitioned hasAssetChecks } }"


@pytest.mark.slow
def test_webserver_serves_the_asset_graph(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with webserver(home, dict(os.environ), tmp_path / "webserver.log") as port:
        # the code location loads after start-up
        nodes = wait_for(lambda: graphql(port, QUERY)["assetNodes"], 60, "the asset graph")
    found = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    graph = defs().resolve_asset_graph()
    assert set(found) == {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert found["cleaned_text"]["isPartitioned"] and found["cleaned_text"]["hasAssetChecks"]
    assert not found["corpus_funnel"]["isPartitioned"]
