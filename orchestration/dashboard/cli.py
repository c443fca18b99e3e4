"""`omni-inventory dashboard [--port N]`: the process-intelligence dashboard on 127.0.0.1."""

from __future__ import annotations

import click


@click.command("dashboard")
@click.option("--port", default=8050, show_default=True, type=int, help="Port on 127.0.0.1.")
@click.option(
    "--refresh-seconds",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="How often pages re-query.",
)
def dashboard(port: int, refresh_seconds: int) -> None:
    """Serve the process-intelligence dashboard (latency, exceptions, allocation, planning, finance, anomalies)."""
    from orchestration.dashboard.app import create_app
    from orchestration.lib.bi_access import service_bi_url
    from orchestration.lib.database import warehouse_url

    # The owner's URL is used here only, to set up the BI login the dashboard reads through.
    app = create_app(service_bi_url(warehouse_url()), refresh_seconds)
    click.echo(f"process-intelligence dashboard on http://127.0.0.1:{port} (Ctrl-C to stop)", err=False)
    app.run(host="127.0.0.1", port=port, debug=False)
