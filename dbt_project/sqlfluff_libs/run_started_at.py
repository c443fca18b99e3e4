"""sqlfluff's stand-in for dbt's `run_started_at` (see .sqlfluff, "templater").

The jinja templater makes each module of this folder a template variable named after it, so
`{{ run_started_at.isoformat() }}` renders this function's fixed instant when sqlfluff lints.
"""


def isoformat() -> str:
    return "2024-01-01T00:00:00+00:00"
