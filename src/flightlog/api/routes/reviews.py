"""Recommendations, their approvals, and the optimizations that carry them out."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from flightlog.api.auth import TenantStore
from flightlog.enums import OptimizationStatus, Priority, RecommendationStatus
from flightlog.schemas.recommendations import (
    ApprovalOut,
    Decision,
    Failure,
    OptimizationBegin,
    OptimizationDone,
    OptimizationOut,
    OptimizationStart,
    Progress,
    RecommendationIn,
    RecommendationOut,
    Rollback,
)

router = APIRouter(tags=["reviews"])


@router.post(
    "/recommendations", status_code=status.HTTP_201_CREATED, response_model=RecommendationOut
)
async def create_recommendation(body: RecommendationIn, store: TenantStore) -> RecommendationOut:
    """A PENDING recommendation, with the approval a person must decide."""
    fields = body.model_dump(exclude_none=True)
    return RecommendationOut.model_validate(await store.recommendations.create(**fields))


@router.get("/recommendations", response_model=list[RecommendationOut])
async def list_recommendations(
    store: TenantStore,
    rec_status: Annotated[list[RecommendationStatus] | None, Query(alias="status")] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    project_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RecommendationOut]:
    found = await store.recommendations.list(
        status=rec_status, priority=priority, project_id=project_id, limit=limit
    )
    return [RecommendationOut.model_validate(r) for r in found]


@router.get("/recommendations/{recommendation_id}", response_model=RecommendationOut)
async def get_recommendation(recommendation_id: uuid.UUID, store: TenantStore) -> RecommendationOut:
    return RecommendationOut.model_validate(await store.recommendations.get(recommendation_id))


@router.post("/recommendations/{recommendation_id}/decision", response_model=ApprovalOut)
async def decide_recommendation(
    recommendation_id: uuid.UUID, body: Decision, store: TenantStore
) -> ApprovalOut:
    """Approve (it may be executed) or reject (final); a second decision is a 409."""
    approval = await store.recommendations.decide(recommendation_id, **body.model_dump())
    return ApprovalOut.model_validate(approval)


@router.get("/recommendations/{recommendation_id}/approvals", response_model=list[ApprovalOut])
async def approvals(recommendation_id: uuid.UUID, store: TenantStore) -> list[ApprovalOut]:
    return [
        ApprovalOut.model_validate(a)
        for a in await store.recommendations.approvals(recommendation_id)
    ]


@router.get("/approvals/pending", response_model=list[ApprovalOut])
async def pending_approvals(
    store: TenantStore, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ApprovalOut]:
    """What waits for a person, oldest first."""
    return [
        ApprovalOut.model_validate(a) for a in await store.recommendations.pending_approvals(limit)
    ]


@router.post(
    "/recommendations/{recommendation_id}/optimizations",
    status_code=status.HTTP_201_CREATED,
    response_model=OptimizationOut,
)
async def start_optimization(
    recommendation_id: uuid.UUID, store: TenantStore, body: OptimizationStart | None = None
) -> OptimizationOut:
    """Queue the execution of an APPROVED recommendation."""
    options = body.model_dump(exclude_none=True) if body is not None else {}
    return OptimizationOut.model_validate(
        await store.optimizations.start(recommendation_id, **options)
    )


@router.get("/optimizations", response_model=list[OptimizationOut])
async def list_optimizations(
    store: TenantStore,
    opt_status: Annotated[list[OptimizationStatus] | None, Query(alias="status")] = None,
    recommendation_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OptimizationOut]:
    found = await store.optimizations.list(
        status=opt_status, recommendation_id=recommendation_id, limit=limit
    )
    return [OptimizationOut.model_validate(o) for o in found]


@router.get("/optimizations/{optimization_id}", response_model=OptimizationOut)
async def get_optimization(optimization_id: uuid.UUID, store: TenantStore) -> OptimizationOut:
    return OptimizationOut.model_validate(await store.optimizations.get(optimization_id))


@router.post("/optimizations/{optimization_id}/begin", response_model=OptimizationOut)
async def begin(
    optimization_id: uuid.UUID, store: TenantStore, body: OptimizationBegin | None = None
) -> OptimizationOut:
    """The executor picked it up: QUEUED -> EXECUTING (the body, naming who, is optional)."""
    actor = body.actor if body is not None else None
    return OptimizationOut.model_validate(
        await store.optimizations.begin(optimization_id, actor=actor)
    )


@router.post("/optimizations/{optimization_id}/progress", response_model=OptimizationOut)
async def progress(
    optimization_id: uuid.UUID, body: Progress, store: TenantStore
) -> OptimizationOut:
    moved = await store.optimizations.report_progress(
        optimization_id, body.progress, actor=body.actor
    )
    return OptimizationOut.model_validate(moved)


@router.post("/optimizations/{optimization_id}/complete", response_model=OptimizationOut)
async def complete(
    optimization_id: uuid.UUID, body: OptimizationDone, store: TenantStore
) -> OptimizationOut:
    done = await store.optimizations.complete(optimization_id, **body.model_dump())
    return OptimizationOut.model_validate(done)


@router.post("/optimizations/{optimization_id}/fail", response_model=OptimizationOut)
async def fail(optimization_id: uuid.UUID, body: Failure, store: TenantStore) -> OptimizationOut:
    failed = await store.optimizations.fail(optimization_id, **body.model_dump())
    return OptimizationOut.model_validate(failed)


@router.post("/optimizations/{optimization_id}/rollback", response_model=OptimizationOut)
async def rollback(
    optimization_id: uuid.UUID, body: Rollback, store: TenantStore
) -> OptimizationOut:
    undone = await store.optimizations.rollback(optimization_id, **body.model_dump())
    return OptimizationOut.model_validate(undone)
