"""Every ORM table of Flightlog, importable in one line.

Importing this package registers all tables on ``Base.metadata``; that is
what Alembic compares against and what ``flightlog db check`` checks.
"""

from flightlog.db.base import Base
from flightlog.models.agent import Agent
from flightlog.models.agent_run import AgentRun
from flightlog.models.artifact import Artifact, ArtifactBlob
from flightlog.models.event import Event, EventLog
from flightlog.models.governance import Approval, Optimization, Recommendation
from flightlog.models.metric import MetricPoint, MetricSnapshot
from flightlog.models.modification import Modification
from flightlog.models.otlp import ModelPrice, OtlpSpan
from flightlog.models.project import Project, ProjectContext
from flightlog.models.pull_request import PullRequest, PullRequestCheck
from flightlog.models.run import TaskRun
from flightlog.models.session import AgentSession
from flightlog.models.sign_in import LocalSignIn
from flightlog.models.task import Task, TaskDependency
from flightlog.models.template import Template
from flightlog.models.tenancy import ApiKey, Customer

#: Name -> table of each foreign key a transaction may defer: the references to a run
#: that OTLP span ingest writes before the run (``owner_fk(deferrable=True)``, migration
#: 0012). PostgreSQL only in the database; SQLite keeps them as first created.
DEFERRABLE_FOREIGN_KEYS: dict[str, str] = {
    str(key.name): table.name
    for table in Base.metadata.sorted_tables
    for key in sorted(table.foreign_key_constraints, key=lambda k: str(k.name))
    if key.deferrable
}

__all__ = [
    "DEFERRABLE_FOREIGN_KEYS",
    "Agent",
    "AgentRun",
    "AgentSession",
    "ApiKey",
    "Approval",
    "Artifact",
    "ArtifactBlob",
    "Base",
    "Customer",
    "Event",
    "EventLog",
    "LocalSignIn",
    "MetricPoint",
    "MetricSnapshot",
    "ModelPrice",
    "Modification",
    "Optimization",
    "OtlpSpan",
    "Project",
    "ProjectContext",
    "PullRequest",
    "PullRequestCheck",
    "Recommendation",
    "Task",
    "TaskDependency",
    "TaskRun",
    "Template",
]
