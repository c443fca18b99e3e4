"""The dashboard in a real browser: a small simulated retailer built by `omni-inventory run`, the
real `omni-inventory dashboard` server on a free 127.0.0.1 port, and Debian's headless chromium
loading each page (its DOM after the callbacks ran, and a screenshot under the test's tmp dir)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from orchestration.dashboard.app import PAGES

CLI = str(Path(sys.executable).with_name("omni-inventory"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Locally a missing browser skips; in CI (.ci/run installs it) the fixture fails instead.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="no chromium on this machine (CI installs it)"
)


@dataclass
class Served:
    owner_url: str
    base: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(server: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/", timeout=5).close()
            return
        except OSError:
            assert server.poll() is None, server.stdout.read().decode()[-3000:] if server.stdout else ""
            assert time.monotonic() < deadline, "the dashboard did not answer within 120 s"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def served(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from tests.support.postgres import create_database

    assert CHROMIUM, "chromium is missing: .ci/run installs it with apt-get"
    home = tmp_path_factory.mktemp("dashboard")
    url = create_database(pg_server, "dashboard_world")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DAGSTER_"))}
    env.update(OMNI_DATABASE_URL=url, OMNI_HOME=str(home))
    # A day that ends now (as the demo does), with faults so that every page has findings.
    start = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:00:00Z")
    simulate = [CLI, "simulate", "--stores", "3", "--dcs", "1", "--skus", "20", "--days", "1", "--seed", "5",
                "--faults", "0.05", "--start", start, "--quiet"]  # fmt: skip
    subprocess.run(simulate, env=env, check=True, timeout=300)
    built = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    base = f"http://127.0.0.1:{_free_port()}"
    server = subprocess.Popen(
        [CLI, "dashboard", "--port", base.rsplit(":", 1)[1]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_serving(server, base)
        yield Served(url, base)
    finally:
        server.terminate()
        server.wait(timeout=30)


def render(page_url: str, shot: Path) -> str:
    """The page's DOM once its callbacks have drawn it; a screenshot of it at `shot`."""
    browser = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1400",
               "--virtual-time-budget=15000", f"--screenshot={shot}", "--dump-dom", page_url]  # fmt: skip
    return subprocess.run(browser, capture_output=True, text=True, timeout=120, check=True).stdout


def ids(url: str, query: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(row[0]) for row in conn.execute(query).fetchall() if row[0] is not None}


def test_every_page_renders_its_panels_and_charts_with_the_worlds_ids(served: Served, tmp_path: Path) -> None:
    url = served.owner_url
    expected = {
        "operations": ids(url, "select distinct feed from ops.feed_load_latency"),
        "exceptions": ids(url, "select distinct owner_team from quality.exception_queue")
        | ids(url, "select distinct location_id from quality.inventory_exceptions where status = 'open'"),
        "allocation": ids(url, "select channel_id from ops.allocation_accuracy"),
        "planning": ids(url, "select location_id from ops.fill_rate_risk")
        | ids(url, "select to_location_id from replenishment.transfer_recommendations"),
        "finance": ids(url, "select legal_entity from finance.close_readiness")
        | ids(url, "select location_id from finance.inventory_reconciliation"),
        "anomalies": set(),
    }
    # The world must hold what the pages are asked to show, or the assertions below prove nothing.
    assert all(expected[name] for name in expected if name != "anomalies"), expected
    assert len(expected["allocation"]) >= 2
    for page in PAGES:
        shot = tmp_path / f"{page.NAME}.png"
        dom = render(served.base + page.PATH, shot)
        assert f">{page.TITLE}</h2>" in dom, f"{page.NAME}: the page did not render"
        assert dom.count('class="panel"') >= 1, f"{page.NAME}: no panel"
        assert "not built yet" not in dom, f"{page.NAME}: a built table reads as missing"
        if page.NAME != "anomalies":
            assert "js-plotly-plot" in dom and 'class="main-svg"' in dom, f"{page.NAME}: no chart drawn"
        missing = {value for value in expected[page.NAME] if f">{value}<" not in dom}
        assert not missing, f"{page.NAME}: {sorted(missing)} not shown"
        assert shot.stat().st_size > 20_000, f"{page.NAME}: empty screenshot"


