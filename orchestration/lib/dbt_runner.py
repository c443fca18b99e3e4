"""dbt commands inside the calling process, the project parsed once per process.

A dbt CLI call costs seconds before any SQL (interpreter start, imports, parse); a micro-batch
pays that on every dbt step. Here the project is parsed once per process with dbt's `dbtRunner`
(partial parsing from the prepared `target/partial_parse.msgpack`), and every command reuses the
parsed manifest, so a command costs only its compile and SQL.

Parsing never connects, but dbt re-parses from scratch whenever the profile differs from the one
the saved state was parsed with. So every parse here - and the build-time one that prepares
`target/` (orchestration/defs/dbt/project.py) - renders one fixed placeholder profile
(PARSE_PROFILE), and the prepared state always serves. The parsed manifest names the placeholder
database in every relation; it is re-pointed at the environment's database (OMNI_PG_DBNAME, see
lib/database.py), which can also change within a process (tests use one database each). Commands
connect with the real profile: with a manifest given, dbt reads the profile but does not parse.
dbt keeps global state, so commands in one process run one at a time.

Between its SQL statements dbt is CPU-bound; lib/dbt_fixed_cost.py trims what it repeats for
every node (a new database session, a new agate type tester per fetched result).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt.cli.main import dbtRunner, dbtRunnerResult

from orchestration.lib.dbt_fixed_cost import less_fixed_cost_per_node

log = logging.getLogger(__name__)

DATABASE_VARIABLE = "OMNI_PG_DBNAME"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# What profiles.yml reads while parsing (lib/database.py dbt_env sets the real values).
PARSE_PROFILE = {
    "OMNI_PG_HOST": "127.0.0.1",
    "OMNI_PG_PORT": "5432",
    "OMNI_PG_USER": "postgres",
    "OMNI_PG_PASSWORD": "",
    "OMNI_PG_DBNAME": "postgres",
}


@contextmanager
def temporary_environment(values: dict[str, str]) -> Iterator[None]:
    """The environment with `values` set, restored afterwards (also variables that were unset)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def parse_profile() -> AbstractContextManager[None]:
    """The environment with the fixed parse profile in place of the real one."""
    return temporary_environment(PARSE_PROFILE)


# Node statuses that make a command fail, with the node named in the error.
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


# Words of PostgreSQL/driver errors that mean the database went away, not that the data is bad.
OUTAGE_HINTS = (
    "connection refused",
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "the database system is starting up",
    "the database system is shutting down",
    "connection reset by peer",
    "timeout expired",
)


