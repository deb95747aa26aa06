"""While ``flightlog demo --serve`` runs, the demo's team sends heartbeats as a live team would.

An agent's health is derived from the age of its last heartbeat (DEGRADED after
``agent_degraded_after_seconds``, 60 s by default). A demo written once and then
served would show its whole team DEGRADED a minute later, which says "your agents
are in trouble" about agents that are merely recorded. So while the demo is being
served, a thread heartbeats every demo agent but one, three times per degraded
period, through the same service an agent's heartbeat request reaches. The
exception is the demo's reviewer (:data:`flightlog.ops.demo.LAPSED_AGENT`), whose
silence is the demo's picture of a crashed agent. Plain ``flightlog serve``
heartbeats nothing: outside the demo, health reflects what agents really send.
"""

from __future__ import annotations

import sys
import threading
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.db.engine import create_sync_engine, sync_session_factory
from flightlog.enums import AgentStatus
from flightlog.models import Agent, Customer
from flightlog.ops.demo import DEMO_EMAIL, LAPSED_AGENT, STARTUP_EMAIL
from flightlog.services import agents
from flightlog.settings import Settings


def live_agents(session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(customer, agent) of every demo agent that should look alive, the lapsed one excepted."""
    rows = session.execute(
        select(Agent.customer_id, Agent.id)
        .join(Customer, Customer.id == Agent.customer_id)
        .where(
            Customer.email.in_([DEMO_EMAIL, STARTUP_EMAIL]),
            Agent.name != LAPSED_AGENT[0],
            Agent.status != AgentStatus.STOPPED,
        )
        .order_by(Agent.id)
    ).all()
    return [(customer_id, agent_id) for customer_id, agent_id in rows]


def beat_once(session: Session) -> int:
    """One heartbeat from every live demo agent, in the caller's transaction; how many."""
    found = live_agents(session)
    for customer_id, agent_id in found:
        agents.heartbeat(session, customer_id, agent_id)
    return len(found)


class TeamHeartbeats:
    """A daemon thread that heartbeats the demo's team until :meth:`stop`."""

    def __init__(self, settings: Settings, *, every_seconds: float | None = None) -> None:
        self._settings = settings
        self._every = every_seconds or settings.agent_degraded_after_seconds / 3
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-heartbeats", daemon=True)
        self._warned = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        engine = create_sync_engine(self._settings)
        sessions = sync_session_factory(engine)
        try:
            while not self._stopped.is_set():
                try:
                    with sessions() as session, session.begin():
                        beat_once(session)
                except Exception as exc:  # the server must keep serving; say it once
                    if not self._warned:
                        self._warned = True
                        print(f"demo heartbeats: {exc}", file=sys.stderr)
                self._stopped.wait(self._every)
        finally:
            engine.dispose()
