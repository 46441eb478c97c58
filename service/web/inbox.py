"""The review chain's pages (issue 14, item 6): each reviewer's inbox of what waits at its
level, the page of one application or settlement batch with its review trail, and the
approve / send back / reject form. Like every page, they call the JSON API with the signed-in
user's key; the API decides (level, district scope, reasons)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

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
    names,
    parse_yuan,
    render,
    require,
)

router = APIRouter(prefix="/web/inbox", include_in_schema=False)
ROLES = ("admin", "auditor", "reviewer")
LEVELS = ("district", "city", "finance")


def _level_of(request: Request, principal) -> str:
    if principal.role == "reviewer":
        return principal.review_level
    wanted = request.query_params.get("level", "")
    return wanted if wanted in LEVELS else "city"


@router.get("")
async def inbox(request: Request) -> HTMLResponse:
    ws = require(request, *ROLES)
    api = api_of(request, ws)
    level = _level_of(request, ws.principal)
    applications = await api.get("/v1/applications", status="submitted", review_level=level,
                                 limit=100)
    settlements = await api.get("/v1/settlements", status="draft", review_level=level,
                                limit=100)
    return render(request, "inbox/inbox.html", ws, level=level, levels=LEVELS,
                  applications=applications["items"], settlements=settlements["items"],
                  names=await names(api, "/v1/enterprises"))


@router.get("/applications/{application_id}")
async def application_page(application_id: str, request: Request) -> HTMLResponse:
    return await _detail("applications", application_id, request)


@router.get("/settlements/{settlement_id}")
async def settlement_page(settlement_id: str, request: Request) -> HTMLResponse:
    return await _detail("settlements", settlement_id, request)


@router.post("/applications/{application_id}")
async def decide_application(application_id: str, request: Request) -> RedirectResponse:
    return await _decide("applications", application_id, request)


@router.post("/settlements/{settlement_id}")
async def decide_settlement(settlement_id: str, request: Request) -> RedirectResponse:
    return await _decide("settlements", settlement_id, request)


async def _detail(kind: str, object_id: str, request: Request) -> HTMLResponse:
    ws = require(request, *ROLES)
    api = api_of(request, ws)
    try:
        obj = await api.get(f"/v1/{kind}/{object_id}")
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back("/web/inbox")
    principal = ws.principal
    waiting = obj.get("review_level")
    may_decide = waiting is not None and (
        principal.role == "admin" or
        (principal.role == "reviewer" and principal.review_level == waiting))
    levels = obj.get("review_levels") or []
    return render(request, "inbox/detail.html", ws, kind=kind, obj=obj, may_decide=may_decide,
                  last_level=bool(levels) and waiting == levels[-1],
                  names=await names(api, "/v1/enterprises"))


async def _decide(kind: str, object_id: str, request: Request) -> RedirectResponse:
    ws = require(request, "admin", "reviewer")
    form = await form_of(request, ws)
    decision = str(form.get("decision") or "")
    body: dict = {"decision": decision}
    reason = str(form.get("reason") or "").strip()
    if reason:
        body["reason"] = reason
    if kind == "applications" and decision == "approve" and str(form.get("approved_yuan") or
                                                               "").strip():
        amount = parse_yuan(form.get("approved_yuan"))
        if amount is None:
            flash(request, ws, "error", "input.amount")
            return back(f"/web/inbox/{kind}/{object_id}")
        body["approved_fen"] = amount
    lang = lang_of(request)
    try:
        await api_of(request, ws).post(f"/v1/{kind}/{object_id}/reviews", body,
                                       idempotency_key=form_idem(form))
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back(f"/web/inbox/{kind}/{object_id}")
    ws.flash("success", i18n.translate(lang, "inbox.decided_msg",
                                       decision=i18n.translate(lang, f"decision.{decision}")))
    level = "" if ws.principal.role == "reviewer" else f"?level={form.get('level') or ''}"
    return back(f"/web/inbox{level}")
