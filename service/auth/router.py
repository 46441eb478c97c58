from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from service.api import ADMIN, BUREAU, Cursor, Limit, SessionDep, Writer, allow, writer
from service.kit.paging import Page, paginate
from service.kit.timestamps import Timestamp
from service.auth import service
from service.auth import access
from service.auth.models import ApiKey
from service.auth.principal import Principal
from service.problems import problem_responses
from service.kit.errors import NotFound
from service.reviewchain.levels import Level
from service.kit.types import Line, ObjectId, ObjectIdPath

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])


def _bound(role: str, *, required: tuple[str, ...] = (), **fields: dict) -> dict:
    """One role's shape of an API key request: the fields it needs, the others absent or null."""
    unset = {"type": "null"}
    properties = {"role": {"const": role}, "enterprise_id": unset, "provider_id": unset,
                  "review_level": unset, "district": unset, **fields}
    return {"properties": properties, "required": ["role", *required]}


# What service.create_key checks, stated for clients (each answered 422 naming the field there):
# the party a provider or enterprise key is bound to; a reviewer's level, and a district-level
# reviewer's district.
_ROLE_FIELDS = [
    _bound("admin"), _bound("auditor"),
    _bound("provider", required=("provider_id",), provider_id={"type": "string"}),
    _bound("enterprise", required=("enterprise_id",), enterprise_id={"type": "string"}),
    _bound("reviewer", required=("review_level", "district"),
           review_level={"const": "district"}, district={"type": "string"}),
    _bound("reviewer", required=("review_level",),
           review_level={"enum": ["city", "finance"]}),
]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": _ROLE_FIELDS})

    role: Literal["admin", "auditor", "provider", "enterprise", "reviewer"]
    name: Line = Field(min_length=1, max_length=200)
    enterprise_id: ObjectId | None = Field(default=None, max_length=40)
    provider_id: ObjectId | None = Field(default=None, max_length=40)
    review_level: Level | None = Field(default=None, description=(
        "role reviewer: the level of the review chain the key acts at"))
    district: Line | None = Field(default=None, min_length=1, max_length=100, description=(
        "a district-level reviewer: the district whose enterprises it sees (required then)"))


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    role: str
    enterprise_id: str | None
    provider_id: str | None
    prefix: str
    created_at: Timestamp
    revoked_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    review_level: str | None = Field(default=None, description="reviewer keys only")
    district: str | None = Field(default=None, description="district-level reviewer keys only")

    @model_serializer(mode="wrap")
    def _reviewer_fields_on_reviewers(self, handler):
        # Keys of the other roles answer as they always have, without the reviewer fields.
        data = handler(self)
        if self.role != "reviewer":
            data.pop("review_level", None)
            data.pop("district", None)
        return data


class ApiKeyCreated(ApiKeyPublic):
    key: str | None = Field(description=(
        "The key itself: shown once, in the answer that created it, and stored only as a "
        "SHA-256 digest. null in an idempotent replay (Idempotent-Replayed: true), which "
        "cannot show it again"))
    key_shown: bool = Field(description="true in the answer that created the key; false in "
                                        "a replay, whose key is null")


def _without_secret(created: dict) -> dict:
    """What a replay of the creation answers: the same record, without the secret."""
    return {**created, "key": None, "key_shown": False}


def _public(key: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(key, from_attributes=True)


@router.post("", status_code=201, response_model=ApiKeyCreated, operation_id="createApiKey",
             responses=problem_responses(NotFound))
def create_api_key(body: ApiKeyCreate, w: Annotated[Writer, Depends(writer(*ADMIN))]):
    def create(session):
        key, raw = service.create_key(session, role=body.role, name=body.name,
                                      enterprise_id=body.enterprise_id,
                                      provider_id=body.provider_id,
                                      review_level=body.review_level, district=body.district)
        return ApiKeyCreated(**_public(key).model_dump(), key=raw, key_shown=True)
    return w.run(create, status_code=201, stored=_without_secret)


@router.get("", response_model=Page[ApiKeyPublic], operation_id="listApiKeys",
            responses=problem_responses())
def list_api_keys(session: SessionDep,
                  principal: Annotated[Principal, Depends(allow(*BUREAU))],
                  limit: Limit = 50, cursor: Cursor = None,
                  role: Literal["admin", "auditor", "provider", "enterprise",
                                "reviewer"] | None = None):
    stmt = access.readable(principal)
    if role:
        stmt = stmt.where(ApiKey.role == role)
    return paginate(session, stmt, ApiKey.id, limit, cursor, _public)


@router.delete("/{key_id}", response_model=ApiKeyPublic, operation_id="revokeApiKey",
               responses=problem_responses(NotFound))
def revoke_api_key(key_id: ObjectIdPath, w: Annotated[Writer, Depends(writer(*ADMIN))],
                   grace_seconds: Annotated[int, Query(ge=0, le=30 * 86400,
                                                       description="keep the key working this "
                                                                   "long (rotation)")] = 0):
    response = w.run(lambda s: _public(service.revoke_key(s, key_id=key_id,
                                                          grace_seconds=grace_seconds)))
    w.request.app.state.key_cache.clear()
    return response
