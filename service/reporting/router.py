import os
import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.background import BackgroundTask

from service.api import (
    ADMIN,
    BUREAU,
    BureauReport,
    Writer,
    YearPath,
    allow,
    engine_of,
    heavy_read,
    writer,
)
from service.auth.principal import Principal
from service.problems import problem_responses
from service.kit.errors import Busy, DeadlineNotReached, NotFound, YearClosed
from service.ledger.service import InsufficientBalance
from service.reporting import budget, incremental, performance, report, workbook
from service.kit.timestamps import Timestamp
from service.kit.types import BasisPoints, Day, Flag, Text
from service.years import closing

router = APIRouter(prefix="/v1/years/{year}", tags=["budget"])
BureauReader = Annotated[Principal, Depends(allow(*BUREAU))]
AdminWriter = Annotated[Writer, Depends(writer(*ADMIN))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class MonthFigures(BaseModel):
    month: str
    issued_fen: int
    redeemed_fen: int
    paid_fen: int


class Budget(BaseModel):
    year: int
    status: str
    pool_fen: int
    issued_fen: int
    returned_fen: int
    available_fen: int
    outstanding_fen: int
    held_fen: int = Field(default=0, description="Reserved by pending holds (docs/holds.md)")
    redeemed_fen: int
    payable_fen: int
    paid_fen: int
    clawback_fen: int
    clawback_outstanding_fen: int
    utilisation_bp: int
    by_month: list[MonthFigures]
    top_enterprises: list[dict[str, Any]]
    top_providers: list[dict[str, Any]]
    projected_redeemed_fen: int
    as_of: str


class Check(BaseModel):
    name: str
    ok: bool
    expected: Any = None
    actual: Any = None
    discrepancy_count: int
    discrepancies: list[dict[str, Any]]


class Watermark(BaseModel):
    run: int = Field(description="the clean runs of the year so far, this one included")
    kind: Literal["incremental", "full"] = Field(description="the run that recorded it")
    covered_before: Timestamp = Field(description="transfers created before this are covered")
    transfer_count: int
    audit_seq: int = Field(description="audit events up to this one are covered")
    recorded_at: Timestamp


class Reconciliation(BaseModel):
    year: int
    ok: bool
    checks: list[Check]
    kind: Literal["incremental", "full"] = Field(
        description="incremental: only what was written since the last clean run")
    since: Watermark | None = Field(
        description="the last clean run's watermark this run started from (or refused); "
                    "null for a full run asked for")
    fallback: str | None = Field(
        description="why a full run ran when an incremental one was asked for")
    pending_holds_over_7_days: list[dict[str, Any]] = Field(default=[], description=(
        "Holds placed more than 7 days ago that are still pending (docs/holds.md): listed, "
        "not a failure"))


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: Flag = Field(default=False, description="close before the redemption deadline")
    reason: Text | None = Field(default=None, min_length=1, max_length=2000)


class CloseResult(BaseModel):
    year: int
    status: str
    expired_vouchers: int
    returned_fen: int
    forced: bool
    reason: str | None
    before_deadline: bool


class ReclaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issued_before: Day = Field(description="only vouchers issued before this date")
    max_used_bp: BasisPoints = Field(ge=1, le=10_000, description="vouchers that used less than this")
    reclaim_bp: BasisPoints = Field(ge=1, le=10_000, description="share of the balance taken back")
    apply: Flag = Field(default=False, description="false: preview only, nothing written")


class ReclaimResult(BaseModel):
    year: int
    applied: bool
    rule: dict[str, Any]
    vouchers: list[dict[str, Any]]
    voucher_count: int
    reclaimed_fen: int


class Report(BaseModel):
    totals: list[dict[str, Any]]
    enterprises: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    months: list[dict[str, Any]]


class CategoryShare(BaseModel):
    category: str
    subsidy_fen: int
    share_bp: int


class DistrictShare(BaseModel):
    district: str
    subsidy_fen: int
    share_bp: int


class ObjectionCounts(BaseModel):
    received: int
    upheld: int
    dismissed: int


class ReviewCounts(BaseModel):
    held: int
    cleared: int
    rejected: int


class Performance(BaseModel):
    """The year's performance indicators (docs/performance.md defines each)."""

    year: int
    enterprises_supported: int
    pool_fen: int
    issued_fen: int
    redeemed_fen: int
    paid_fen: int
    voucher_use_bp: int
    budget_execution_bp: int
    leveraged_fees_fen: int
    median_days_to_payout: int
    by_category: list[CategoryShare]
    by_district: list[DistrictShare]
    objections: ObjectionCounts
    reviews: ReviewCounts


@router.get("/budget", response_model=Budget, operation_id="getBudget",
            responses=problem_responses(NotFound))
def get_budget(year: YearPath, r: BureauReport):
    return r.read(lambda session: budget.budget(session, year))


@router.get("/performance", response_model=Performance, operation_id="getPerformance",
            responses=problem_responses(NotFound))
def get_performance(year: YearPath, r: BureauReport):
    """The year's performance indicators (绩效): output, effect and the review and objection
    counts, in one snapshot."""
    return r.read(lambda session: performance.indicators(session, year, principal=r.principal))


@router.get("/reconciliation", response_model=Reconciliation, operation_id="getReconciliation",
            responses=problem_responses(NotFound, Busy))
async def get_reconciliation(year: YearPath, request: Request, _: BureauReader,
                             full: Annotated[bool, Query(
                                 description="check every row, not only what was written "
                                             "since the last clean run")] = False):
    """The reconciliation, on the heavy-read pool (503 `busy` when it is full): by default
    only what was written since the last clean run (docs/reconciliation.md)."""
    engine = engine_of(request)
    return await heavy_read(request, lambda session: incremental.reconcile(
        session, year, full=full, record_on=engine))


@router.post("/close", response_model=CloseResult, operation_id="closeYear",
             responses=problem_responses(NotFound, DeadlineNotReached, InsufficientBalance, YearClosed))
def close_year(year: YearPath, w: AdminWriter, body: Annotated[CloseRequest | None, Body()] = None):
    body = body or CloseRequest()
    return w.run(lambda s: closing.close_year(s, year=year, force=body.force, reason=body.reason),
                 solo=True)


@router.post("/reclaim", response_model=ReclaimResult, operation_id="reclaimIdleBalances",
             responses=problem_responses(NotFound, InsufficientBalance, YearClosed))
def reclaim(year: YearPath, body: ReclaimRequest, w: AdminWriter):
    return w.run(lambda s: closing.reclaim(s, year=year, issued_before=body.issued_before,
                                           max_used_bp=body.max_used_bp,
                                           reclaim_bp=body.reclaim_bp, apply=body.apply))


@router.get("/report", operation_id="getAnnualReport", response_model=Report,
            responses={200: {"description": "The annual report",
                             "content": {"text/csv": {"schema": {"type": "string"}},
                                         XLSX: {"schema": {"type": "string",
                                                           "format": "binary"}}}},
                       **problem_responses(NotFound, Busy)})
async def get_report(year: YearPath, r: BureauReport,
                     format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
                     lang: Annotated[Literal["zh", "zh-CN", "en"], Query(description=(
                         "the workbook's language (format=xlsx): Chinese by default, or "
                         "English; JSON and CSV keep their machine keys"))] = "zh"):
    """Built on the heavy-read pool (503 `busy` when it is full); a CSV or XLSX file is written
    there to a temporary file, then sent from it and removed."""
    def build(session: Session) -> Any:
        from service.years.service import get_year

        get_year(session, year)  # 404 before any file is written
        if format == "json":
            return report.build(session, year)
        return _report_file(session, year, format, "en" if lang == "en" else "zh", r.principal)
    return await r.heavy_read(build)


def _report_file(session: Session, year: int, format: str, lang: str,
                 principal: Principal) -> FileResponse:
    fd, path = tempfile.mkstemp(prefix="voucher-report-", suffix=f".{format}")
    os.close(fd)
    try:
        if format == "xlsx":
            workbook.write(session, year, path, principal=principal, lang=lang)
        else:
            with open(path, "wb") as out:
                out.writelines(report.csv_stream(session, year))
    except BaseException:
        os.unlink(path)
        raise
    headers = {"Content-Disposition": f'attachment; filename="voucher-report-{year}.{format}"'}
    return FileResponse(path, media_type=XLSX if format == "xlsx" else
                        "text/csv; charset=utf-8", headers=headers,
                        background=BackgroundTask(os.unlink, path))
