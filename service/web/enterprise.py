"""The enterprise portal (docs/web.md): its vouchers and invoices with what a redemption of each
would give now (or why it would be refused), redeeming, its redemptions, and applying for
vouchers. What a redemption would give is not an API call: it comes from the redemption path's
own checks (`service.redemptions.redeem.preview`), read-only."""

from datetime import date
from types import SimpleNamespace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from service.kit import clock
from service.kit.db import reading, run_transaction
from service.redemptions import redeem as redeem_rules
from service.vouchers import service as voucher_service
from service.web import format as fmt
from service.web import i18n
from service.web.apiclient import ApiError
from service.web.pages import (
    api_of,
    back,
    flash,
    flash_error,
    form_idem,
    form_of,
    lang_of,
    page_link,
    parse_yuan,
    render,
    require,
)

router = APIRouter(prefix="/web", include_in_schema=False)


@router.get("/enterprise")
async def enterprise_home(request: Request) -> HTMLResponse:
    ws = require(request, "enterprise")
    api = api_of(request, ws)
    vouchers = (await api.get("/v1/vouchers", limit=200))["items"]
    invoices = await api.get("/v1/invoices", limit=20, cursor=request.query_params.get("cursor"))
    today = clock.today()
    usable: dict[int, list[dict]] = {}  # per year: the vouchers the redeem form offers
    unusable: dict[int, list[tuple[dict, str]]] = {}  # per year: the others, and why
    for v in vouchers:
        reason = voucher_service.unusable_reason(_voucher_row(v), today)
        if reason is None:
            usable.setdefault(v["year"], []).append(v)
        else:
            unusable.setdefault(v["year"], []).append((v, reason))
    previews = await run_in_threadpool(
        run_transaction, reading(request.app.state.engine),
        lambda session: redeem_rules.preview(session, principal=ws.principal,
                                             invoice_ids=[i["id"] for i in invoices["items"]]))
    return render(request, "enterprise/home.html", ws, vouchers=vouchers, usable=usable,
                  unusable=unusable, invoices=invoices, previews=previews,
                  total_balance=sum(v["balance_fen"] for vs in usable.values() for v in vs),
                  next_link=page_link(request, invoices["next_cursor"]))


def _voucher_row(v: dict) -> SimpleNamespace:
    """A voucher of the API's answer with its dates as dates, for the vouchers service's rule:
    what it may draw is its available amount (a voucher held whole is not usable)."""
    return SimpleNamespace(status=v["status"], balance_fen=v["available_fen"],
                           valid_from=date.fromisoformat(v["valid_from"]),
                           valid_until=date.fromisoformat(v["valid_until"]))


@router.post("/enterprise/redeem")
async def redeem(request: Request) -> RedirectResponse:
    ws = require(request, "enterprise")
    form = await form_of(request, ws)
    api = api_of(request, ws)
    body = {"invoice_id": str(form.get("invoice_id") or "")}
    if form.get("voucher_id"):
        body["voucher_id"] = str(form.get("voucher_id"))
    try:
        result = await api.post("/v1/redemptions", body, idempotency_key=form_idem(form))
        vouchers = {v["id"]: v for v in (await api.get("/v1/vouchers", limit=200))["items"]}
        codes = "、".join(vouchers[d["voucher_id"]]["code"] if d["voucher_id"] in vouchers
                         else d["voucher_id"] for d in result["draws"])
        ws.flash("success", i18n.translate(lang_of(request), "redeem.done",
                                           amount=fmt.yuan(result["subsidy_fen"]), codes=codes),
                 redemption=result["id"])
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/enterprise")


@router.get("/enterprise/redemptions")
async def enterprise_redemptions(request: Request) -> HTMLResponse:
    ws = require(request, "enterprise")
    api = api_of(request, ws)
    page = await api.get("/v1/redemptions", limit=50, cursor=request.query_params.get("cursor"))
    invoices = {i["id"]: fmt.invoice_no(i)
                for i in (await api.get("/v1/invoices", limit=500))["items"]}
    vouchers = {v["id"]: v["code"] for v in (await api.get("/v1/vouchers", limit=500))["items"]}
    return render(request, "enterprise/redemptions.html", ws, page=page, invoices=invoices,
                  vouchers=vouchers, next_link=page_link(request, page["next_cursor"]))


@router.get("/enterprise/apply")
async def apply_page(request: Request) -> HTMLResponse:
    ws = require(request, "enterprise")
    mine = await api_of(request, ws).get("/v1/applications", limit=100)
    return render(request, "enterprise/apply.html", ws, applications=mine["items"],
                  year=clock.today().year)


@router.post("/enterprise/apply")
async def apply(request: Request) -> RedirectResponse:
    ws = require(request, "enterprise")
    form = await form_of(request, ws)
    amount = parse_yuan(form.get("requested_yuan"))
    if amount is None:
        flash(request, ws, "error", "input.amount")
        return back("/web/enterprise/apply")
    year = str(form.get("year") or "")
    try:
        await api_of(request, ws).post("/v1/applications", {
            "year": int(year) if year.isdigit() else year, "requested_fen": amount,
            "project_name": str(form.get("project_name") or "").strip(),
            "purpose": str(form.get("purpose") or "").strip()},
            idempotency_key=form_idem(form))
        flash(request, ws, "success", "apply.submitted")
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/enterprise/apply")
