"""Operator tasks behind the CLI: export/import, purge, seeding, statistics."""