class DbtCommandError(RuntimeError):
    """A dbt command failed; the message names every failed node and its error.

    `outage` says whether the database went away (worth retrying after a delay) rather than a
    model or test failing on the data (retrying would fail the same way).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.outage = any(hint in message.lower() for hint in OUTAGE_HINTS)


def failure_summary(result: dbtRunnerResult) -> str:
    if result.exception is not None:
        return f"{type(result.exception).__name__}: {result.exception}"
    lines = []
    for node_result in getattr(result.result, "results", None) or []:
        status = str(node_result.status)
        if status in FAILED_STATUSES:
            node = getattr(node_result, "node", None)  # run-operation results have none
            name = node.unique_id if node is not None else getattr(node_result, "unique_id", "operation")
            lines.append(f"{name}: {status}: {(node_result.message or '').strip()}")
    return "\n".join(lines) or "dbt failed without naming a node"


def _retarget(manifest: Any, old: str, new: str) -> None:
    """Point every relation of `manifest` parsed against database `old` at database `new`."""
    old_prefix, new_prefix = f'"{old}".', f'"{new}".'
    for node in (*manifest.nodes.values(), *manifest.sources.values(), *manifest.unit_tests.values()):
        if getattr(node, "database", None) == old:
            node.database = new
        relation_name = getattr(node, "relation_name", None)
        if relation_name and relation_name.startswith(old_prefix):
            node.relation_name = new_prefix + relation_name[len(old_prefix) :]


@dataclass
class InProcessDbt:
    """One dbt project, run in this process: `invoke(["build", "--select", ...])`."""

    project_dir: Path
    profiles_dir: Path
    # Where the prepared partial-parse state lives (dbt_project/target); read, never written.
    parse_target: Path
    _manifest: Any = field(default=None, init=False, repr=False)
    # Why the last parse could not use the prepared state (None: it did); a full parse costs ~20 s.
    full_parse_reason: str | None = field(default=None, init=False)
    _database: str | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _flags(self, target_path: Path) -> list[str]:
        return [
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.profiles_dir),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path),
            # No log lines and no JSON artifacts: the results come back as events and Python
            # objects, and a log line or run_results.json costs CPU on every node (dbt is
            # CPU-bound between its SQL statements).
            "--log-level",
            "none",
            "--log-level-file",
            "none",
            "--no-write-json",
        ]

    def manifest(self) -> Any:
        """The parsed project, pointed at the environment's database; parsed on first use."""
        with self._lock:
            return self._current_manifest()

    def _current_manifest(self) -> Any:
        database = os.environ.get(DATABASE_VARIABLE, "")
        if self._manifest is None:
            self._manifest = self._parse()
            self._database = PARSE_PROFILE[DATABASE_VARIABLE]
        if database and database != self._database:
            _retarget(self._manifest, self._database or "", database)
            self._database = database
        return self._manifest

    def _parse(self) -> Any:
        """Parse the project in a scratch copy of the prepared target folder.

        Partial parsing reads the prepared state, so a parse costs about a second instead of a
        full one; writing into a copy keeps parallel processes (runs, test workers) from writing
        over each other's state or over the manifest the code location loads.
        """
        scratch = Path(tempfile.mkdtemp(prefix="omni-dbt-parse-"))
        refusals: list[str] = []

        def keep_refusal(event: Any) -> None:
            if event.info.name == "UnableToPartialParse":
                refusals.append(str(event.data.reason))

        try:
            state = self.parse_target / PARTIAL_PARSE_FILE
            if state.exists():
                shutil.copy2(state, scratch / PARTIAL_PARSE_FILE)
            with parse_profile():
                result = dbtRunner(callbacks=[keep_refusal]).invoke(["parse", *self._flags(scratch)])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not result.success:
            raise DbtCommandError(f"dbt parse failed: {failure_summary(result)}")
        self.full_parse_reason = refusals[0] if refusals else None
        if self.full_parse_reason:
            log.warning(
                "dbt parsed the project from scratch (%s); run `omni-inventory prepare` so that "
                "each run process parses from the prepared state in about a second",
                self.full_parse_reason,
            )
        return result.result

    def invoke(
        self,
        args: Sequence[str],
        *,
        callbacks: Sequence[Callable[[Any], None]] = (),
        raise_on_failure: bool = True,
    ) -> dbtRunnerResult:
        """Run one dbt command (`args` as on the command line, without project flags).

        Artifacts (compiled SQL, run_results.json) go to a scratch folder removed afterwards, so
        that concurrent processes never write over each other's files.
        """
        errors: list[str] = []  # dbt's error lines: some failures (run-operation) carry no node message

        def keep_errors(event: Any) -> None:
            if event.info.level == "error" and event.info.msg:
                errors.append(str(event.info.msg).strip())

        with self._lock:
            manifest = self._current_manifest()
            scratch = Path(tempfile.mkdtemp(prefix="omni-dbt-"))
            try:
                with less_fixed_cost_per_node():
                    result = dbtRunner(manifest=manifest, callbacks=[*callbacks, keep_errors]).invoke(
                        [*args, *self._flags(scratch)]
                    )
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        if raise_on_failure and not result.success:
            details = "\n".join(dict.fromkeys([failure_summary(result), *errors]))
            raise DbtCommandError(f"dbt {' '.join(args)} failed:\n{details}")
        return result
