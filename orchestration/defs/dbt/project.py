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
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from orchestration.lib.dbt_sources import write_files as write_generated_sources
from orchestration.lib.settings import DBT_PROJECT_DIR

log = logging.getLogger(__name__)

TARGET_DIR = "target"
# Files under these folders are dbt's output, not project sources.
_OUTPUT_DIRS = frozenset({"target", "logs", "dbt_packages"})
_PROJECT_SUFFIXES = frozenset({".sql", ".yml", ".yaml", ".md", ".csv"})
# The profile reads these; `dbt parse` renders the profile but never connects.
_PROFILE_VARIABLES = ("OMNI_PG_HOST", "OMNI_PG_PORT", "OMNI_PG_USER", "OMNI_PG_PASSWORD", "OMNI_PG_DBNAME")
_PARSE_PLACEHOLDERS = {
    "OMNI_PG_HOST": "127.0.0.1",
    "OMNI_PG_PORT": "5432",
    "OMNI_PG_USER": "postgres",
    "OMNI_PG_PASSWORD": "",
    "OMNI_PG_DBNAME": "postgres",
}

DBT_PROJECT = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=Path(TARGET_DIR)
)
# The dbt installed next to this interpreter (the venv's bin/ is not always on PATH).
_VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else "dbt"


def dbt_cli_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=DBT_PROJECT, profiles_dir=str(DBT_PROJECT.profiles_dir), dbt_executable=DBT_EXECUTABLE
    )


def manifest_path() -> Path:
    return Path(DBT_PROJECT.manifest_path)


def project_files(project_dir: Path = DBT_PROJECT_DIR) -> Iterator[Path]:
    """The files whose change invalidates the manifest."""
    for path in project_dir.rglob("*"):
        relative = path.relative_to(project_dir)
        if relative.parts and relative.parts[0] in _OUTPUT_DIRS:
            continue
        if path.is_file() and path.suffix in _PROJECT_SUFFIXES:
            yield path


def manifest_is_current(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / TARGET_DIR / "manifest.json"
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    return all(path.stat().st_mtime <= built for path in project_files(project_dir))


@contextmanager
def _parse_environment() -> Iterator[None]:
    """Placeholders for the profile's variables the environment does not set (parse never connects)."""
    missing = {name: _PARSE_PLACEHOLDERS[name] for name in _PROFILE_VARIABLES if name not in os.environ}
    os.environ.update(missing)
    try:
        yield
    finally:
        for name in missing:
            os.environ.pop(name, None)


def prepare_manifest(*, force: bool = False) -> Path:
    """Make `dbt_project/target/manifest.json` current; returns its path.

    Regenerates the sources YAML from the feed registry when it is stale, then runs `dbt parse`
    (about 5 s) only when the manifest is missing, older than a project file, or `force`.
    """
    changed = write_generated_sources(DBT_PROJECT_DIR)
    if changed:
        log.info("regenerated dbt sources from the feed registry: %s", ", ".join(map(str, changed)))
    if force or changed or not manifest_is_current():
        with _parse_environment():
            dbt_cli_resource().cli(["parse", "--quiet"], target_path=DBT_PROJECT.target_path).wait()
    return manifest_path()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(prepare_manifest(force="--force" in sys.argv[1:]))
