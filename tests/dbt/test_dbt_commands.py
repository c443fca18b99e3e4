"""dbt's own commands work from a fresh checkout against an empty warehouse (no on-run-start row)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestration.lib.database import dbt_env
from orchestration.lib.feeds import FEEDS_BY_ID
from orchestration.lib.settings import DBT_PROJECT_DIR

DBT = str(Path(sys.executable).with_name("dbt"))


def _dbt(url: str, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DBT_"))} | dbt_env(url)
    command = [DBT, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    command += ["--target-path", str(target)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_compile_and_docs_generate_need_no_build_bookkeeping(db_url: str, tmp_path: Path) -> None:
    compiled = _dbt(db_url, tmp_path, "compile")
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    position = next((tmp_path / "compiled").rglob("int_inventory__positions.sql")).read_text()
    assert "meta.dbt_runs has no row" not in compiled.stdout and "select" in position.lower()

    generated = _dbt(db_url, tmp_path, "docs", "generate")
    assert generated.returncode == 0, generated.stdout[-3000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) > 40 and all(
        m["compiled_code"] for m in models if m["config"]["materialized"] != "ephemeral"
    )
    assert (tmp_path / "catalog.json").exists() and (tmp_path / "index.html").exists()
    # the consumers outside dbt, and every feed's freshness from its SLA
    assert {e["name"] for e in manifest["exposures"].values()} >= {"availability_api", "finance_close"}
    sales = next(s for s in manifest["sources"].values() if s["name"] == "pos__sales")
    sla = FEEDS_BY_ID["pos/sales"].sla_minutes
    assert sales["freshness"]["warn_after"] == {"count": sla, "period": "minute"}