def test_the_dashboard_reads_as_a_bi_login_not_the_owner(served: Served, tmp_path: Path) -> None:
    dom = render(served.base + "/", tmp_path / "home.png")
    assert ">Operations</h2>" in dom, "the home page is the operations page"
    assert 'id="session-user"' in dom
    shown = dom.split('id="session-user"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert shown.startswith("reading as "), shown
    user = shown.removeprefix("reading as ")
    with psycopg.connect(served.owner_url) as conn:
        owner = conn.execute("select current_user").fetchone()[0]
        login = conn.execute(
            "select rolsuper, rolcreaterole, pg_has_role(rolname, 'omni_bi', 'member') from pg_roles where rolname = %s",
            (user,),
        ).fetchone()
    assert user != owner
    assert login == (False, False, True), f"{user}: (superuser, createrole, omni_bi member) = {login}"


def test_a_table_not_built_yet_shows_so_and_appears_without_a_restart(served: Served, tmp_path: Path) -> None:
    with psycopg.connect(served.owner_url, autocommit=True) as conn:
        conn.execute("alter table ai.exception_clusters rename to exception_clusters_hidden")
        try:
            dom = render(served.base + "/exceptions", tmp_path / "clusters_missing.png")
        finally:
            conn.execute("alter table ai.exception_clusters_hidden rename to exception_clusters")
        # What a later run writes: a new open anomaly, shown at the next page load of the same server.
        conn.execute(
            "insert into ai.anomalies (anomaly_id, anomaly_type, channel_id, sku, window_start, window_end, observed,"
            " expected, score, explanation, model, model_version, parameters, detected_at, status)"
            " values ('probe', 'DEMAND_SPIKE', 'PROBE_CHANNEL', 'PROBE_SKU', now(), now(), 50, 5, 0.9,"
            " 'PROBE_CHANNEL / PROBE_SKU: 50 units ordered against 5 expected.', 'probe', '1', '{}', now(), 'open')"
        )
        try:
            anomalies = render(served.base + "/anomalies", tmp_path / "anomalies_after.png")
        finally:
            conn.execute("delete from ai.anomalies where anomaly_id = 'probe'")
    assert "ai.exception_clusters not built yet: run `omni-inventory run`" in dom
    assert 'id="panel-priority-queue"' in dom, "the other panels still render"
    assert "PROBE_SKU" in anomalies and "50 units ordered against 5 expected." in anomalies
    assert "js-plotly-plot" in anomalies


def _panel(dom: str, panel_id: str) -> str:
    """The DOM of one panel (up to the next one)."""
    return dom.split(f'id="panel-{panel_id}"', 1)[1].split('id="panel-', 1)[0]


def test_the_channel_and_region_filters_narrow_what_the_panels_show(served: Served, tmp_path: Path) -> None:
    url = served.owner_url
    channels = sorted(ids(url, "select channel_id from ops.allocation_accuracy"))
    chosen = channels[0]
    accuracy = _panel(
        render(f"{served.base}/allocation?channel={chosen}", tmp_path / "channel.png"), "allocation-accuracy"
    )
    assert f">{chosen}<" in accuracy
    assert not [other for other in channels[1:] if f">{other}<" in accuracy], "another channel is still shown"

    with psycopg.connect(url) as conn:
        region, inside = conn.execute(
            "select region, array_agg(distinct location_id) from ops.locations"
            " where region is not null and location_id in (select location_id from finance.inventory_reconciliation)"
            " group by region order by region limit 1"
        ).fetchone()
    outside = ids(url, "select location_id from finance.inventory_reconciliation") - set(inside)
    assert outside, "the world needs locations outside the region for this test to mean anything"
    status = _panel(
        render(f"{served.base}/finance?region={region}", tmp_path / "region.png"), "reconciliation"
    )
    assert all(f">{location}<" in status for location in inside), status[:2000]
    assert not [location for location in outside if f">{location}<" in status]


def test_the_dashboard_marts_hold_one_row_per_load_and_the_positions_at_risk(served: Served) -> None:
    with psycopg.connect(served.owner_url) as conn:
        loads, latencies, with_sla, over_sla = conn.execute(
            "select (select count(*) from meta.file_ledger where status = 'loaded'), count(*),"
            " count(sla_minutes), count(*) filter (where not within_sla) from ops.feed_load_latency"
        ).fetchone()
        known_feed_without_sla = conn.execute(
            "select count(*) from ops.feed_load_latency where feed <> 'unrouted' and sla_minutes is null"
        ).fetchone()[0]
        wrong_risk = conn.execute(
            "select count(*) from ops.fill_rate_risk as risk"
            " join marts.inventory_position as position using (location_id, sku)"
            " where risk.atp <> position.atp or risk.days_to_stockout >= risk.lead_time_days"
            # daily_demand is shown rounded to 3 decimals: the ceiling may move by one unit
            "    or abs(risk.units_at_risk - ceil(risk.daily_demand * risk.lead_time_days - risk.projected_atp)) > 1"
            "    or risk.units_at_risk <= 0"
        ).fetchone()[0]
        at_risk = conn.execute("select count(*) from ops.fill_rate_risk").fetchone()[0]
    assert latencies == loads > 0
    assert known_feed_without_sla == 0 and with_sla > 0
    # The world's day lands at once: its early files are far older than any feed's SLA.
    assert over_sla > 0
    assert at_risk > 0 and wrong_risk == 0
