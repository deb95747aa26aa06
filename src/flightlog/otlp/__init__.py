"""OpenTelemetry ingest: OTLP/HTTP spans and metrics become Flightlog's record (issue 12)."""
