"""`omni-inventory exceptions list|ack`: look at quality.inventory_exceptions and settle findings."""

from __future__ import annotations

import click

from orchestration.lib.database import warehouse_url


@click.group()
def exceptions() -> None:
    """Data-quality exceptions (quality.inventory_exceptions, docs/quality.md)."""


@exceptions.command("list")
@click.option("--status", type=click.Choice(["open", "resolved", "all"]), default="open", show_default=True)
@click.option("--type", "exception_type", default=None, help="only this exception type, e.g. MALFORMED_FILE")
@click.option("--team", default=None, help="only this owner team, e.g. integration")
@click.option("--limit", default=100, show_default=True, type=int)
def list_command(status: str, exception_type: str | None, team: str | None, limit: int) -> None:
    """Exceptions, blocking first, newest first; the first 12 characters of an id are enough to ack."""
    from orchestration.lib.quality.exceptions import list_exceptions

    rows, matching = list_exceptions(
        warehouse_url(),
        status=None if status == "all" else status,
        exception_type=exception_type,
        owner_team=team,
        limit=limit,
    )
    header = ("id", "type", "severity", "feed", "location", "sku", "owner", "status", "last seen", "acked by")
    lines = [
        (r[0][:12], r[1], r[2], r[3] or "", r[4] or "", r[5] or "", r[6], r[7], r[8].isoformat(), r[9] or "")
        for r in rows
    ]
    widths = [max(len(str(v)) for v in column) for column in zip(header, *lines, strict=True)]
    for line in (header, *lines):
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    shown = f"{len(rows)} of {matching}" if matching > len(rows) else f"{matching}"
    more = f" (--limit {limit}; raise it to see more)" if matching > len(rows) else ""
    click.echo(f"{shown} {'' if status == 'all' else status + ' '}exception(s){more}")


@exceptions.command("ack")
@click.argument("exception_id")
@click.option("--by", "by", required=True, help="who acknowledges (name or e-mail)")
@click.option("--note", required=True, help="why: what was done about it")
def ack_command(exception_id: str, by: str, note: str) -> None:
    """Acknowledge a finding on permanent evidence (a quarantined or re-sent file, duplicate or late
    events, an out-of-order snapshot): it becomes resolved and stays resolved."""
    from orchestration.lib.quality.exceptions import AcknowledgementError, acknowledge_exception

    try:
        ack = acknowledge_exception(warehouse_url(), exception_id, by, note)
    except AcknowledgementError as error:
        raise click.ClickException(str(error)) from error
    state = "resolved" if ack.was_open else "was already resolved; acknowledgement recorded"
    click.echo(f"{ack.exception_id} ({ack.exception_type}) {state}")
