"""Query strings of the browsing pages: filters that keep each other, and "any" as empty.

A filter form sends every field, so "any status" arrives as ``status=``; :data:`Blank`
reads an empty value as not given instead of refusing it. :class:`Links` builds the
links of a page from the parameters it was asked with: a sort link keeps the filters,
a filter link keeps the sort, and both start again at the first page.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from pydantic import BeforeValidator


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


#: For ``Annotated[X | None, Blank]`` query parameters: an empty field is "any".
Blank = BeforeValidator(_blank_is_none)

#: Parameters that say where a page starts: dropped whenever the filters or the order change.
PAGING = ("cursor", "before", "offset")


class Links:
    """Links to this page with some parameters changed (``None`` removes one)."""

    def __init__(self, root: str, path: str, params: Mapping[str, Any]) -> None:
        self.base = f"{root}{path}"
        self.params = {k: v for k, v in params.items() if v is not None and v != ""}

    def __call__(self, **changes: Any) -> str:
        """This page with ``changes``; any change but paging starts at the first page."""
        merged = dict(self.params)
        if any(name not in PAGING for name in changes):
            for name in PAGING:
                merged.pop(name, None)
        for name, value in changes.items():
            if value is None or value == "":
                merged.pop(name, None)
            else:
                merged[name] = value
        query = urlencode({k: str(v) for k, v in merged.items()})
        return f"{self.base}?{query}" if query else self.base

    def page(
        self,
        *,
        cursor: uuid.UUID | None = None,
        before: uuid.UUID | None = None,
        offset: int | None = None,
    ) -> str:
        """Another page of the same list: only where it starts changes (none: the first)."""
        merged = {k: v for k, v in self.params.items() if k not in PAGING}
        starts = {"cursor": cursor, "before": before, "offset": offset}
        merged.update({k: v for k, v in starts.items() if v is not None})
        query = urlencode({k: str(v) for k, v in merged.items()})
        return f"{self.base}?{query}" if query else self.base

    def hidden(self, *names: str) -> list[tuple[str, str]]:
        """The named parameters that are set, as hidden fields a form carries along."""
        return [(name, str(self.params[name])) for name in names if name in self.params]


__all__ = ["PAGING", "Blank", "Links"]
