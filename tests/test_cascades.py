"""Deleting a parent deletes what only it owns; references to shared things become NULL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import factories as f
from flightlog import models as m


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_deleting_a_task_removes_everything_it_owns(session: Session) -> None:
    owner = f.customer(session)
    parent = f.task(session, owner=owner)
    sub = f.task(session, owner=owner, parent_task_id=parent.id)
    other = f.task(session, owner=owner)
    session.add(m.TaskDependency(task_id=other.id, depends_on_id=parent.id))
    r = f.run(session, parent)
    ar = f.agent_run(session, r)
    f.event(session, parent, run_id=r.id, agent_run_id=ar.id)
    f.metric(session, parent, run_id=r.id)
    art = f.artifact(session, parent, run_id=r.id)
    proj = f.project(session, owner=owner)
    pr = f.pull_request(session, proj, task_id=parent.id, run_id=r.id)
    session.flush()

    session.delete(parent)
    session.flush()
    session.expunge_all()

    assert session.get(m.Task, sub.id) is None
    assert _count(session, m.TaskRun, m.TaskRun.task_id == parent.id) == 0
    assert _count(session, m.AgentRun, m.AgentRun.task_id == parent.id) == 0
    assert _count(session, m.Event, m.Event.task_id == parent.id) == 0
    assert _count(session, m.MetricPoint, m.MetricPoint.task_id == parent.id) == 0
    assert _count(session, m.Artifact, m.Artifact.task_id == parent.id) == 0
    assert _count(session, m.TaskDependency, m.TaskDependency.depends_on_id == parent.id) == 0
    # Shared or outliving rows stay: the other task, the blob, the pull request (unlinked).
    assert session.get(m.Task, other.id) is not None
    assert session.get(m.ArtifactBlob, art.sha256) is not None
    kept_pr = session.get(m.PullRequest, pr.id)
    assert kept_pr is not None
    assert kept_pr.task_id is None
    assert kept_pr.run_id is None


def test_deleting_a_run_removes_its_agent_runs_events_metrics_and_artifacts(
    session: Session,
) -> None:
    parent = f.task(session)
    r = f.run(session, parent)
    ar = f.agent_run(session, r)
    child = f.agent_run(session, r, parent_id=ar.id)
    f.event(session, parent, run_id=r.id)
    f.metric(session, parent, run_id=r.id)
    f.artifact(session, parent, run_id=r.id)
    kept_event = f.event(session, parent)
    session.flush()

    session.delete(r)
    session.flush()
    session.expunge_all()
    assert session.get(m.AgentRun, ar.id) is None
    assert session.get(m.AgentRun, child.id) is None
    assert _count(session, m.Event, m.Event.run_id == r.id) == 0
    assert _count(session, m.MetricPoint, m.MetricPoint.run_id == r.id) == 0
    assert _count(session, m.Artifact, m.Artifact.run_id == r.id) == 0
    assert session.get(m.Event, kept_event.id) is not None
    assert session.get(m.Task, parent.id) is not None


def test_deleting_an_agent_sets_references_to_null(session: Session) -> None:
    owner = f.customer(session)
    bot = f.agent(session, owner=owner)
    parent = f.task(session, owner=owner, assigned_agent_id=bot.id)
    r = f.run(session, parent, agent_id=bot.id)
    ar = f.agent_run(session, r, agent_id=bot.id)
    ev = f.event(session, parent, agent_id=bot.id)
    rec = f.recommendation(session, owner=owner, agent_id=bot.id)
    opt = m.Optimization(recommendation_id=rec.id, customer_id=owner.id, agent_id=bot.id)
    session.add(opt)
    session.flush()

    session.delete(bot)
    session.flush()
    session.expunge_all()
    for model, key, column in [
        (m.Task, parent.id, "assigned_agent_id"),
        (m.TaskRun, r.id, "agent_id"),
        (m.AgentRun, ar.id, "agent_id"),
        (m.Event, ev.id, "agent_id"),
        (m.Recommendation, rec.id, "agent_id"),
        (m.Optimization, opt.id, "agent_id"),
    ]:
        row = session.get(model, key)
        assert row is not None, model
        assert getattr(row, column) is None, model


def test_deleting_a_customer_removes_the_whole_tenant(session: Session) -> None:
    owner = f.customer(session)
    bystander = f.customer(session)
    proj = f.project(session, owner=owner)
    ctx = m.ProjectContext(project_id=proj.id, iteration=1)
    session.add(ctx)
    bot = f.agent(session, owner=owner)
    parent = f.task(session, owner=owner, project_id=proj.id)
    f.run(session, parent)
    f.event(session, parent)
    rec = f.recommendation(session, owner=owner, agent_id=bot.id)
    session.add(m.Approval(recommendation_id=rec.id, customer_id=owner.id))
    session.add(m.ApiKey(customer_id=owner.id, name="k", prefix="fl_zz9911", key_hash="a" * 64))
    session.add(m.Template(customer_id=owner.id, name="t"))
    f.pull_request(session, proj)
    kept = f.task(session, owner=bystander)
    session.flush()

    session.delete(owner)
    session.flush()
    session.expunge_all()
    for model in (m.Project, m.Agent, m.Task, m.Recommendation, m.ApiKey, m.Template):
        assert _count(session, model, model.customer_id == owner.id) == 0, model
    assert _count(session, m.ProjectContext, m.ProjectContext.project_id == proj.id) == 0
    assert _count(session, m.PullRequest, m.PullRequest.project_id == proj.id) == 0
    assert _count(session, m.Approval, m.Approval.customer_id == owner.id) == 0
    assert _count(session, m.Event, m.Event.customer_id == owner.id) == 0
    assert session.get(m.Task, kept.id) is not None


def test_deleting_a_project_context_unlinks_modifications(session: Session) -> None:
    proj = f.project(session)
    ctx = m.ProjectContext(project_id=proj.id, iteration=1)
    session.add(ctx)
    session.flush()
    mod = m.Modification(project_id=proj.id, project_context_id=ctx.id, request="x")
    session.add(mod)
    session.flush()
    session.delete(ctx)
    session.flush()
    session.expunge_all()
    kept = session.get(m.Modification, mod.id)
    assert kept is not None
    assert kept.project_context_id is None


def test_deleting_recommendation_and_pr_remove_their_children(session: Session) -> None:
    rec = f.recommendation(session)
    session.add(m.Approval(recommendation_id=rec.id, customer_id=rec.customer_id))
    session.add(m.Optimization(recommendation_id=rec.id, customer_id=rec.customer_id))
    pr = f.pull_request(session)
    session.add(m.PullRequestCheck(pull_request_id=pr.id, name="lint"))
    session.flush()
    session.delete(rec)
    session.delete(pr)
    session.flush()
    session.expunge_all()
    assert _count(session, m.Approval, m.Approval.recommendation_id == rec.id) == 0
    assert _count(session, m.Optimization, m.Optimization.recommendation_id == rec.id) == 0
    assert _count(session, m.PullRequestCheck, m.PullRequestCheck.pull_request_id == pr.id) == 0


def test_blob_in_use_cannot_be_deleted(session: Session) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    art = f.artifact(session, f.task(session))
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(
            m.ArtifactBlob.__table__.delete().where(m.ArtifactBlob.sha256 == art.sha256)
        )
    assert session.get(m.ArtifactBlob, art.sha256) is not None
