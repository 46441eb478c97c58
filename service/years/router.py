from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from service.api import ADMIN, BUREAU, Cursor, Limit, SessionDep, Writer, YearPath, allow, writer
from service.kit.paging import SEQ_CURSOR, Page, decode_cursor, encode_cursor
from service.auth.principal import Principal
from service.problems import problem_responses
from service.kit.errors import AlreadyExists, NotFound, PolicyLocked, YearClosed
from service.ledger.service import InsufficientBalance
from service.years import service
from service.kit.rows import one_readable
from service.years import access
from service.years.models import BudgetYear
from service.years.schemas import Calendar, CalendarPublic, YearCreate, YearPublic, YearUpdate

router = APIRouter(prefix="/v1/years", tags=["years"])


@router.post("", status_code=201, response_model=YearPublic, operation_id="createYear",
             responses=problem_responses(AlreadyExists, InsufficientBalance))
def create_year(body: YearCreate, w: Annotated[Writer, Depends(writer(*ADMIN))]):
    return w.run(lambda s: service.to_public(s, service.create_year(s, body, by=w.principal)),
                 status_code=201)


@router.get("", response_model=Page[YearPublic], operation_id="listYears",
            responses=problem_responses())
def list_years(session: SessionDep, principal: Annotated[Principal, Depends(allow(*BUREAU))],
               limit: Limit = 50, cursor: Cursor = None,
               status: Literal["open", "closed"] | None = None):
    """The budget years, oldest first (ascending `year`, like every list's key order)."""
    stmt = access.readable(principal)
    if status:
        stmt = stmt.where(BudgetYear.status == status)
    if cursor:
        stmt = stmt.where(BudgetYear.year > int(decode_cursor(cursor, shape=SEQ_CURSOR)))
    rows = session.exec(stmt.order_by(BudgetYear.year).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [service.to_public(session, row) for row in rows],
            "next_cursor": encode_cursor(str(rows[-1].year)) if more and rows else None}


@router.get("/{year}", response_model=YearPublic, operation_id="getYear",
            responses=problem_responses(NotFound))
def get_year(year: YearPath, session: SessionDep,
             principal: Annotated[Principal, Depends(allow(*BUREAU))]):
    return service.to_public(session, one_readable(session, access.readable(principal).where(
        BudgetYear.year == year), f"budget year {year} does not exist"))


@router.patch("/{year}", response_model=YearPublic, operation_id="updateYear",
              responses=problem_responses(NotFound, InsufficientBalance, PolicyLocked, YearClosed))
def update_year(year: YearPath, body: YearUpdate, w: Annotated[Writer, Depends(writer(*ADMIN))]):
    return w.run(lambda s: service.to_public(s, service.update_year(s, year, body, by=w.principal)))


def _calendar(year: BudgetYear) -> dict:
    return {"year": year.year, **service.calendar_of(year)}


@router.get("/{year}/calendar", response_model=CalendarPublic, operation_id="getYearCalendar",
            responses=problem_responses(NotFound))
def get_calendar(year: YearPath, session: SessionDep,
                 principal: Annotated[Principal, Depends(allow(*BUREAU))]):
    """The working-day calendar a batch's notice window is counted on (docs/notice.md)."""
    return _calendar(one_readable(session, access.readable(principal).where(
        BudgetYear.year == year), f"budget year {year} does not exist"))


@router.put("/{year}/calendar", response_model=CalendarPublic, operation_id="putYearCalendar",
            responses=problem_responses(NotFound))
def put_calendar(year: YearPath, body: Calendar, w: Annotated[Writer, Depends(writer(*ADMIN))]):
    """Replace the year's public holidays and 调休 workdays (dates of any year). A date in both
    lists is 422 naming `workdays`; a date that is not a real date is 422 naming its field."""
    return w.run(lambda s: _calendar(service.set_calendar(s, year, body)))
