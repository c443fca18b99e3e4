"""`omni-inventory api [--port N]` and `omni-inventory api-key create|revoke NAME`."""

from __future__ import annotations

import click

from orchestration.api.keys import KeyNameTaken, create_api_key, revoke_api_key


@click.command("api")
@click.option("--port", default=8000, show_default=True, type=int, help="Port on 127.0.0.1.")
def api(port: int) -> None:
    """Serve the read-only availability API on 127.0.0.1 (OpenAPI at /docs)."""
    import uvicorn

    from orchestration.api.app import create_app
    from orchestration.api.keys import keys_login_url
    from orchestration.api.rate_limit import default_rate_per_second
    from orchestration.lib.bi_access import service_bi_url
    from orchestration.lib.database import warehouse_url

    # The owner's URL is used here only, to set up the two least-privileged logins the API reads through.
    owner_url = warehouse_url()
    app = create_app(service_bi_url(owner_url), keys_login_url(owner_url), default_rate_per_second())
    click.echo(f"availability API on http://127.0.0.1:{port} (OpenAPI: /docs; Ctrl-C to stop)")
    # One worker: the rate limits' token buckets live in this process (docs/api.md).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@click.group("api-key")
def api_key() -> None:
    """Keys of the availability API (only their SHA-256 hash is stored)."""


@api_key.command("create")
@click.argument("name")
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per second for this key (default: OMNI_API_RATE_LIMIT, 100).",
)
def api_key_create(name: str, rate_limit: float | None) -> None:
    """Create a key for NAME and print it, once: it cannot be shown again."""
    from orchestration.lib.database import warehouse_url

    try:
        key = create_api_key(warehouse_url(), name, rate_limit)
    except KeyNameTaken as error:
        raise click.ClickException(str(error)) from error
    click.echo(key)


@api_key.command("revoke")
@click.argument("name")
def api_key_revoke(name: str) -> None:
    """Revoke NAME's key (the API stops accepting it within 10 s)."""
    from orchestration.lib.database import warehouse_url

    if not revoke_api_key(warehouse_url(), name):
        raise click.ClickException(f"no active API key named {name!r}")
    click.echo(f"revoked {name}")
