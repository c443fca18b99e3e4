"""Mart suites that validate the rows dbt rewrote (meta.changed_rows_from), against a real
PostgreSQL and real Great Expectations: the same findings as validating every row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest

from orchestration.lib.quality.settings import QualityConfigError
from orchestration.lib.quality.suites import SUITES_SUBDIR, parse_suite
from orchestration.lib.quality.validation import SuiteOutcome, validate_marts
from orchestration.lib.settings import EXPECTATIONS_DIR
from tests.support.quality import gx_findings

SUITE = "mart_test.positions"


def expectation(kind: str, kwargs: dict, check_name: str, exception_type: str) -> dict:
    return {
        "type": kind,
        "kwargs": kwargs,
        "meta": {
            "check_name": check_name,
            "severity": "blocking",
            "exception_type": exception_type,
            "report_keys": ["location_id", "sku"],
        },
    }


def suite_document(**meta: object) -> dict:
    return {
        "name": SUITE,
        "meta": {"table": SUITE, "index_columns": ["location_id", "sku"], **meta},
        "expectations": [
            expectation("expect_column_values_to_not_be_null", {"column": "location_id"}, "location_id_not_null", "MISSING_KEY"),
            expectation("expect_column_values_to_be_between", {"column": "atp", "min_value": 0}, "atp_not_negative", "NEGATIVE_QUANTITY"),
        ],
    }  # fmt: skip


@pytest.fixture
def mart(db_url: str, tmp_path: Path) -> Path:
    """An incremental table stamped with _run_seq, the mart view over it, and an expectations
    folder whose only mart suite is the view's, validating changed rows."""
    with psycopg.connect(db_url) as conn:
        conn.execute("create schema mart_test")
        conn.execute(
            "create table mart_test.position_rows (location_id text not null, sku text not null,"
            " atp integer not null, _run_seq bigint not null, primary key (location_id, sku))"
        )
        conn.execute("create index on mart_test.position_rows (_run_seq)")
        conn.execute(
            "create view mart_test.positions as select location_id, sku, atp from mart_test.position_rows"
        )
    directory = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, directory, ignore=shutil.ignore_patterns("uncommitted"))
    for folder in (directory / SUITES_SUBDIR).iterdir():
        if folder.is_dir() and folder.name != "raw":
            shutil.rmtree(folder)
    suite_path = directory / SUITES_SUBDIR / "mart_test" / "positions.json"
    suite_path.parent.mkdir()
    suite_path.write_text(json.dumps(suite_document(changed_rows_from="mart_test.position_rows")))
    return directory


def build(url: str, run_seq: int, rows: list[tuple[str, str, int]]) -> None:
    """What a dbt build does to the table: rewrite some rows, stamped with its run_seq."""
    with psycopg.connect(url) as conn:
        conn.cursor().executemany(
            "insert into mart_test.position_rows values (%s, %s, %s, %s)"
            " on conflict (location_id, sku) do update set atp = excluded.atp, _run_seq = excluded._run_seq",
            [(*row, run_seq) for row in rows],
        )


def validate(url: str, directory: Path) -> SuiteOutcome:
    [outcome] = validate_marts(url, directory=directory)
    return outcome


def negative_atp(url: str) -> set[str]:
    return {f[3] for f in gx_findings(url) if f[0] == SUITE and f[1] == "atp_not_negative"}


def key(location: str, sku: str) -> str:
    return json.dumps({"sku": sku, "location_id": location})


def test_only_rewritten_rows_and_open_findings_are_validated(db_url: str, mart: Path) -> None:
    build(db_url, 1, [("L1", "A", 5), ("L1", "B", -1), ("L2", "A", 3)])
    first = validate(db_url, mart)
    assert first.batch == f"every row of {SUITE}" and first.batch_rows == 3
    assert negative_atp(db_url) == {key("L1", "B")}

    # a build rewrites one row into a failure and adds one: the old failure is re-checked, not lost
    build(db_url, 2, [("L2", "A", -4), ("L3", "A", 1)])
    second = validate(db_url, mart)
    assert second.batch == "2 row(s) rewritten since build 1, 1 open finding(s) re-checked"
    assert negative_atp(db_url) == {key("L1", "B"), key("L2", "A")}
    [atp_check] = [e for e in second.expectations if e.check_name == "atp_not_negative"]
    assert not atp_check.success and atp_check.unexpected_count == 2

    # the next build mends L1/B: its finding resolves; L2/A, untouched, still fails
    build(db_url, 3, [("L1", "B", 0)])
    third = validate(db_url, mart)
    assert third.batch == "1 row(s) rewritten since build 2, 2 open finding(s) re-checked"
    assert negative_atp(db_url) == {key("L2", "A")}

    # validating every row agrees
    with psycopg.connect(db_url) as conn:
        conn.execute("update quality.gx_validations set validated_through = null where suite = %s", (SUITE,))
    full = validate(db_url, mart)
    assert full.batch == f"every row of {SUITE}" and full.batch_rows == 4
    assert negative_atp(db_url) == {key("L2", "A")}


def test_a_build_that_rewrote_nothing_runs_no_expectation(db_url: str, mart: Path) -> None:
    build(db_url, 1, [("L1", "A", 5)])
    validate(db_url, mart)
    quiet = validate(db_url, mart)
    assert quiet.batch == "0 row(s) rewritten since build 1, 0 open finding(s) re-checked"
    assert quiet.validated_now and all(e.success for e in quiet.expectations)


def test_changed_rows_need_expectations_that_judge_each_row_alone() -> None:
    document = suite_document(changed_rows_from="mart_test.position_rows")
    document["expectations"].append(
        expectation("expect_column_values_to_be_unique", {"column": "sku"}, "sku_unique", "DUPLICATE_KEY")
    )
    with pytest.raises(QualityConfigError, match="cannot judge sku_unique"):
        parse_suite(document, "positions.json")
    tolerant = suite_document(changed_rows_from="mart_test.position_rows")
    tolerant["expectations"][1]["kwargs"]["mostly"] = 0.95
    with pytest.raises(QualityConfigError, match="cannot judge atp_not_negative"):
        parse_suite(tolerant, "positions.json")
    assert parse_suite(suite_document(), "positions.json").changed_rows_from is None


def test_a_changed_rows_table_that_does_not_exist_is_named(db_url: str, mart: Path) -> None:
    suite_path = mart / SUITES_SUBDIR / "mart_test" / "positions.json"
    suite_path.write_text(json.dumps(suite_document(changed_rows_from="mart_test.no_such_rows")))
    with pytest.raises(
        QualityConfigError, match=r"changed_rows_from names mart_test\.no_such_rows, which does not exist"
    ):
        validate_marts(db_url, directory=mart)
