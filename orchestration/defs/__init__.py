"""Dagster definitions, one area per integration (ingestion, dbt, quality, ...)."""
