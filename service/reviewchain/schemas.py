from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.kit.timestamps import Timestamp
from service.kit.types import Day, Fen, Text

MAX_FEN = 10**15  # as service.vouchers.schemas.MAX_FEN (imported there, so not from there)


# decide.decide's rule, stated: sending back or rejecting needs a reason (422 naming it there).
_REASON_WHEN_NOT_APPROVED = {"anyOf": [
    {"properties": {"decision": {"const": "approve"}}},
    {"properties": {"reason": {"type": "string", "minLength": 1}}, "required": ["reason"]}]}


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_REASON_WHEN_NOT_APPROVED)

    decision: Literal["approve", "send_back", "reject"]
    reason: Text | None = Field(default=None, max_length=2000, description=(
        "why; required for send_back and reject"))
    approved_fen: Fen | None = Field(default=None, gt=0, le=MAX_FEN, description=(
        "an application's last-level approval only: a lower amount, as in /approve"))
    valid_until: Day | None = Field(default=None, description=(
        "an application's last-level approval only, as in /approve"))


def _application_fields_null(schema: dict) -> None:
    schema.update(_REASON_WHEN_NOT_APPROVED)
    for field in ("approved_fen", "valid_until"):
        schema["properties"][field] = {"type": "null", "description": "for applications only"}


class SettlementReviewDecision(ReviewDecision):
    """A settlement batch's review: as ReviewDecision, without an application's amount and
    validity (decide.decide answers 422 naming them), which its schema states."""

    model_config = ConfigDict(json_schema_extra=_application_fields_null)


class ReviewPublic(BaseModel):
    level: str
    decision: Literal["approve", "send_back", "reject"]
    reason: str | None
    actor_id: str
    actor_role: str
    to_level: str | None = Field(description="where the object went next; null when the "
                                             "chain ended with this decision")
    at: Timestamp
