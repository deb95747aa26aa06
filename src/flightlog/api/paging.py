"""The query parameters of every list that pages both ways, declared once.

Lists ordered newest first by id (projects, pull requests, sessions), the task list and
a task's agent runs (by start time) take the same cursor pair and the same request for a
total; their routes name these instead of repeating each parameter's description.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

#: A page's ``next_cursor``: read on after it.
NextCursor = Annotated[
    uuid.UUID | None,
    Query(description="A page's next_cursor: the page after it (not with before)."),
]
#: A page's ``previous_cursor``: read back before it.
PreviousCursor = Annotated[
    uuid.UUID | None,
    Query(description="A page's previous_cursor: the page before it (not with cursor)."),
]
#: Whether to count the matches (``total``) and those before the page (``offset``).
CountTotal = Annotated[
    bool, Query(description="Also count the matches (total) and those before (offset).")
]
