"""The dbt sources YAML is generated from the feed registry and committed: it must be current."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from orchestration.lib import dbt_sources
from orchestration.lib.feeds import FEEDS
from orchestration.lib.settings import DBT_PROJECT_DIR


def test_generated_sources_are_up_to_date() -> None:
    stale = dbt_sources.stale_files(DBT_PROJECT_DIR)
    assert not stale, f"run `python -m orchestration.lib.dbt_sources`; stale: {stale}"
    assert dbt_sources.main(["--check"]) == 0


def test_every_feed_is_a_raw_source_table_with_its_columns_and_rules() -> None:
    tables = {}
    for path in dbt_sources.rendered_files(DBT_PROJECT_DIR):
        if path.suffix != ".yml":  # the generated macro listing the feeds (below)
            continue
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                tables[(source["name"], table["name"])] = table
    for feed in FEEDS:
        table = tables[("raw", feed.raw_table)]  # dagster-dbt key ["raw", "<source>__<feed>"]
        columns = {c["name"]: c for c in table["columns"]}
        assert [c.name for c in feed.columns] == list(columns)[: len(feed.columns)]
        assert {"_load_id", "_loaded_at"} <= set(columns)
        for col in feed.columns:
            entry = columns[col.name]
            assert entry["description"] == col.description
            # rules are documented, not dbt tests: GX checks each new load instead of dbt
            # scanning the whole raw table on every build
            assert "data_tests" not in entry
            assert entry["meta"]["not_null"] == (col.name in feed.not_null_columns)
            assert entry["meta"].get("allowed_values") == (list(col.allowed) if col.allowed else None)
            # what staging needs to skip a row no model can use (macros/usable_rows.sql)
            assert entry["meta"].get("value_required", False) == (col.name in feed.required_value_columns)
            assert entry["meta"].get("max_abs") == col.value_limit
    macro = (DBT_PROJECT_DIR / "macros" / "generated_raw_feeds.sql").read_text()
    assert all(f"('{feed.feed_id}', '{feed.raw_table}')" in macro for feed in FEEDS)
    assert ("meta", "file_ledger") in tables


def test_check_fails_when_a_generated_file_is_edited(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR / "models", project / "models")
    shutil.copytree(DBT_PROJECT_DIR / "macros", project / "macros")
    assert dbt_sources.main(["--check", "--project-dir", str(project)]) == 0
    edited = project / "models" / "staging" / "pos" / "_pos__sources.yml"
    edited.write_text(edited.read_text().replace("Store till stock counts", "Till counts"))
    assert dbt_sources.main(["--check", "--project-dir", str(project)]) == 1
    assert dbt_sources.write_files(project) == [edited]
    assert dbt_sources.main(["--check", "--project-dir", str(project)]) == 0
