"""Thin helpers shared by the Dagster definitions, the CLI and the tests."""
