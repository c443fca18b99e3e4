"""A publisher stopped between its phases, for the crash tests: `python -m tests.api.publisher_driver PHASE`.

It runs the real phases of orchestration/lib/channel_publisher.py on OMNI_DATABASE_URL and
OMNI_OUTBOUND_DIR up to PHASE (`recorded`: the changes claimed by pending batches; `written`:
their files renamed into place too), prints `ready` and waits to be SIGKILLed before it marks them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psycopg

from orchestration.lib.channel_publisher import PUBLISH_LOCK, ensure_ledger, record_changes, write_batches


def main(phase: str) -> None:
    outbound = Path(os.environ["OMNI_OUTBOUND_DIR"])
    with psycopg.connect(os.environ["OMNI_DATABASE_URL"], autocommit=True) as conn:
        ensure_ledger(conn)
        conn.execute("select pg_advisory_lock(hashtext(%s))", (PUBLISH_LOCK,))
        batches = record_changes(conn)
        if phase == "written":
            write_batches(conn, batches, outbound)
        print("ready", len(batches), flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1])
