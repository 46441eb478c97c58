"""The bureau's console (docs/web.md): the year's dashboard, applications, vouchers, invoices,
redemptions, settlement batches and their exports, reconciliation, the audit trail, and the
year's policy (create, close, the annual report). Admins act; auditors read."""

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.kit import clock
from service.web import format as fmt
from service.web.apiclient import ApiError
from service.web.charts import dashboard_charts
from service.web.notices import notice_counts, objections_of
from service.web.pages import (
    BUREAU,
    api_of,
    back,
    download,
    export_format,
    filters,
    flash,
    flash_error,
    get_or_none,
    form_idem,
    form_of,
    lang_of,
    names,
    page_link,
    parse_yuan,
    render,
    require,
    year_param,
)

router = APIRouter(prefix="/web", include_in_schema=False)


def _year_body(year: str) -> dict[str, Any]:
    """The form's year as the API's `year` (a number when it is one; else the API names it)."""
    return {"year": int(year) if year.isdigit() else year}


@router.get("/bureau")
async def bureau_home(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    year = year_param(request)
    budget = await get_or_none(api, f"/v1/years/{year}/budget")
    if budget is None:
        return render(request, "bureau/dashboard.html", ws, year=year, budget=None,
                      charts=None, pending=0)
    report = await api.get(f"/v1/years/{year}/report")
    pending = await api.get("/v1/applications", status="submitted", year=year, limit=500)
    charts = dashboard_charts(budget, report["categories"], lang_of(request))
    held = await api.get("/v1/reviews", status="open", year=year, limit=1)
    return render(request, "bureau/dashboard.html", ws, year=year, budget=budget,
                  charts=charts, pending=len(pending["items"]), held=held,
                  notice=await notice_counts(api, year),
                  has_activity=any(m["issued_fen"] or m["redeemed_fen"]
                                   for m in budget["by_month"]))


# --- applications ----------------------------------------------------------------------------

@router.get("/bureau/applications")
async def applications(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    chosen = filters(request, "status", "year")
    status = chosen["status"] or "submitted"
    chosen["status"] = status
    page = await api.get("/v1/applications", status=None if status == "all" else status,
                         year=chosen["year"] or None, limit=20,
                         cursor=request.query_params.get("cursor"))
    return render(request, "bureau/applications.html", ws, page=page, filters=chosen,
                  names=await names(api, "/v1/enterprises"),
                  next_link=page_link(request, page["next_cursor"]))


@router.post("/bureau/applications/{application_id}/approve")
async def approve_application(application_id: str, request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    amount = parse_yuan(form.get("approved_yuan"))
    if amount is None:
        flash(request, ws, "error", "input.amount")
        return back("/web/bureau/applications")
    try:
        result = await api_of(request, ws).post(
            f"/v1/applications/{application_id}/approve", {"approved_fen": amount},
            idempotency_key=form_idem(form))
        voucher = result.get("voucher") or {}
        flash(request, ws, "success", "apps.approved_msg", code=voucher.get("code"),
              amount=fmt.yuan(voucher.get("face_fen")))
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/bureau/applications")


@router.post("/bureau/applications/{application_id}/reject")
async def reject_application(application_id: str, request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    try:
        await api_of(request, ws).post(
            f"/v1/applications/{application_id}/reject",
            {"reason": str(form.get("reason") or "").strip()}, idempotency_key=form_idem(form))
        flash(request, ws, "success", "apps.rejected_msg")
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/bureau/applications")


# --- lists -----------------------------------------------------------------------------------

async def _list_page(request: Request, template: str, path: str, keys: tuple[str, ...], *,
                     providers: bool = False) -> HTMLResponse:
    """A filtered, paged list of `path`, with the enterprises' (and providers') names."""
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    chosen = filters(request, *keys)
    page = await api.get(path, **{k: v or None for k, v in chosen.items()}, limit=50,
                         cursor=request.query_params.get("cursor"))
    parties = {"names": await names(api, "/v1/enterprises")}
    if providers:
        parties["providers"] = await names(api, "/v1/providers")
    return render(request, template, ws, page=page, filters=chosen, **parties,
                  next_link=page_link(request, page["next_cursor"]))


@router.get("/bureau/vouchers")
async def bureau_vouchers(request: Request) -> HTMLResponse:
    return await _list_page(request, "bureau/vouchers.html", "/v1/vouchers",
                            ("year", "status", "enterprise_id"))


@router.get("/bureau/invoices")
async def bureau_invoices(request: Request) -> HTMLResponse:
    return await _list_page(request, "bureau/invoices.html", "/v1/invoices",
                            ("enterprise_id", "provider_id", "invoice_number"), providers=True)


@router.get("/bureau/redemptions")
async def bureau_redemptions(request: Request) -> HTMLResponse:
    return await _list_page(request, "bureau/redemptions.html", "/v1/redemptions",
                            ("year", "status", "invoice_id"), providers=True)


@router.get("/bureau/audit")
async def audit(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    chosen = filters(request, "action", "object_id")
    page = await api.get("/v1/audit-events", **{k: v or None for k, v in chosen.items()},
                         limit=50, cursor=request.query_params.get("cursor"))
    verification = await api.get("/v1/audit-events/verify") \
        if request.query_params.get("verify") else None
    for event in page["items"]:
        event["summary_text"] = json.dumps(event["summary"], ensure_ascii=False)[:300]
    return render(request, "bureau/audit.html", ws, page=page, filters=chosen,
                  verification=verification,
                  next_link=page_link(request, page["next_cursor"]))


# --- settlements -----------------------------------------------------------------------------

@router.get("/bureau/settlements")
async def settlements(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    chosen = filters(request, "year", "status")
    page = await api_of(request, ws).get("/v1/settlements",
                                         **{k: v or None for k, v in chosen.items()}, limit=50,
                                         cursor=request.query_params.get("cursor"))
    return render(request, "bureau/settlements.html", ws, page=page, filters=chosen,
                  year=year_param(request), next_link=page_link(request, page["next_cursor"]))


@router.post("/bureau/settlements")
async def create_settlement(request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    year = str(form.get("year") or "")
    try:
        batch = await api_of(request, ws).post("/v1/settlements", _year_body(year),
                                               idempotency_key=form_idem(form))
        flash(request, ws, "success", "settle.created", id=batch["id"])
        return back(f"/web/bureau/settlements/{batch['id']}")
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/bureau/settlements")


@router.get("/bureau/settlements/{settlement_id}")
async def settlement_detail(settlement_id: str, request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    try:
        batch = await api_of(request, ws).get(f"/v1/settlements/{settlement_id}")
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back("/web/bureau/settlements")
    objections = await objections_of(api_of(request, ws), settlement_id) \
        if batch["published_on"] else []
    return render(request, "bureau/settlement.html", ws, batch=batch, objections=objections,
                  line_index={x["line_id"]: x for x in batch["lines"]})


@router.post("/bureau/settlements/{settlement_id}/{action}")
async def settlement_action(settlement_id: str, action: str, request: Request) -> Response:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    if action not in ("approve", "publish", "pay"):
        return back(f"/web/bureau/settlements/{settlement_id}")
    body = {"bank_reference": str(form.get("bank_reference") or "").strip()} \
        if action == "pay" else None
    try:
        await api_of(request, ws).post(f"/v1/settlements/{settlement_id}/{action}", body,
                                       idempotency_key=form_idem(form))
        flash(request, ws, "success", {"approve": "settle.approved", "publish": "notice.published",
                                       "pay": "settle.paid"}[action])
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(f"/web/bureau/settlements/{settlement_id}")


@router.get("/bureau/settlements/{settlement_id}/export")
async def settlement_export(settlement_id: str, request: Request) -> Response:
    ws = require(request, *BUREAU)
    return await download(request, ws, f"/v1/settlements/{settlement_id}/export",
                          export_format(request), f"/web/bureau/settlements/{settlement_id}")


@router.get("/bureau/reconciliation")
async def reconciliation(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    year = year_param(request)
    result = await get_or_none(api_of(request, ws), f"/v1/years/{year}/reconciliation")
    return render(request, "bureau/reconciliation.html", ws, year=year, result=result)


# --- the year --------------------------------------------------------------------------------

@router.get("/bureau/year")
async def year_page(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    year = year_param(request)
    policy = await get_or_none(api_of(request, ws), f"/v1/years/{year}")
    indicators = await api_of(request, ws).get(f"/v1/years/{year}/performance") \
        if policy else None
    return render(request, "bureau/year.html", ws, year=year, policy=policy,
                  indicators=indicators)


@router.post("/bureau/year/create")
async def create_year(request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    year = str(form.get("year") or "")
    try:
        await api_of(request, ws).post("/v1/years", _year_body(year),
                                       idempotency_key=form_idem(form))
        flash(request, ws, "success", "year.created", year=year)
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(f"/web/bureau/year?year={year}")


@router.get("/bureau/year/close")
async def close_year_confirm(request: Request) -> HTMLResponse:
    ws = require(request, "admin")
    year = year_param(request)
    api = api_of(request, ws)
    try:
        policy = await api.get(f"/v1/years/{year}")
        budget = await api.get(f"/v1/years/{year}/budget")
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back(f"/web/bureau/year?year={year}")
    return render(request, "bureau/close.html", ws, year=year, policy=policy, budget=budget,
                  before_deadline=clock.today() <= date.fromisoformat(
                      policy["redemption_deadline"]))


@router.post("/bureau/year/close")
async def close_year(request: Request) -> RedirectResponse:
    ws = require(request, "admin")
    form = await form_of(request, ws)
    year = str(form.get("year") or "")
    if str(form.get("confirm_year") or "").strip() != year or not year.isdigit():
        flash(request, ws, "error", "year.close_mismatch")
        return back(f"/web/bureau/year/close?year={year}")
    body: dict[str, Any] = {"force": form.get("force") == "on"}
    reason = str(form.get("reason") or "").strip()
    if reason:
        body["reason"] = reason
    try:
        result = await api_of(request, ws).post(f"/v1/years/{year}/close", body,
                                                idempotency_key=form_idem(form))
        flash(request, ws, "success", "year.closed_msg", year=year,
              n=result["expired_vouchers"], amount=fmt.yuan(result["returned_fen"]))
        return back(f"/web/bureau/year?year={year}")
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(f"/web/bureau/year/close?year={year}")


@router.get("/bureau/year/report")
async def annual_report(request: Request) -> Response:
    ws = require(request, *BUREAU)
    year = year_param(request)
    return await download(request, ws, f"/v1/years/{year}/report", export_format(request),
                          f"/web/bureau/year?year={year}")
