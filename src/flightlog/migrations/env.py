"""Alembic environment shared by both dialects.

The connection comes, in order of preference, from the caller (Flightlog's
own migration API passes one in ``config.attributes``), from ``-x url=...``,
or from Flightlog's settings (``FLIGHTLOG_DATABASE_URL`` / ``DATABASE_URL``),
so that plain ``alembic upgrade head`` at the repository root works too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from flightlog.db.engine import create_sync_engine
from flightlog.migrations.filters import include_name_for, include_object_for
from flightlog.models import Base
from flightlog.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        include_object=include_object_for(connection.dialect.name),
        include_name=include_name_for(set(target_metadata.tables)),
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url_override = context.get_x_argument(as_dictionary=True).get("url")
    settings = get_settings(database_url=url_override)
    engine = create_sync_engine(settings, url=settings.database, sqlite_foreign_keys=False)
    try:
        with engine.connect() as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit(
        "Flightlog migrations run online only: the SQL differs per dialect and is decided "
        "from the live connection. Run 'flightlog db upgrade' instead."
    )
run_migrations_online()
