"""``client.sessions`` and ``client.traces``: conversations and what a trace became.

Spans themselves reach the server through OpenTelemetry exporters
(``POST /v1/traces``), not through this client: see docs/connect-agents.md.
"""

from __future__ import annotations

from flightlog.client.binding import Facade, M, bind
from flightlog.schemas.runs import RunOut
from flightlog.schemas.sessions import SessionOut, SessionPageOut, TraceOut
from flightlog.services import sessions, traces


class Sessions(Facade[M]):
    """``client.sessions``: list (newest first), page (both ways, with totals), get, and a
    session's runs."""

    get = bind("GET", "/sessions/{session_id}", sessions.get_session, SessionOut)
    runs = bind("GET", "/sessions/{session_id}/runs", sessions.session_runs, list[RunOut])
    page = bind("GET", "/sessions/page", sessions.session_page, SessionPageOut)
    # Last: from here on, ``list`` in this class body is the method.
    list = bind("GET", "/sessions", sessions.list_sessions, list[SessionOut])


class Traces(Facade[M]):
    """``client.traces``: the record of an OpenTelemetry trace, or of one of its spans."""

    get = bind("GET", "/traces/{trace_id}", traces.get_trace, TraceOut)
