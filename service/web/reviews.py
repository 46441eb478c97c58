"""The bureau's review queue and rule precision pages (issue 14 item 6, docs/risk.md). Like every
page they call the JSON API in-process with the signed-in user's key and hold no rules."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.risk.facts import ALL_FACTS
from service.web.apiclient import ApiError
from service.web.pages import (
    BUREAU,
    api_of,
    back,
    filters,
    flash,
    flash_error,
    get_or_none,
    form_idem,
    form_of,
    names,
    page_link,
    render,
    require,
    year_param,
)

router = APIRouter(prefix="/web", include_in_schema=False)
STATUSES = ("open", "cleared", "rejected")


@router.get("/bureau/reviews")
async def review_queue(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    chosen = filters(request, "status", "year")
    status = chosen["status"] if chosen["status"] in STATUSES else "open"
    chosen["status"] = status
    page = await api.get("/v1/reviews", status=status, year=chosen["year"] or None, limit=20,
                         cursor=request.query_params.get("cursor"))
    return render(request, "bureau/reviews.html", ws, page=page, filters=chosen,
                  statuses=STATUSES, names=await names(api, "/v1/enterprises", "/v1/providers"),
                  next_link=page_link(request, page["next_cursor"]))


@router.get("/bureau/reviews/{review_id}")
async def review_detail(review_id: str, request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    review = await api.get(f"/v1/reviews/{review_id}")
    invoice = await api.get(f"/v1/invoices/{review['invoice_id']}") if review["invoice_id"] \
        else None
    enterprise = await api.get(f"/v1/enterprises/{review['enterprise_id']}")
    provider = await api.get(f"/v1/providers/{review['provider_id']}")
    shared = {s["fact"] for f in review["flags"] if f["rule"] == "shared_contact"
              for s in f["evidence"].get("shared", [])}
    return render(request, "bureau/review.html", ws, review=review, invoice=invoice,
                  enterprise=enterprise, provider=provider, facts=ALL_FACTS, shared=shared)


@router.post("/bureau/reviews/{review_id}/{action}")
async def review_decision(review_id: str, action: str, request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    here = f"/web/bureau/reviews/{review_id}"
    if action not in ("clear", "reject"):
        return back(here)
    reason = str(form.get("reason") or "").strip()
    if not reason:
        flash(request, ws, "error", "reviews.reason_required")
        return back(here)
    try:
        out = await api_of(request, ws).post(f"/v1/reviews/{review_id}/{action}",
                                             {"reason": reason},
                                             idempotency_key=form_idem(form))
        flash(request, ws, "success", f"reviews.done_{out['status']}")
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(here)


@router.get("/bureau/risk-rules")
async def risk_rules(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    year = year_param(request)
    table = await get_or_none(api_of(request, ws), "/v1/risk-rules", year=year)
    return render(request, "bureau/risk_rules.html", ws, year=year, table=table)
