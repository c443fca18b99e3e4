"""`omni-inventory bi-user NAME`: a read-only BI login (docs/contract.md section 5, docs/security.md)."""

from __future__ import annotations

import click

from orchestration.lib.bi_access import InvalidLoginName, create_bi_login
from orchestration.lib.database import warehouse_url


@click.command("bi-user")
@click.argument("name")
def bi_user(name: str) -> None:
    """Create a read-only BI login NAME (role omni_bi) with a new password and print its URL.

    Run it again to give NAME a new password. The login reads the marts, finance, replenishment,
    ops, quality and ai schemas, and nothing else (docs/security.md).
    """
    try:
        click.echo(create_bi_login(warehouse_url(), name))
    except InvalidLoginName as error:
        raise click.ClickException(str(error)) from error
