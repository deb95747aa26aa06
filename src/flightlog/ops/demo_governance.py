"""The demo's governance half: what people approve before agents' work takes effect."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from flightlog.enums import AgentType
from flightlog.services import (
    agents,
    modifications,
    optimizations,
    project_contexts,
    pull_requests,
    recommendations,
    templates,
)


def write_governance(
    session: Session,
    customer_id: uuid.UUID,
    task_id: uuid.UUID,
) -> None:
    """Templates, project contexts, modifications, pull requests and cost recommendations."""
    template = templates.create_template(
        session,
        customer_id,
        name="fastapi-service",
        description="A FastAPI service with tests",
        files={
            "app/{{package}}.py": "app = FastAPI(title='{{title}}')\n",
            "README.md": "# {{title}}\nPort {{port}}\n",
        },
        required_variables=["package", "title"],
        optional_variables=["port"],
        tech_stack=["python", "fastapi"],
        tags=["api", "backend"],
        complexity="medium",
        setup_time_minutes=15,
    )
    created = templates.create_project_from_template(
        session,
        customer_id,
        template.id,
        name="billing-api",
        variables={"package": "billing", "title": "Billing API", "port": "8080"},
        repository_url="https://git.example/acme/billing-api.git",
    )
    project_id = created.project.id
    for coverage, security, performance in ((52.0, 70.0, 61.0), (68.5, 81.0, 74.0)):
        project_contexts.add_iteration(
            session,
            customer_id,
            project_id,
            codebase={"files": 12 + int(coverage) // 10},
            configuration={"python": "3.11"},
            test_coverage=coverage,
            security_score=security,
            performance_score=performance,
        )
    applied = modifications.request_modification(
        session,
        customer_id,
        project_id,
        request="Add rate limiting",
        impact_analysis={"risk": "low", "services": ["gateway"]},
        affected_files=["app/billing.py", "app/limits.py"],
        requested_by="alice",
    )
    modifications.approve(session, customer_id, applied.id, decided_by="carol")
    modifications.apply(
        session, customer_id, applied.id, result={"commit": "9f1c2e7"}, actor="Alex"
    )
    rejected = modifications.request_modification(
        session,
        customer_id,
        project_id,
        request="Rewrite in Rust",
        affected_files=["*"],
        requested_by="bob",
    )
    modifications.reject(session, customer_id, rejected.id, decided_by="carol", comment="not now")
    modifications.request_modification(
        session,
        customer_id,
        project_id,
        request="Add OpenTelemetry tracing",
        impact_analysis={"risk": "medium"},
        affected_files=["app/billing.py"],
        requested_by="ed",
    )
    repo = "https://git.example/acme/billing-api.git"
    merged = pull_requests.create_pull_request(
        session,
        customer_id,
        project_id=project_id,
        repository_url=repo,
        branch_name="feature/rate-limit",
        title="Add rate limiting",
        pr_number=41,
        task_id=task_id,
        author="Alex",
    )
    for target in ("OPEN", "APPROVED"):
        pull_requests.transition_pull_request(
            session, customer_id, merged.id, target, actor="carol"
        )
    for check in ("unit-tests", "lint", "security-scan"):
        pull_requests.record_check(session, customer_id, merged.id, name=check, status="PASSED")
    pull_requests.transition_pull_request(session, customer_id, merged.id, "MERGED", actor="carol")
    review = pull_requests.create_pull_request(
        session,
        customer_id,
        project_id=project_id,
        repository_url=repo,
        branch_name="feature/tracing",
        title="Add tracing",
        pr_number=42,
        author="Edward",
    )
    pull_requests.transition_pull_request(session, customer_id, review.id, "OPEN")
    pull_requests.record_check(
        session,
        customer_id,
        review.id,
        name="unit-tests",
        status="FAILED",
        details={"failed": ["test_trace_ids"]},
    )
    pull_requests.create_pull_request(
        session,
        customer_id,
        project_id=project_id,
        repository_url=repo,
        branch_name="feature/docs",
        title="Document the API",
        author="Alice",
    )
    cost = agents.register(
        session,
        customer_id,
        "cost-optimizer",
        AgentType.COST,
        capabilities=["rightsizing", "spot-instances"],
    )
    plans = [
        ("rightsizing", "Downsize idle GPU nodes", 0.92, "1200.00", "complete"),
        ("spot", "Move batch jobs to spot instances", 0.81, "640.50", "executing"),
        ("cache", "Add a response cache", 0.55, "90.00", "pending"),
        ("region", "Move to a cheaper region", 0.31, "2000.00", "reject"),
    ]
    for kind, title, confidence, savings, fate in plans:
        rec = recommendations.create_recommendation(
            session,
            customer_id,
            recommendation_type=kind,
            title=title,
            confidence_score=confidence,
            estimated_savings=savings,
            agent_id=cost.id,
            priority="HIGH" if confidence > 0.8 else "MEDIUM",
            data={"source": "demo"},
        )
        if fate == "reject":
            recommendations.decide(
                session,
                customer_id,
                rec.id,
                approve=False,
                decided_by="carol",
                comment="latency risk",
            )
        elif fate in ("complete", "executing"):
            recommendations.decide(
                session,
                customer_id,
                rec.id,
                approve=True,
                decided_by="carol",
                comment="go ahead",
            )
            opt = optimizations.start_optimization(session, customer_id, rec.id, agent_id=cost.id)
            optimizations.begin(session, customer_id, opt.id)
            optimizations.report_progress(session, customer_id, opt.id, 60)
            if fate == "complete":
                optimizations.complete(
                    session,
                    customer_id,
                    opt.id,
                    actual_savings="1100.00",
                    result={"nodes_removed": 3},
                )
