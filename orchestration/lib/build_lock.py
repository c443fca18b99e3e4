"""The lock that keeps dbt builds from overlapping, and what a build waiting on it says.

A session-level advisory lock on the warehouse (`omni.dbt_build`), held for the whole build and
released when its session ends, so a killed run never leaves the next one waiting. A build that
cannot take it at once waits in steps of REPORT_EVERY_SECONDS, and after each step says who holds
it (pid, login, application, since when): a stalled build is never silent (docs/contract.md
section 5). While dbt builds, a lock another session holds on a relation dbt replaces (a reader
in an open transaction) is reported the same way. Only the warehouse owner can take advisory locks at all (docs/security.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

BUILD_LOCK = "omni.dbt_build"
REPORT_EVERY_SECONDS = 5

HOLDER_SQL = """
select a.pid, a.usename, coalesce(nullif(a.application_name, ''), a.client_addr::text, 'local'),
       round(extract(epoch from now() - coalesce(a.xact_start, a.backend_start)))
from pg_locks l
join pg_stat_activity a using (pid)
where l.locktype = 'advisory' and l.granted and l.objsubid = 1
  and ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint
"""


def lock_holder(conn: psycopg.Connection, name: str = BUILD_LOCK) -> str | None:
    """Who holds the lock, in words; None when nobody does."""
    row = conn.execute(HOLDER_SQL, (name,)).fetchone()
    if row is None:
        return None
    pid, user, application, seconds = row
    return f"pid {pid} (login {user}, {application}, for {seconds:.0f} s)"


def take_build_lock(conn: psycopg.Connection, log: Callable[[str], None], name: str = BUILD_LOCK) -> float:
    """Wait for the lock on an autocommit connection, saying on whom; returns the seconds waited."""
    waited = 0.0
    conn.execute(f"set lock_timeout = '{REPORT_EVERY_SECONDS}s'")
    try:
        while True:
            try:
                conn.execute("select pg_advisory_lock(hashtext(%s))", (name,))
                return waited
            except psycopg.errors.LockNotAvailable:
                waited += REPORT_EVERY_SECONDS
                holder = lock_holder(conn, name) or "a session that has just ended"
                log(f"waiting {waited:.0f} s for the dbt build lock ({name}), held by {holder}")
    finally:
        conn.execute("reset lock_timeout")


# dbt's sessions (dbt-postgres names them "dbt") waiting on a lock someone else holds: a reader
# keeping a mart open blocks the rename that replaces it.
BLOCKED_DBT_SQL = """
select distinct b.pid, b.usename, coalesce(nullif(b.application_name, ''), b.client_addr::text, 'local'),
       round(extract(epoch from now() - coalesce(b.xact_start, b.backend_start)))
from pg_stat_activity as w
cross join lateral unnest(pg_blocking_pids(w.pid)) as blocker(pid)
join pg_stat_activity as b on b.pid = blocker.pid
where w.application_name = 'dbt' and w.datname = current_database() and w.wait_event_type = 'Lock'
  and b.application_name is distinct from 'dbt'
"""


@contextmanager
def reporting_blocked_build(url: str, log: Callable[[str], None]) -> Iterator[None]:
    """While the body runs dbt, say every REPORT_EVERY_SECONDS who holds a lock dbt waits on."""
    stop = threading.Event()

    def watch() -> None:
        try:
            with psycopg.connect(url, autocommit=True, application_name="omni build watcher") as conn:
                while not stop.wait(REPORT_EVERY_SECONDS):
                    for pid, user, application, seconds in conn.execute(BLOCKED_DBT_SQL).fetchall():
                        log(
                            f"dbt waits for a lock held by pid {pid} (login {user}, {application}, "
                            f"for {seconds:.0f} s): it builds on once that session ends or commits"
                        )
        except psycopg.Error:  # the build reports outages itself; this report is best effort
            return

    watcher = threading.Thread(target=watch, name="dbt lock watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=REPORT_EVERY_SECONDS + 5)
