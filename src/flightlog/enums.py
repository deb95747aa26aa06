"""Every status and type vocabulary in Flightlog, as ``StrEnum``.

Values are stored upper-case. The reference systems spell some of them in
lower case (``'pending'``, ``'draft'``) or under another name (``SUCCEEDED``
for ``COMPLETED``, ``queued`` for a run not yet started); ``_missing_``
accepts those spellings so code written against them keeps working, and
docs/schema.md lists each mapping.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class _CaseInsensitive(StrEnum):
    """Accept any letter case, and alias member names (``TaskStatus("succeeded")``)."""

    @classmethod
    def _missing_(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.isascii():
            # ASCII only: str.upper() maps look-alikes ("pend\u0131ng", a dotless i) onto
            # a member's name, and a value nobody typed must not be accepted as PENDING.
            return None
        key = value.strip().upper()
        return cls.__members__.get(key)


class CustomerPlan(_CaseInsensitive):
    FREE = "FREE"
    STARTUP = "STARTUP"
    ENTERPRISE = "ENTERPRISE"


class CustomerStatus(_CaseInsensitive):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    CHURNED = "CHURNED"


class AgentType(_CaseInsensitive):
    """Platform agents (seed 002) and the MetaGPT-style team roles (seeds 000, 001, 004)."""

    ORCHESTRATOR = "ORCHESTRATOR"
    COST = "COST"
    PERFORMANCE = "PERFORMANCE"
    RESOURCE = "RESOURCE"
    APPLICATION = "APPLICATION"
    TEAM_LEADER = "TEAM_LEADER"
    PRODUCT_MANAGER = "PRODUCT_MANAGER"
    ARCHITECT = "ARCHITECT"
    PROJECT_MANAGER = "PROJECT_MANAGER"
    ENGINEER = "ENGINEER"
    QA = "QA"
    REVIEWER = "REVIEWER"
    CUSTOM = "CUSTOM"


class AgentStatus(_CaseInsensitive):
    STARTING = "STARTING"
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


class TaskStatus(_CaseInsensitive):
    """A task's state. ``SUCCEEDED`` (seed 001) is an alias of ``COMPLETED``."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"

    # Aliases: same member, other spelling; never stored.
    SUCCEEDED = "COMPLETED"
    CANCELED = "CANCELLED"


class RunStatus(_CaseInsensitive):
    """A task run's state. ``queued`` (seed 004's execution_status) is an alias of ``PENDING``."""

    PENDING = "PENDING"
    WAITING_APPROVAL = "WAITING_APPROVAL"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"

    # Aliases: same member, other spelling; never stored.
    QUEUED = "PENDING"
    SUCCEEDED = "COMPLETED"
    CANCELED = "CANCELLED"


class AgentRunStatus(_CaseInsensitive):
    STARTED = "STARTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class EventType(_CaseInsensitive):
    """Execution events (seed 001), system events (seed 002) and audit events."""

    LOG = "LOG"
    MESSAGE = "MESSAGE"
    ERROR = "ERROR"
    RESULT = "RESULT"
    AGENT_START = "AGENT_START"
    AGENT_COMPLETE = "AGENT_COMPLETE"
    SYSTEM = "SYSTEM"
    STATUS_CHANGE = "STATUS_CHANGE"
    APPROVAL = "APPROVAL"
    AUDIT = "AUDIT"
    #: A call to a model (an OpenTelemetry GenAI ``chat`` / LLM span).
    MODEL_CALL = "MODEL_CALL"
    #: A tool an agent ran (an ``execute_tool`` / TOOL span).
    TOOL_CALL = "TOOL_CALL"


class EventSeverity(_CaseInsensitive):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class MetricType(_CaseInsensitive):
    COUNTER = "COUNTER"
    GAUGE = "GAUGE"
    HISTOGRAM = "HISTOGRAM"
    TIMER = "TIMER"
    SUMMARY = "SUMMARY"
    RATE = "RATE"


class ArtifactType(_CaseInsensitive):
    DOCUMENT = "DOCUMENT"
    IMAGE = "IMAGE"
    REPORT = "REPORT"
    LOG = "LOG"
    CODE = "CODE"
    DATA = "DATA"
    CONFIG = "CONFIG"
    OTHER = "OTHER"


class Priority(_CaseInsensitive):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class RecommendationStatus(_CaseInsensitive):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ROLLED_BACK = "ROLLED_BACK"


class ApprovalStatus(_CaseInsensitive):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class OptimizationStatus(_CaseInsensitive):
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ROLLED_BACK = "ROLLED_BACK"


class ModificationStatus(_CaseInsensitive):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    APPLIED = "APPLIED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


class PullRequestStatus(_CaseInsensitive):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    APPROVED = "APPROVED"
    MERGED = "MERGED"
    CLOSED = "CLOSED"


class ValidationStatus(_CaseInsensitive):
    """Outcome of one check run against a pull request."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
