"""What a data engineer sees in the Dagster UI, read through the webserver's GraphQL API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from orchestration.lib.settings import PROJECT_DIR

WEBSERVER = str(Path(sys.executable).with_name("dagster-webserver"))
ASSETS_QUERY = """
{ assetNodes { assetKey { path } groupName description isAutoCreatedStub
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    internalFreshnessPolicy { ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds } }
    assetChecksOrError { ... on AssetChecks { checks { name description blocking } } } } }
"""
METADATA_QUERY = """
{ assetNodes { assetKey { path }
    metadataEntries { label __typename ... on TextMetadataEntry { text }
      ... on TableSchemaMetadataEntry { schema { columns { name type description
        constraints { nullable unique other } } } }
      ... on CodeReferencesMetadataEntry { codeReferences { ... on LocalFileCodeReference { filePath } } } }
    assetChecksOrError { ... on AssetChecks { checks { name description } } } } }
"""
# Metadata the UI itself hides (dagster-dbt's bookkeeping objects); everything else it shows.
HIDDEN_BY_THE_UI = {"dagster_dbt/manifest", "dagster_dbt/dagster_dbt_translator"}
BUSINESS_AREAS = {
    "ingestion",
    "inventory",
    "availability",
    "quality",
    "replenishment",
    "finance",
    "ops",
    "ai",
}


@pytest.fixture(scope="module")
def graphql(tmp_path_factory: pytest.TempPathFactory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path_factory.mktemp("dagster_home")  # an instance of its own: no database needed
    env = clean_environment() | {"DAGSTER_HOME": str(home)}
    command = [WEBSERVER, "-w", str(PROJECT_DIR / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/graphql"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                if requests.post(url, json={"query": "{ version }"}, timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the webserver did not answer within 180 s"
            time.sleep(0.5)
        yield lambda query: requests.post(url, json={"query": query}, timeout=60).json()["data"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_asset_has_an_area_an_owner_and_a_description_and_no_stub_is_left(graphql) -> None:
    nodes = graphql(ASSETS_QUERY)["assetNodes"]
    assert len(nodes) > 80
    for node in nodes:
        key = "/".join(node["assetKey"]["path"])
        assert node["groupName"] in BUSINESS_AREAS, key
        assert node["owners"] and node["owners"][0].get("team"), key
        assert node["description"], key
        assert not node["isAutoCreatedStub"], key


def test_feeds_show_their_sla_and_dbt_tests_say_what_they_check_and_that_they_block(graphql) -> None:
    from orchestration.lib.feeds import FEEDS_BY_ID

    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(ASSETS_QUERY)["assetNodes"]}
    sla_seconds = FEEDS_BY_ID["pos/sales"].sla_minutes * 60
    assert nodes["raw/pos__sales"]["internalFreshnessPolicy"] == {
        "failWindowSeconds": 4 * sla_seconds,
        "warnWindowSeconds": sla_seconds,
    }
    checks = {c["name"]: c for c in nodes["marts/atp_network"]["assetChecksOrError"]["checks"]}
    assert checks["unique_atp_network_sku"] == {
        "name": "unique_atp_network_sku",
        "description": "dbt test: `sku` is unique; blocks the assets downstream when it fails.",
        "blocking": True,
    }
    assert checks["atp_network__non_negative"]["description"].startswith("dbt test: `atp` is never negative")
    every_check = [c for n in nodes.values() for c in (n["assetChecksOrError"] or {}).get("checks", [])]
    assert len(every_check) > 100 and all(c["description"] for c in every_check)


def test_the_ui_shows_no_unserializable_metadata_and_each_dbt_model_links_its_sql(graphql) -> None:
    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(METADATA_QUERY)["assetNodes"]}
    for key, node in nodes.items():
        shown = [e for e in node["metadataEntries"] if e["label"] not in HIDDEN_BY_THE_UI]
        assert not [e["label"] for e in shown if "(unserializable)" in (e.get("text") or "")], key
    entries = {e["label"]: e for e in nodes["marts/atp_network"]["metadataEntries"]}
    assert "dagster_dbt/project" not in entries
    [reference] = entries["dagster/code_references"]["codeReferences"]
    assert reference["filePath"] == str(PROJECT_DIR / "dbt_project/models/marts/availability/atp_network.sql")
    assert Path(reference["filePath"]).exists()


def test_the_exceptions_table_shows_its_columns_and_checks(graphql) -> None:
    from orchestration.lib.quality.schema import ddl_columns

    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(METADATA_QUERY)["assetNodes"]}
    node = nodes["quality/inventory_exceptions"]
    entries = {e["label"]: e for e in node["metadataEntries"]}
    columns = entries["dagster/column_schema"]["schema"]["columns"]
    assert [(c["name"], c["type"]) for c in columns] == [
        (c.name, c.type) for c in ddl_columns("inventory_exceptions")
    ]
    by_name = {c["name"]: c for c in columns}
    assert (
        by_name["exception_id"]["constraints"]["unique"]
        and not by_name["exception_id"]["constraints"]["nullable"]
    )
    assert by_name["status"]["constraints"]["other"] == ["status in ('open', 'resolved')"]
    assert by_name["detected_at"]["description"] == "as_of when the current open episode began"
    checks = {c["name"]: c["description"] for c in node["assetChecksOrError"]["checks"]}
    assert set(checks) == {
        "open_exceptions_have_a_known_owner_team",
        "lifecycle_times_in_order",
        "status_matches_the_history",
    }
    assert all(checks.values())


def clean_environment() -> dict[str, str]:
    """No DAGSTER_HOME and no OMNI_* variable: a bare checkout."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DAGSTER_"))}


@pytest.mark.parametrize(
    "command",
    [["dagster", "definitions", "validate", "-w", "workspace.yaml"], ["dg", "check", "defs"]],
    ids=["dagster-definitions-validate", "dg-check-defs"],
)
def test_dagsters_own_tools_load_the_code_location_from_the_repository_root(command: list[str]) -> None:
    executable = str(Path(sys.executable).with_name(command[0]))
    done = subprocess.run(
        [executable, *command[1:]],
        cwd=PROJECT_DIR,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert (
        "All code locations passed validation" if command[0] == "dagster" else "All definitions loaded"
    ) in output
    # the instance settings are not at the root, where these tools would read them
    assert not (PROJECT_DIR / "dagster.yaml").exists()
