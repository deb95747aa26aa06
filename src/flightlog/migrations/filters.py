"""What Alembic's comparison looks at, and what it leaves alone.

Some schema objects exist on one dialect only: GIN indexes on PostgreSQL
(declared in the models with ``.ddl_if(dialect="postgresql")``) and the FTS5
search table with its shadow tables on SQLite (created by migration, not a
model). Without these filters ``flightlog db check`` would report them as
drift on the other dialect.

On PostgreSQL ``events`` and ``metric_points`` are partitioned (migration
0010): their partitions are never compared as tables, whatever ``include``
says, and the parent event reference, a foreign key in the models, is kept
by triggers there (:mod:`flightlog.migrations.objects` looks for those and for
the partitioning itself).

A database Flightlog shares with a team's own tables is not drifted by them:
only the models' tables are compared, unless a name matches an ``include``
pattern (then an extra table is reported, as Alembic would). Names matching an
``exclude`` pattern (tables, views, indexes, triggers) are never compared, so a
team's own index on a Flightlog table can be left out of the check by name.
Patterns are shell-style globs (``team_*``), matched case-sensitively.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, MutableMapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import Index
from sqlalchemy.schema import SchemaItem

from flightlog.db.partition_layout import is_partition_name
from flightlog.models import DEFERRABLE_FOREIGN_KEYS

#: Tables that migrations create outside the ORM, on SQLite only.
SQLITE_ONLY_TABLE_PREFIXES = ("tasks_fts",)

#: Expression indexes that migrations create outside the ORM: Alembic cannot
#: compare their normalised expression text reliably, so they are tested by name.
MIGRATION_ONLY_INDEXES = frozenset({"ix_tasks_search_gin"})

#: Indexes with a descending column: SQLite's reflection drops the DESC, so Alembic would
#: report them as changed there. On SQLite they are checked by name instead
#: (:mod:`flightlog.migrations.objects`); PostgreSQL compares them in full.
SQLITE_NAME_ONLY_INDEXES = frozenset({"ix_tasks_pending"})

#: Foreign keys of the models that PostgreSQL keeps as triggers instead (a partitioned
#: table cannot be referenced by a key without its partition key; migration 0010).
POSTGRES_TRIGGER_KEPT_FKS = frozenset({"fk_events_parent_event_id_events"})

#: The references to a run PostgreSQL makes DEFERRABLE (migration 0012) are kept by
#: SQLite as first created: it has one writer, so its span ingest never defers them,
#: and rebuilding four tables for a clause it would not use is not worth it. SQLite
#: looks for them by name (:mod:`flightlog.migrations.objects`); PostgreSQL compares
#: them in full.
SQLITE_NAME_ONLY_FKS = DEFERRABLE_FOREIGN_KEYS

IncludeObject = Callable[[SchemaItem, str | None, str, bool, Any], bool]
IncludeName = Callable[[str | None, str, MutableMapping[Any, Any]], bool]


@dataclass(frozen=True)
class NamePatterns:
    """Which names ``db check`` compares besides, or instead of, the models' own."""

    #: Tables that are not Flightlog's but should be compared (and so reported) anyway.
    include: tuple[str, ...] = ()
    #: Names never compared: tables, views, indexes and triggers alike.
    exclude: tuple[str, ...] = ()

    def excluded(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in self.exclude)

    def included(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in self.include)


def ddl_dialect(obj: SchemaItem) -> str | None:
    """The dialect an object is restricted to by ``.ddl_if(dialect=...)``, if any."""
    ddl_if = getattr(obj, "_ddl_if", None)
    return getattr(ddl_if, "dialect", None) if ddl_if is not None else None


def include_name_for(
    model_tables: Collection[str], patterns: NamePatterns = NamePatterns()
) -> IncludeName:
    """An ``include_name`` hook: reflected tables are compared only when they are Flightlog's."""

    def include_name(name: str | None, type_: str, parent_names: MutableMapping[Any, Any]) -> bool:
        if name is None:
            return True
        if patterns.excluded(name):
            return False
        if type_ == "table":
            if name.startswith(SQLITE_ONLY_TABLE_PREFIXES) or is_partition_name(name):
                return False
            return name in model_tables or patterns.included(name)
        if type_ == "index":
            return name not in MIGRATION_ONLY_INDEXES
        return True

    return include_name


def include_object_for(dialect_name: str, patterns: NamePatterns = NamePatterns()) -> IncludeObject:
    """An ``include_object`` hook that skips model objects meant for another dialect or excluded."""

    def include_object(
        obj: SchemaItem, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if name is not None and patterns.excluded(name):
            return False
        if type_ == "index" and dialect_name == "sqlite" and name in SQLITE_NAME_ONLY_INDEXES:
            return False
        if type_ == "foreign_key_constraint" and name in (
            POSTGRES_TRIGGER_KEPT_FKS if dialect_name == "postgresql" else SQLITE_NAME_ONLY_FKS
        ):
            return False
        if type_ == "index" and isinstance(obj, Index) and not reflected:
            restricted_to = ddl_dialect(obj)
            return restricted_to is None or restricted_to == dialect_name
        return True

    return include_object
