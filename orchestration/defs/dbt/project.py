"""The dbt project as Dagster sees it, and the preparation of its manifest.

Loading the code location reads `dbt_project/target/manifest.json`; it never parses the project.
The manifest is prepared ahead: `prepare_manifest()` (run by the CLI before it starts Dagster,
and by CI) regenerates the sources YAML from the feed registry if needed and runs `dbt parse`
when the manifest is missing or older than any project file. `python -m
orchestration.defs.dbt.project` does the same from a shell.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.lib.dbt_runner import parse_profile
from orchestration.lib.dbt_sources import write_files as write_generated_sources
from orchestration.lib.settings import DBT_PROJECT_DIR

log = logging.getLogger(__name__)

TARGET_DIR = "target"
# Files under these folders are dbt's output, not project sources.
_OUTPUT_DIRS = frozenset({"target", "logs", "dbt_packages"})
_PROJECT_SUFFIXES = frozenset({".sql", ".yml", ".yaml", ".md", ".csv"})

DBT_PROJECT = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=Path(TARGET_DIR)
)


def manifest_path() -> Path:
    return Path(DBT_PROJECT.manifest_path)


def project_files(project_dir: Path = DBT_PROJECT_DIR) -> Iterator[Path]:
    """The files whose change invalidates the manifest."""
    for folder, subfolders, files in os.walk(project_dir):
        if Path(folder) == project_dir:  # never descend into dbt's output (thousands of files)
            subfolders[:] = [name for name in subfolders if name not in _OUTPUT_DIRS]
        for name in files:
            if Path(name).suffix in _PROJECT_SUFFIXES:
                yield Path(folder, name)


def manifest_is_current(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / TARGET_DIR / "manifest.json"
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    return all(path.stat().st_mtime <= built for path in project_files(project_dir))


def prepare_manifest(*, force: bool = False) -> Path:
    """Make `dbt_project/target/manifest.json` current; returns its path.

    Regenerates the sources YAML from the feed registry when it is stale, then runs `dbt parse`
    (about 5 s) only when the manifest is missing, older than a project file, or `force`.
    """
    changed = write_generated_sources(DBT_PROJECT_DIR)
    if changed:
        log.info("regenerated dbt sources from the feed registry: %s", ", ".join(map(str, changed)))
    if force or changed or not manifest_is_current():
        from dbt.cli.main import dbtRunner  # seconds of imports: only when parsing

        target = str(DBT_PROJECT_DIR / TARGET_DIR)
        with parse_profile():  # the profile every runtime parse uses: its state serves them
            result = dbtRunner().invoke(
                ["parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                 "--target-path", target, "--log-path", target]
            )  # fmt: skip
        if not result.success:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
    return manifest_path()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(prepare_manifest(force="--force" in sys.argv[1:]))
