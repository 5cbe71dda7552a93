"""The quality gate: Great Expectations suites run inside DuckDB, and what they decide."""
