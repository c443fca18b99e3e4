"""What `omni-inventory run` shows while it works and when it ends.

While the run executes (in the main thread: Dagster's in-process execution handles signals
there), a watcher thread reads the run's events from the Dagster instance, the record every UI
reads too, and draws one bar over the run's steps with the step at work and, while files load,
the file count. Without a terminal it prints one line per finished step instead, so that CI logs
and pipes stay readable. At the end, the open exceptions by severity and owner team: a run can
succeed and still leave work for people.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

import psycopg
from psycopg import sql
from tqdm import tqdm

from orchestration.lib.quality.exceptions import EXCEPTIONS

if TYPE_CHECKING:
    from dagster import DagsterInstance, EventLogRecord

# The ingest step logs each file as "[index/total] path: status" (defs/ingestion/assets.py).
FILE_PROGRESS = re.compile(r"^\[(?P<index>\d+)/(?P<total>\d+)\] ")
POLL_SECONDS = 0.5


class StepProgress:
    """Follows one run's events until stopped; draws a bar on a terminal, lines elsewhere."""

    def __init__(self, instance: DagsterInstance, run_id: str, total_steps: int, out: TextIO = sys.stderr):
        self.instance = instance
        self.run_id = run_id
        self.total_steps = total_steps
        self.out = out
        self.finished = 0
        self.started: dict[str, float] = {}
        self._cursor: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="omni-run-progress", daemon=True)
        self._bar = tqdm(
            total=total_steps, desc="run", unit="step", file=out, disable=not out.isatty(), leave=True
        )

    def __enter__(self) -> StepProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()  # the events written after the last poll
        self._bar.close()

    def _follow(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._read()
            except Exception:  # the run itself reports storage trouble; progress is best effort
                continue

    def _read(self) -> None:
        while True:
            page = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, limit=1000)
            for record in page.records:
                self._show(record)
            self._cursor = page.cursor
            if not page.has_more:
                return

    def _show(self, record: EventLogRecord) -> None:
        entry = record.event_log_entry
        step = entry.step_key
        event = entry.dagster_event
        if step is None:
            return
        if event is None:
            found = FILE_PROGRESS.match(entry.user_message or "")
            if found:
                self._bar.set_postfix_str(f"{step}: file {found['index']}/{found['total']}", refresh=True)
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[step] = entry.timestamp
            self._bar.set_postfix_str(step, refresh=True)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            self.finished += 1
            self._bar.update(1)
            if self._bar.disable:
                seconds = entry.timestamp - self.started.get(step, entry.timestamp)
                outcome = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_SKIPPED": "skipped"}[kind]
                print(
                    f"[{self.finished}/{self.total_steps}] {step}: {outcome} ({seconds:.1f}s)", file=self.out
                )


def open_exception_summary(url: str) -> list[str]:
    """Lines: the open exceptions by severity (blocking first) and owner team, with a total."""
    try:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                sql.SQL(
                    "select severity, owner_team, count(*) from {} where status = 'open'"
                    " group by 1, 2 order by severity = 'blocking' desc, severity, 3 desc, 2"
                ).format(EXCEPTIONS)
            ).fetchall()
    except psycopg.errors.UndefinedTable:  # nothing has been checked yet
        return []
    total = sum(r[2] for r in rows)
    if not total:
        return ["  no open exceptions"]
    lines = [f"  {total} open exception(s) (omni-inventory exceptions list):"]
    width = max(len(f"{r[0]} / {r[1]}") for r in rows)
    lines += [f"    {f'{r[0]} / {r[1]}'.ljust(width)}  {r[2]}" for r in rows]
    return lines


def elapsed(since: float) -> str:
    seconds = time.monotonic() - since
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"
