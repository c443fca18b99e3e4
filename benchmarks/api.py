"""The availability API against a bare psycopg query of the same rows, and channel sync's latency, in one run.

    .venv/bin/python -m benchmarks.api [--stores 20 --dcs 2 --skus 1000 --seed 5] [--lookups 2000]
        [--batches 100] [--json benchmarks/results/api.json]

Simulates a day of a retailer, runs the whole platform on it (`omni-inventory run`, in process),
then serves `omni-inventory api` on a free 127.0.0.1 port (uvicorn, one worker) and measures, each
side interleaved with the other so that both see the same machine:

- single lookups (GET channel x sku ats, GET location x sku atp) through one keep-alive connection
  of the standard library's HTTP client (the leanest client side)
  against the same row read by a bare psycopg connection of the same BI login, p50/p99 and ratios;
- batch lookups of 1,000 skus (POST .../lookup) against one bare `sku = any(...)` query;
- batch throughput: skus per second, one client and four at once;
- channel sync: a DC shipment lands, the micro-batch run the landing-zone sensor would start for it
  runs in process, and the time from the file landing to its availability file written.

The issue's goal: p99 <= 10 ms for a single lookup at the seed's scale (6 M positions; try
`--stores 3000 --skus 2000`, hours to build). A point lookup is an index probe: its cost grows with
the log of the table, so smaller worlds show the API's own overhead. Starts (or reuses) the
embedded PostgreSQL in a scratch folder unless OMNI_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks.common import report, scratch_warehouse

CLI = str(Path(sys.executable).with_name("omni-inventory"))
BATCH = 1000


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_api(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([CLI, "api", "--port", str(port)], env=dict(os.environ))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the API did not start in 60 s")


class ApiClient:
    """One keep-alive connection of the standard library's HTTP client: the leanest client side."""

    def __init__(self, port: int, key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"X-API-Key": key}

    def _answer(self) -> bytes:
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"the API answered {response.status}: {body[:200]!r}")
        return body

    def get(self, path: str) -> bytes:
        self.connection.request("GET", path, headers=self.headers)
        return self._answer()

    def post(self, path: str, body: bytes) -> bytes:
        self.connection.request(
            "POST", path, body=body, headers={**self.headers, "Content-Type": "application/json"}
        )
        return self._answer()


def compare(name: str, api: Callable[[], Any], bare: Callable[[], Any], rounds: int) -> dict[str, float]:
    """p50/p99 of both sides, interleaved, after a warm-up of each."""
    for _ in range(min(50, rounds)):
        api(), bare()
    api_ms, bare_ms = [], []
    for _ in range(rounds):
        api_ms.append(timed(api))
        bare_ms.append(timed(bare))
    figures = {
        f"{name}_api_p50_ms": percentile(api_ms, 0.5),
        f"{name}_api_p99_ms": percentile(api_ms, 0.99),
        f"{name}_bare_p50_ms": percentile(bare_ms, 0.5),
        f"{name}_bare_p99_ms": percentile(bare_ms, 0.99),
    }
    figures[f"{name}_p50_ratio_api_over_bare"] = (
        figures[f"{name}_api_p50_ms"] / figures[f"{name}_bare_p50_ms"]
    )
    figures[f"{name}_p99_ratio_api_over_bare"] = (
        figures[f"{name}_api_p99_ms"] / figures[f"{name}_bare_p99_ms"]
    )
    return {key: round(value, 3) for key, value in figures.items()}


