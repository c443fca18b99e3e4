"""`omni-inventory`: the platform's command line (run, dev, db, simulate)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import click
import psycopg

from orchestration.api.cli import api, api_key
from orchestration.bi_user_cli import bi_user
from orchestration.dashboard.cli import dashboard
from orchestration.lib import embedded_postgres
from orchestration.lib.database import DatabaseNotConfigured, redact, warehouse_url
from orchestration.lib.embedded_postgres import EmbeddedPostgresError
from orchestration.lib.quality.cli import exceptions
from orchestration.lib.settings import PROJECT_DIR, load_settings
from orchestration.simulator.cli import simulate


class _ReadableErrors(click.Group):
    """Turns the failures a user can fix (database unreachable, embedded server broken) into one clear line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except psycopg.OperationalError as error:
            settings = load_settings()
            where = (
                redact(settings.database_url) if settings.database_url else f"embedded ({settings.pg_dir})"
            )
            raise click.ClickException(
                f"cannot reach the warehouse database {where}: {str(error).strip()}\n"
                "Check OMNI_DATABASE_URL (or unset it to use the embedded PostgreSQL under $OMNI_HOME/pg)."
            ) from error
        except (EmbeddedPostgresError, DatabaseNotConfigured) as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=_ReadableErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="omni-inventory", message="%(prog)s %(version)s")
def main() -> None:
    """Omnichannel inventory platform: ingest retail feeds, build availability and finance marts."""
    # Everything written under $OMNI_HOME (secrets, logs, Dagster's compute logs by the processes
    # started from here) is its owner's only (docs/contract.md section 5).
    os.umask(0o077)


@main.group()
def db() -> None:
    """The embedded PostgreSQL (used when OMNI_DATABASE_URL is unset)."""


@db.command("url")
def db_url() -> None:
    """Print the warehouse URL with its password, for psql and BI tools (starting the embedded server if needed)."""
    click.echo(warehouse_url())


@db.command("start")
def db_start() -> None:
    """Start the embedded server (no-op when OMNI_DATABASE_URL is set)."""
    settings = load_settings()
    if settings.database_url:
        click.echo(f"OMNI_DATABASE_URL is set ({redact(settings.database_url)}): nothing embedded to start.")
        return
    click.echo(redact(embedded_postgres.start(settings.pg_dir)))


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    settings = load_settings()
    stopped = embedded_postgres.stop(settings.pg_dir)
    click.echo("stopped" if stopped else f"not running ({settings.pg_dir})")


@main.command()
def prepare() -> None:
    """Build what code-location loads read instead of recomputing (the dbt manifest); no database needed."""
    from orchestration.pipeline import prepare_artifacts

    for line in prepare_artifacts():
        click.echo(line)


@main.command()
def run() -> None:
    """Ingest everything pending and materialize every asset once, headless."""
    from orchestration.pipeline import run_everything

    ok, message = run_everything()
    click.echo(message)
    if not ok:
        sys.exit(1)


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="address the UI listens on (127.0.0.1: this machine only)",
)
@click.option("--port", default=3000, show_default=True, type=int, help="port of the Dagster UI")
def dev(host: str, port: int) -> None:
    """Start the Dagster UI (webserver + daemon: schedules and sensors run) on the same database."""
    from orchestration.lib.dagster_instance import prepare_dagster_home
    from orchestration.pipeline import prepare

    if not _port_is_free(host, port):
        raise click.ClickException(
            f"port {port} on {host} is in use (another `omni-inventory dev`?): stop it or pass --port N"
        )
    settings = load_settings()
    prepare(settings)
    prepare_dagster_home(settings)
    _end_orphaned_runs()
    click.echo(
        f"Dagster UI on http://{host}:{port} (Ctrl-C to stop); DAGSTER_HOME={os.environ['DAGSTER_HOME']}"
    )
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    command = [dagster, "dev", "-w", str(PROJECT_DIR / "workspace.yaml"), "-h", host, "-p", str(port)]
    # The daemon logs a line per sensor check at INFO (hundreds an hour): warnings and errors only.
    command += ["--log-level", "warning"]
    # Run from OMNI_HOME: Dagster warns about (and ignores) a dagster.yaml in the working directory.
    process = subprocess.Popen(command, cwd=settings.home)
    try:
        sys.exit(process.wait())
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        time.sleep(0.1)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _end_orphaned_runs() -> None:
    import dagster as dg

    from orchestration.lib.orphaned_runs import end_orphaned_runs

    with dg.DagsterInstance.get() as instance:
        for run_id in end_orphaned_runs(instance):
            click.echo(f"run {run_id} had been left unfinished by a killed process: marked failed")


main.add_command(simulate)
main.add_command(dashboard)
main.add_command(bi_user)
main.add_command(exceptions)
main.add_command(api)
main.add_command(api_key)


if __name__ == "__main__":
    main()
