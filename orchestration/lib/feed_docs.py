"""Render docs/feeds.md from the feed registry: `python -m orchestration.lib.feed_docs`."""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.feeds import FEEDS, Feed
from orchestration.lib.settings import PROJECT_DIR

FEEDS_DOC = PROJECT_DIR / "docs" / "feeds.md"


def _feed_section(feed: Feed) -> list[str]:
    folder = f"{feed.source}/<channel_id>/{feed.name}" if feed.path_scope else feed.feed_id
    scope = ", ".join(feed.scope) if feed.scope else "the whole feed"
    lines = [
        f"## `{feed.feed_id}`",
        "",
        feed.description,
        "",
        f"- folder: `<landing>/{folder}/`; raw table: `raw.{feed.raw_table}`",
        f"- kind: **{feed.kind}**"
        + (
            f", one snapshot covers {scope}"
            if feed.kind == "snapshot"
            else ", a repeated event_id counts once"
        ),
        f"- key: {', '.join(f'`{k}`' for k in feed.key)}; values required (file quarantined when empty): "
        + ", ".join(f"`{c}`" for c in feed.not_null_columns),
        f"- freshness SLA: {feed.sla_minutes} minutes; owner: {feed.owner_team.replace('_', ' ')}",
        "",
        "| column | type | required in header | allowed values | description |",
        "|---|---|---|---|---|",
    ]
    for col in feed.columns:
        allowed = ", ".join(col.allowed) if col.allowed else ("≥ 0" if col.non_negative else "")
        lines.append(
            f"| `{col.name}` | {col.type} | {'yes' if col.required else 'no'} | {allowed} | {col.description} |"
        )
    return [*lines, ""]


def render() -> str:
    lines = [
        "# Feeds",
        "",
        "<!-- Generated from orchestration/lib/feeds.py by `python -m orchestration.lib.feed_docs`; do not edit. -->",
        "",
        "Every landing-zone feed the platform reads. Files are CSV (UTF-8, header row), JSON lines or",
        "Parquet, CSV and JSON lines optionally gzipped. Columns may come in any order; columns not",
        "listed are kept in `raw.<table>._extra`. Timestamps are ISO 8601, UTC when no offset is given;",
        "dates are `YYYY-MM-DD`; booleans `true`/`false`.",
        "",
    ]
    for feed in FEEDS:
        lines += _feed_section(feed)
    return "\n".join(lines)


def write(path: Path = FEEDS_DOC) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())


if __name__ == "__main__":
    write()
    print(f"wrote {FEEDS_DOC}")
