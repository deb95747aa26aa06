"""Flightlog's ingest and read benchmarks; run ``python -m benchmarks.run --help``."""
