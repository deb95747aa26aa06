"""What Alembic's comparison looks at, and what it leaves alone.

Some schema objects exist on one dialect only: GIN indexes on PostgreSQL
(declared in the models with ``.ddl_if(dialect="postgresql")``) and the FTS5
search table with its shadow tables on SQLite (created by migration, not a
model). Without these filters ``flightlog db check`` would report them as
drift on the other dialect.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from sqlalchemy import Index
from sqlalchemy.schema import SchemaItem

#: Tables that migrations create outside the ORM, on SQLite only.
SQLITE_ONLY_TABLE_PREFIXES = ("tasks_fts",)

#: Expression indexes that migrations create outside the ORM: Alembic cannot
#: compare their normalised expression text reliably, so they are tested by name.
MIGRATION_ONLY_INDEXES = frozenset({"ix_tasks_search_gin"})

IncludeObject = Callable[[SchemaItem, str | None, str, bool, Any], bool]


def ddl_dialect(obj: SchemaItem) -> str | None:
    """The dialect an object is restricted to by ``.ddl_if(dialect=...)``, if any."""
    ddl_if = getattr(obj, "_ddl_if", None)
    return getattr(ddl_if, "dialect", None) if ddl_if is not None else None


def include_name(name: str | None, type_: str, parent_names: MutableMapping[Any, Any]) -> bool:
    """Skip reflected objects that are not part of the ORM's metadata by design."""
    if type_ == "table" and name is not None:
        return not name.startswith(SQLITE_ONLY_TABLE_PREFIXES)
    if type_ == "index":
        return name not in MIGRATION_ONLY_INDEXES
    return True


def include_object_for(dialect_name: str) -> IncludeObject:
    """An ``include_object`` hook that skips model indexes meant for another dialect."""

    def include_object(
        obj: SchemaItem, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "index" and isinstance(obj, Index) and not reflected:
            restricted_to = ddl_dialect(obj)
            return restricted_to is None or restricted_to == dialect_name
        return True

    return include_object
