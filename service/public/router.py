"""The public's routes, with no key (docs/open-data.md): HTTP only — parse, rate-limit, read
through service/public/awards.py, answer with a validator and a cache lifetime."""

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from service.api import Cursor, Limit, PublicReport, engine_of
from service.kit.config import get_settings
from service.kit.db import run_transaction
from service.kit.paging import Page, decode_cursor, paginate
from service.problems import problem_responses
from service.public import awards
from service.ratelimit.service import RateLimited, client_address, take

router = APIRouter(prefix="/v1/public", tags=["open data"])
AWARD_CURSOR = re.compile(awards.IDENTIFIER_SHAPE)


class AwardPublic(BaseModel):
    """One award: a line of a paid settlement batch (docs/open-data.md says what each field is
    and which 360Giving field it maps to)."""

    identifier: str
    title: str
    currency: Literal["CNY"]
    amount_awarded_fen: int
    amount_disbursed_fen: int
    clawback_fen: int
    award_date: str
    recipient_org_id: str
    recipient_name: str
    recipient_district: str | None
    beneficiary_type: Literal["provider", "enterprise"]
    funding_org_name: str
    programme: str
    settlement_id: str
    last_modified: str


CACHE_HEADERS = {"ETag": {"description": "a strong validator of this exact answer",
                          "schema": {"type": "string"}},
                 "Cache-Control": {"description": "public, max-age=<seconds>",
                                   "schema": {"type": "string"}}}


@router.get("/awards", response_model=Page[AwardPublic], operation_id="listPublicAwards",
            responses={200: {"description": "A page of awards, as JSON or as CSV (the same "
                                            "fields as header row, UTF-8 with a BOM); the next "
                                            "page's cursor also in the Link header",
                             "headers": CACHE_HEADERS,
                             "content": {"text/csv": {"schema": {"type": "string"}}}},
                       304: {"description": "Not modified: If-None-Match named this answer's "
                                            "ETag", "headers": CACHE_HEADERS},
                       **problem_responses(RateLimited)})
def list_awards(request: Request, r: PublicReport,
                year: Annotated[int, Query(ge=1, le=9999, description="Budget year")],
                format: Annotated[Literal["json", "csv"], Query()] = "json",
                limit: Limit = 50, cursor: Cursor = None,
                if_none_match: Annotated[str | None, Header(max_length=1000)] = None):
    """Every line of the year's paid settlement batches, one award each, by identifier; no key.
    Nothing of a batch that is not paid, and no bank data, contact, objection or key."""
    if cursor:  # a malformed request is refused before it counts, and writes nothing
        decode_cursor(cursor, shape=AWARD_CURSOR)
    settings = get_settings()
    _count_hit(request, "public_awards", settings.open_data_rate_limit,
               settings.open_data_rate_window_s)
    publisher = awards.Publisher(funding_org_name=settings.open_data_funding_org_name,
                                 programme=settings.open_data_programme)
    page = r.read(lambda session: paginate(
        session, awards.statement(year), awards.identifier_column(), limit, cursor,
        lambda row: awards.to_award(row, publisher), cursor_shape=AWARD_CURSOR))
    body = awards.to_csv(page["items"]) if format == "csv" else awards.to_json(page)
    tag = awards.etag(body)
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={settings.open_data_max_age_s}"}
    if page["next_cursor"]:
        following = request.url.include_query_params(cursor=page["next_cursor"])
        headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    if awards.matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="text/csv; charset=utf-8"
                    if format == "csv" else "application/json")


def _count_hit(request: Request, bucket: str, limit: int, window_s: int) -> None:
    """One hit of the client's address, in a transaction of its own (the answer's read only
    reads): 429 `rate_limited` with Retry-After past the limit, for every worker process alike."""
    client = client_address(request)
    run_transaction(engine_of(request), lambda session: take(
        session, bucket=bucket, client=client, limit=limit, window_s=window_s))
