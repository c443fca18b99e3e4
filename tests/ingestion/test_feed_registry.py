"""The feed registry is complete, consistent, and the docs generated from it are current."""

from __future__ import annotations

import psycopg

from orchestration.lib.feed_docs import FEEDS_DOC, render
from orchestration.lib.feeds import FEEDS, SOURCES

CONTRACT_FEEDS = {
    "erp/items",
    "erp/locations",
    "erp/stock_policy",
    "erp/channel_policy",
    "erp/purchase_orders",
    "erp/transfers",
    "erp/book_inventory",
    "erp/gl_balances",
    "wms/inventory",
    "wms/movements",
    "pos/inventory",
    "pos/sales",
    "oms/reservations",
    "oms/order_lines",
    "oms/returns",
    "channel/orders",
    "channel/listings",
}


def test_registry_covers_the_contract() -> None:
    assert {f.feed_id for f in FEEDS} == CONTRACT_FEEDS
    assert SOURCES == ("erp", "wms", "pos", "oms", "channel")


def test_every_feed_is_self_consistent() -> None:
    for feed in FEEDS:
        names = [c.name for c in feed.columns]
        assert len(names) == len(set(names)), feed.feed_id
        assert feed.time_column in names and feed.time_column in feed.required_columns
        for column in (*feed.key, *feed.scope, *feed.not_null_columns):
            assert column in feed.required_columns, (feed.feed_id, column)
        if feed.kind == "event":
            assert feed.key == ("event_id",)
        if feed.path_scope:
            assert feed.path_scope in names


def test_raw_tables_match_the_registry(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        for feed in FEEDS:
            rows = conn.execute(
                "select column_name, data_type, is_nullable from information_schema.columns"
                " where table_schema = 'raw' and table_name = %s order by ordinal_position",
                (feed.raw_table,),
            ).fetchall()
            columns = {name: (kind, nullable) for name, kind, nullable in rows}
            for col in feed.columns:
                kind, nullable = columns[col.name]
                assert kind.startswith({"timestamptz": "timestamp with time zone"}.get(col.type, col.type))
                assert (nullable == "NO") == (col.name in feed.not_null_columns)
            assert {"_extra", "_load_id", "_row_number", "_loaded_at"} <= set(columns)


def test_feed_docs_are_current() -> None:
    assert FEEDS_DOC.read_text() == render(), "run: python -m orchestration.lib.feed_docs"