def micro_batch_to_outbound(url: str, landing: Path, outbound: Path) -> tuple[float, int]:
    """Seconds from a shipment file landing to its outbound availability files, and the changes they carried."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.ingestion.sensors import batch_run_request
    from orchestration.lib.landing import scan

    with psycopg.connect(url) as conn:
        # the DC position with the most atp: shipping all of it moves the pools of the channels DCs serve
        location_id, sku, atp, as_of = conn.execute(
            "select p.location_id, p.sku, p.atp, p.as_of from marts.inventory_position as p"
            " join intermediate.int_locations__attributes as l using (location_id)"
            " where l.location_type = 'dc' order by p.atp desc, p.location_id, p.sku limit 1"
        ).fetchone()
    event_ts = (as_of + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    relative = "wms/movements/bench_shipment.csv"
    target = landing / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(".bench_shipment.csv.tmp")
    temporary.write_text(
        "event_id,location_id,sku,movement_type,qty,status,reference,event_ts\n"
        f"bench-1,{location_id},{sku},shipment,{-atp},available,BENCH,{event_ts}\n"
    )
    landed = time.time()
    temporary.rename(target)

    repository = defs.get_repository_def()
    request = batch_run_request([f for f in scan(landing) if f.relative == relative], repository)
    job = dg.define_asset_job(
        "bench_micro_batch", selection=dg.AssetSelection.assets(*request.asset_selection)
    )
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("bench_micro_batch")
    with dg.DagsterInstance.get() as instance:
        result = resolved.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    if not result.success:
        raise SystemExit("the micro-batch run failed")
    stamp = (as_of + timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ")
    files = list(outbound.glob(f"channel/*/availability_{stamp}*.jsonl"))
    if not files:
        return float("nan"), 0
    changes = sum(len(path.read_text().splitlines()) for path in files)
    return max(path.stat().st_mtime for path in files) - landed, changes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--dcs", type=int, default=2)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=2000, help="single lookups per side")
    parser.add_argument("--batches", type=int, default=100, help="1,000-sku batch lookups per side")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/api.json"))
    args = parser.parse_args()

    url = scratch_warehouse("omni_bench_api")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ.update(
            OMNI_DATABASE_URL=url,
            OMNI_HOME=str(home),
            OMNI_LANDING_DIR=str(Path(tmp) / "landing"),
            OMNI_API_RATE_LIMIT="1000000",
        )
        from orchestration.lib.bi_access import service_bi_url
        from orchestration.lib.settings import load_settings
        from orchestration.pipeline import run_everything
        from orchestration.simulator.config import SimulationConfig
        from orchestration.simulator.run import simulate

        settings = load_settings()
        print("simulating...", flush=True)
        simulate(
            SimulationConfig(
                stores=args.stores, dcs=args.dcs, skus=args.skus, days=1, seed=args.seed,
                landing_dir=settings.landing_dir, truth_dir=Path(tmp) / "truth", quiet=True,
            )
        )  # fmt: skip
        print("omni-inventory run...", flush=True)
        started = time.perf_counter()
        ok, message = run_everything(settings)
        if not ok:
            raise SystemExit(message)
        results: dict[str, Any] = {"full_run_s": round(time.perf_counter() - started, 1)}
        with psycopg.connect(url) as conn:
            positions = conn.execute("select count(*) from marts.atp_by_location").fetchone()[0]
            channel_rows = conn.execute("select channel_id, sku from marts.atp_by_channel").fetchall()
            location_rows = conn.execute("select location_id, sku from marts.atp_by_location").fetchall()
        results["scale"] = f"{args.stores} stores, {args.dcs} DCs, {args.skus} skus; {positions} positions"
        results["channel_rows"] = len(channel_rows)
        initial = sum(1 for _ in settings.channel_outbound_dir.glob("channel/*/*.jsonl"))
        results["initial_publication_files"] = initial

        key = subprocess.run([CLI, "api-key", "create", "bench"], capture_output=True, text=True, check=True)
        port = free_port()
        server = start_api(port)
        bare = psycopg.connect(service_bi_url(url, settings), autocommit=True)
        picker = random.Random(args.seed)
        try:
            client = ApiClient(port, key.stdout.strip())
            channel_id, sku = picker.choice(channel_rows)
            results |= compare(
                "channel_single",
                lambda: client.get(f"/v1/availability/channels/{channel_id}/skus/{sku}"),
                lambda: bare.execute(
                    "select ats, as_of from marts.atp_by_channel where channel_id = %s and sku = %s",
                    (channel_id, sku),
                ).fetchall(),
                args.lookups,
            )
            location_id, location_sku = picker.choice(location_rows)
            results |= compare(
                "location_single",
                lambda: client.get(f"/v1/availability/locations/{location_id}/skus/{location_sku}"),
                lambda: bare.execute(
                    "select atp, as_of from marts.atp_by_location where location_id = %s and sku = %s",
                    (location_id, location_sku),
                ).fetchall(),
                args.lookups,
            )
            skus = sorted({s for c, s in channel_rows if c == channel_id})
            batch = (skus * (BATCH // max(1, len(skus)) + 1))[:BATCH]
            lookup = f"/v1/availability/channels/{channel_id}/lookup"
            body = json.dumps({"skus": batch}).encode()
            results |= compare(
                "batch_1000",
                lambda: client.post(lookup, body),
                lambda: bare.execute(
                    "select sku, ats from marts.atp_by_channel where channel_id = %s and sku = any(%s)",
                    (channel_id, batch),
                ).fetchall(),
                args.batches,
            )
            results["batch_distinct_skus"] = len(set(batch))
            started = time.perf_counter()
            for _ in range(args.batches):
                client.post(lookup, body)
            results["batch_throughput_skus_per_s_1_client"] = round(
                args.batches * BATCH / (time.perf_counter() - started)
            )

            clients = [ApiClient(port, key.stdout.strip()) for _ in range(4)]
            for own in clients:  # connected and warm before the clock starts
                own.post(lookup, body)
            per_client = max(1, args.batches // 4)

            def client_batches(own: ApiClient) -> None:
                for _ in range(per_client):
                    own.post(lookup, body)

            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(client_batches, clients))
            four = per_client * 4 * BATCH / (time.perf_counter() - started)
            results["batch_throughput_skus_per_s_4_clients"] = round(four)
        finally:
            bare.close()
            server.terminate()
            server.wait(timeout=30)

        print("micro-batch: landed -> outbound file...", flush=True)
        seconds, changes = micro_batch_to_outbound(url, settings.landing_dir, settings.channel_outbound_dir)
        results["micro_batch_landed_to_outbound_file_s"] = round(seconds, 2)
        results["micro_batch_ats_changes_published"] = changes
        results["single_lookup_p99_within_10ms"] = results["channel_single_api_p99_ms"] <= 10
    report(results, args.json)


if __name__ == "__main__":
    main()
