"""Flightlog's Alembic environment and its one migration chain for both dialects."""
