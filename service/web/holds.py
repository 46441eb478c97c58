"""Holds in the portals (docs/holds.md): the provider places a hold at the quote, captures it
with the invoice or voids it; the enterprise sees the holds on its vouchers and may void one.
Every action is the JSON API's, called in-process."""

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.kit import clock
from service.web import format as fmt
from service.web.apiclient import ApiError
from service.web.pages import (
    api_of,
    back,
    flash,
    flash_error,
    form_idem,
    form_of,
    page_link,
    parse_yuan,
    render,
    require,
)

router = APIRouter(prefix="/web", include_in_schema=False)
STATUSES = ("pending", "captured", "voided", "expired")


async def _page(request: Request, role: str) -> HTMLResponse:
    ws = require(request, role)
    status = request.query_params.get("status")
    status = status if status in STATUSES else None
    api = api_of(request, ws)
    page = await api.get("/v1/holds", limit=50, status=status,
                         cursor=request.query_params.get("cursor"))
    invoices = (await api.get("/v1/invoices", limit=200))["items"] if role == "provider" else []
    today = clock.today()
    return render(request, f"{role}/holds.html", ws, page=page, status=status,
                  statuses=STATUSES, invoices=invoices, today=today,
                  year=today.year, next_link=page_link(request, page["next_cursor"]),
                  pending_fen=sum(h["amount_fen"] for h in page["items"]
                                  if h["status"] == "pending"))


@router.get("/provider/holds")
async def provider_holds(request: Request) -> HTMLResponse:
    return await _page(request, "provider")


@router.get("/enterprise/holds")
async def enterprise_holds(request: Request) -> HTMLResponse:
    return await _page(request, "enterprise")


def _day(value: object) -> str | None:
    try:
        return date.fromisoformat(str(value or "")).isoformat()
    except ValueError:
        return None


@router.post("/provider/holds")
async def place_hold(request: Request) -> RedirectResponse:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    amount = parse_yuan(form.get("amount_yuan"))
    start, end = _day(form.get("service_start")), _day(form.get("service_end"))
    days = str(form.get("expires_days") or "7")
    if amount is None or start is None or end is None or not days.isdigit():
        flash(request, ws, "error", "input.amount")
        return back("/web/provider/holds")
    body = {"voucher_code": str(form.get("voucher_code") or "").strip(),
            "enterprise_uscc": str(form.get("enterprise_uscc") or "").strip(),
            "year": int(str(form.get("year") or clock.today().year)),
            "service_start": start, "service_end": end,
            "lines": [{"category": str(form.get("category") or "gpu"), "amount_fen": amount}],
            "expires_in_s": int(days) * 24 * 3600,
            "allow_other_vouchers": form.get("allow_other_vouchers") == "on"}
    try:
        hold = await api_of(request, ws).post("/v1/holds", body,
                                              idempotency_key=form_idem(form))
        flash(request, ws, "success", "holds.placed", amount=fmt.yuan(hold["amount_fen"]))
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/provider/holds")


@router.post("/provider/holds/{hold_id}/capture")
async def capture_hold(hold_id: str, request: Request) -> RedirectResponse:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    try:
        got = await api_of(request, ws).post(
            f"/v1/holds/{hold_id}/capture", {"invoice_id": str(form.get("invoice_id") or "")},
            idempotency_key=form_idem(form))
        flash(request, ws, "success", "holds.captured_done",
              amount=fmt.yuan(got["hold"]["captured_fen"]),
              released=fmt.yuan(got["hold"]["released_fen"]))
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/provider/holds")


async def _void(request: Request, role: str, hold_id: str) -> RedirectResponse:
    ws = require(request, role)
    form = await form_of(request, ws)
    reason = str(form.get("reason") or "").strip()
    try:
        await api_of(request, ws).post(f"/v1/holds/{hold_id}/void",
                                       {"reason": reason} if reason else None,
                                       idempotency_key=form_idem(form))
        flash(request, ws, "success", "holds.voided")
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(f"/web/{role}/holds")


@router.post("/provider/holds/{hold_id}/void")
async def provider_void(hold_id: str, request: Request) -> RedirectResponse:
    return await _void(request, "provider", hold_id)


@router.post("/enterprise/holds/{hold_id}/void")
async def enterprise_void(hold_id: str, request: Request) -> RedirectResponse:
    return await _void(request, "enterprise", hold_id)
