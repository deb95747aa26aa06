"""Every CHECK, UNIQUE and FOREIGN KEY refuses bad data and leaves the row as it was.

The lists below are checked against the metadata, so a constraint added to a
model without a test here fails the suite.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKeyConstraint,
    Table,
    UniqueConstraint,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import factories as f
from flightlog import models as m
from test_models_crud import AGGREGATES

METADATA = m.Base.metadata

#: CHECK constraint name -> (table, SQL expression assignments that break it).
RANGE_CHECKS: dict[str, dict[str, str]] = {
    "ck_api_keys_prefix_length": {"prefix": "'abc'"},
    "ck_project_contexts_iteration_positive": {"iteration": "0"},
    "ck_project_contexts_test_coverage_range": {"test_coverage": "100.5"},
    "ck_project_contexts_security_score_range": {"security_score": "-1"},
    "ck_project_contexts_performance_score_range": {"performance_score": "101"},
    "ck_templates_setup_time_nonnegative": {"setup_time_minutes": "-5"},
    "ck_tasks_max_rounds_positive": {"max_rounds": "0"},
    "ck_tasks_memory_size_positive": {"memory_size": "0"},
    "ck_tasks_run_counts_consistent": {"successful_runs": "5"},
    "ck_tasks_success_rate_range": {"success_rate": "100.01"},
    "ck_tasks_not_own_parent": {"parent_task_id": "id"},
    "ck_task_dependencies_not_self": {"depends_on_id": "task_id"},
    "ck_task_runs_run_number_positive": {"run_number": "0"},
    "ck_task_runs_usage_nonnegative": {"tokens_in": "-1"},
    "ck_task_runs_duration_nonnegative": {"duration_seconds": "-0.5"},
    "ck_task_runs_resources_nonnegative": {"memory_usage_mb": "-1"},
    "ck_agent_runs_usage_nonnegative": {"cost_usd": "-1"},
    "ck_agent_runs_not_own_parent": {"parent_id": "id"},
    "ck_artifact_blobs_sha256_length": {"sha256": "'abc'"},
    "ck_artifact_blobs_size_nonnegative": {"size_bytes": "-1"},
    "ck_artifact_blobs_inline_xor_stored": {"content": "NULL"},
    "ck_artifacts_version_positive": {"version": "0"},
    "ck_artifacts_size_nonnegative": {"size_bytes": "-1"},
    "ck_recommendations_confidence_score_range": {"confidence_score": "1.01"},
    "ck_recommendations_estimated_savings_nonnegative": {"estimated_savings": "-1"},
    "ck_optimizations_progress_range": {"progress": "101"},
    "ck_optimizations_actual_savings_nonnegative": {"actual_savings": "-0.01"},
    "ck_pull_requests_pr_number_positive": {"pr_number": "0"},
    "ck_model_prices_prices_nonnegative": {"output_usd_per_mtok": "-1"},
}


TABLE_BUILDERS: dict[str, Callable[[Session], Any]] = {
    "customers": AGGREGATES["customer"][0],
    "api_keys": AGGREGATES["api_key"][0],
    "projects": AGGREGATES["project"][0],
    "project_contexts": AGGREGATES["project_context"][0],
    "templates": AGGREGATES["template"][0],
    "agents": AGGREGATES["agent"][0],
    "tasks": AGGREGATES["task"][0],
    "task_dependencies": AGGREGATES["task_dependency"][0],
    "task_runs": AGGREGATES["task_run"][0],
    "agent_runs": AGGREGATES["agent_run"][0],
    "events": AGGREGATES["event"][0],
    "metric_points": AGGREGATES["metric_point"][0],
    "artifacts": AGGREGATES["artifact"][0],
    "artifact_blobs": lambda db: f.blob(db, uuid.uuid4().bytes),
    "recommendations": AGGREGATES["recommendation"][0],
    "approvals": AGGREGATES["approval"][0],
    "optimizations": AGGREGATES["optimization"][0],
    "modifications": AGGREGATES["modification"][0],
    "pull_requests": AGGREGATES["pull_request"][0],
    "pull_request_checks": AGGREGATES["pull_request_check"][0],
    "sessions": AGGREGATES["session"][0],
    "model_prices": AGGREGATES["model_price"][0],
    "otlp_spans": AGGREGATES["otlp_span"][0],
    "local_sign_ins": AGGREGATES["local_sign_in"][0],
}


def _enum_checks() -> dict[str, tuple[str, dict[str, str]]]:
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for table in METADATA.tables.values():
        for column in table.columns:
            if isinstance(column.type, Enum):
                found[f"ck_{table.name}_{column.type.name}"] = (
                    table.name,
                    {column.name: "'NOT_A_VALUE'"},
                )
    return found


def _all_checks() -> dict[str, tuple[str, dict[str, str]]]:
    cases = _enum_checks()
    for table in METADATA.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint) and constraint.name in RANGE_CHECKS:
                cases[str(constraint.name)] = (table.name, RANGE_CHECKS[str(constraint.name)])
    return cases


CHECK_CASES = _all_checks()


def _declared_check_names() -> set[str]:
    names = set()
    for table in METADATA.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint):
                names.add(str(constraint.name))
    return names


def test_every_check_constraint_has_a_violation_case() -> None:
    assert _declared_check_names() == set(CHECK_CASES)


def _row_where(table: Table, row: Any) -> Any:
    clauses = [col == getattr(row, col.key) for col in table.primary_key.columns]
    clause = clauses[0]
    for extra in clauses[1:]:
        clause = clause & extra
    return clause


def _snapshot(session: Session, table: Table, where: Any) -> tuple[Any, ...]:
    return tuple(session.execute(select(table).where(where)).one())


def _assert_refused(session: Session, table: Table, where: Any, values: dict[str, Any]) -> None:
    before = _snapshot(session, table, where)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(update(table).where(where).values(values))
    assert _snapshot(session, table, where) == before


@pytest.mark.parametrize("constraint", sorted(CHECK_CASES))
def test_check_constraint_refuses_and_changes_nothing(session: Session, constraint: str) -> None:
    table_name, assignments = CHECK_CASES[constraint]
    table = METADATA.tables[table_name]
    row = TABLE_BUILDERS[table_name](session)
    values = {name: literal_column(sql) for name, sql in assignments.items()}
    _assert_refused(session, table, _row_where(table, row), values)


def _foreign_keys() -> list[tuple[str, str]]:
    found = []
    for table in METADATA.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, ForeignKeyConstraint):
                found.append((table.name, constraint.columns[0].name))
    return sorted(found)


def _missing_value(column_type: Any) -> Any:
    python_type = column_type.python_type
    if python_type is uuid.UUID:
        return uuid.uuid4()
    if python_type is int:
        return 2**40
    return "f" * 64


@pytest.mark.parametrize(("table_name", "column_name"), _foreign_keys())
def test_foreign_key_refuses_dangling_reference(
    session: Session, table_name: str, column_name: str
) -> None:
    table = METADATA.tables[table_name]
    row = TABLE_BUILDERS[table_name](session)
    column = table.c[column_name]
    _assert_refused(
        session, table, _row_where(table, row), {column_name: _missing_value(column.type)}
    )


def _duplicate_customer(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    a, b = f.customer(db), f.customer(db)
    return m.Customer.__table__, b, {"email": a.email}


def _duplicate_in_customer(
    model: Any, builder: Callable[..., Any]
) -> Callable[[Session], tuple[Table, Any, dict[str, Any]]]:
    def build(db: Session) -> tuple[Table, Any, dict[str, Any]]:
        owner = f.customer(db)
        a, b = builder(db, owner), builder(db, owner)
        return model.__table__, b, {"name": a.name}

    return build


def _second_template(db: Session, owner: m.Customer) -> m.Template:
    row = m.Template(customer_id=owner.id, name=f"tpl-{uuid.uuid4().hex[:8]}")
    db.add(row)
    db.flush()
    return row


def _duplicate_api_key(column: str) -> Callable[[Session], tuple[Table, Any, dict[str, Any]]]:
    def build(db: Session) -> tuple[Table, Any, dict[str, Any]]:
        owner = f.customer(db)
        keys = [
            m.ApiKey(
                customer_id=owner.id,
                name=f"k{i}",
                prefix=f"fl_{uuid.uuid4().hex[:8]}",
                key_hash=uuid.uuid4().hex * 2,
            )
            for i in range(2)
        ]
        db.add_all(keys)
        db.flush()
        return m.ApiKey.__table__, keys[1], {column: getattr(keys[0], column)}

    return build


def _duplicate_context(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    proj = f.project(db)
    rows = [m.ProjectContext(project_id=proj.id, iteration=i) for i in (1, 2)]
    db.add_all(rows)
    db.flush()
    return m.ProjectContext.__table__, rows[1], {"iteration": 1}


def _duplicate_run_number(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    parent = f.task(db)
    f.run(db, parent, run_number=1)
    second = f.run(db, parent, run_number=2)
    return m.TaskRun.__table__, second, {"run_number": 1}


def _duplicate_artifact_version(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    parent = f.task(db)
    f.artifact(db, parent, version=1)
    second = f.artifact(db, parent, version=2)
    return m.Artifact.__table__, second, {"version": 1}


def _duplicate_pr_number(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    proj = f.project(db)
    first = f.pull_request(db, proj, pr_number=7)
    second = f.pull_request(db, proj, repository_url=first.repository_url, pr_number=8)
    return m.PullRequest.__table__, second, {"pr_number": 7}


def _duplicate_check(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    pr = f.pull_request(db)
    rows = [m.PullRequestCheck(pull_request_id=pr.id, name=n) for n in ("lint", "tests")]
    db.add_all(rows)
    db.flush()
    return m.PullRequestCheck.__table__, rows[1], {"name": "lint"}


def _duplicate_dependency(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    a = f.task(db)
    b = f.task(db, customer_id=a.customer_id)
    c = f.task(db, customer_id=a.customer_id)
    db.add_all([m.TaskDependency(task_id=a.id, depends_on_id=b.id)])
    second = m.TaskDependency(task_id=a.id, depends_on_id=c.id)
    db.add(second)
    db.flush()
    return m.TaskDependency.__table__, second, {"depends_on_id": b.id}


def _duplicate_session(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    owner = f.customer(db)
    rows = [m.AgentSession(customer_id=owner.id, external_id=name) for name in ("a", "b")]
    db.add_all(rows)
    db.flush()
    return m.AgentSession.__table__, rows[1], {"external_id": "a"}


def _duplicate_price(db: Session) -> tuple[Table, Any, dict[str, Any]]:
    model = f"gpt-{uuid.uuid4().hex[:6]}"
    rows = [
        m.ModelPrice(
            model=model,
            input_usd_per_mtok=1,
            output_usd_per_mtok=2,
            effective_from=datetime(year, 1, 1, tzinfo=UTC),
        )
        for year in (2024, 2025)
    ]
    db.add_all(rows)
    db.flush()
    return m.ModelPrice.__table__, rows[1], {"effective_from": rows[0].effective_from}


#: Unique constraint (or composite primary key) name -> a builder of (table, row, clash).
UNIQUE_CASES: dict[str, Callable[[Session], tuple[Table, Any, dict[str, Any]]]] = {
    "uq_customers_email": _duplicate_customer,
    "uq_projects_customer_id_name": _duplicate_in_customer(
        m.Project, lambda db, owner: f.project(db, owner)
    ),
    "uq_agents_customer_id_name": _duplicate_in_customer(
        m.Agent, lambda db, owner: f.agent(db, owner)
    ),
    "uq_templates_customer_id_name": _duplicate_in_customer(m.Template, _second_template),
    "uq_api_keys_prefix": _duplicate_api_key("prefix"),
    "uq_api_keys_key_hash": _duplicate_api_key("key_hash"),
    "uq_project_contexts_project_id_iteration": _duplicate_context,
    "uq_task_runs_task_id_run_number": _duplicate_run_number,
    "uq_artifacts_task_id_name_version": _duplicate_artifact_version,
    "uq_pull_requests_project_id_repository_url_pr_number": _duplicate_pr_number,
    "uq_pull_request_checks_pull_request_id_name": _duplicate_check,
    "pk_task_dependencies": _duplicate_dependency,
    "uq_sessions_customer_id_external_id": _duplicate_session,
    "uq_model_prices_model_is_prefix_effective_from": _duplicate_price,
}


def test_every_unique_constraint_has_a_violation_case() -> None:
    declared = {
        str(c.name)
        for t in METADATA.tables.values()
        for c in t.constraints
        if isinstance(c, UniqueConstraint)
    }
    declared.add("pk_task_dependencies")
    assert declared == set(UNIQUE_CASES)


@pytest.mark.parametrize("constraint", sorted(UNIQUE_CASES))
def test_unique_constraint_refuses_and_changes_nothing(session: Session, constraint: str) -> None:
    table, row, clash = UNIQUE_CASES[constraint](session)
    _assert_refused(session, table, _row_where(table, row), clash)


def test_refused_insert_writes_nothing(session: Session) -> None:
    """A rejected INSERT (not only UPDATE) leaves the table's row count as it was."""
    owner = f.customer(session)
    count = session.query(m.Customer).count()
    with session.begin_nested() as savepoint:
        session.add(m.Customer(name="Dup", email=owner.email))
        with pytest.raises(IntegrityError):
            session.flush()
        savepoint.rollback()
    assert session.query(m.Customer).count() == count
