"""``DELETE /customers/{customer_id}``: what an operator's deletion of a customer removed."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict


class CustomerDeletionOut(BaseModel):
    """The deleted customer, the rows that went with it by table, and its audit event."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    name: str
    deleted: dict[str, int]
    blobs_deleted: int
    audit_event_id: int
