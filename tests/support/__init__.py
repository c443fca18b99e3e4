"""What the tests share: fixtures (the plugins tests/conftest.py registers) and plain helpers.

- postgres (plugin): one embedded PostgreSQL per session (`pg_server`), a fresh database per test
  (`db_url`), an empty landing zone (`landing`); `create_database` for a test's own database.
- dbt (plugin): in-process dbt parsed once per session (`session_dbt`, `make_dbt`), one scenario
  database and landing zone per module (`module_db`, `module_landing`); `deliver`, `query`, `Dbt`.
- quality, reliability, simulations, marts: helpers of those suites, imported by their tests.

Tests import from here, never from a conftest.py or from another test module.
"""
