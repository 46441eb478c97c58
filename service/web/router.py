"""HTTP for the web pages. Every read and write goes through the JSON API in-process
(service/web/apiclient.py), so the pages hold no business rules: they parse forms, call the API
with the signed-in user's key, and render what it answers. One read is not an API call: what
a redemption of each listed invoice would give now, or why it would be refused, comes from the
redemption path's own checks (`service.redemptions.redeem.preview`), read-only."""

import json
import secrets
import uuid
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from service import clock
from service.auth import service as auth_service
from service.db import reading, run_transaction
from service.errors import TooManyRequests
from service.redemptions import redeem as redeem_rules
from service.vouchers import service as voucher_service
from service.web import format as fmt
from service.web import i18n, upload
from service.web.apiclient import Api, ApiError
from service.web.sessions import (
    COOKIE,
    SessionMiddleware,
    SessionStore,
    WebSession,
    current,
)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
ECHARTS_FILE = "echarts-5.6.0.min.js"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(yuan=fmt.yuan, when=fmt.when, day=fmt.day, pct=fmt.percent_bp,
                             invoice_no=fmt.invoice_no, ratio=fmt.ratio_bp)
templates.env.globals.update(new_idem=lambda: uuid.uuid4().hex, echarts_file=ECHARTS_FILE,
                             error_text=i18n.error_text)
i18n.install(templates.env)

router = APIRouter(prefix="/web", include_in_schema=False)
BUREAU = ("admin", "auditor")
HOMES = {"admin": "/web/bureau", "auditor": "/web/bureau", "enterprise": "/web/enterprise",
         "provider": "/web/provider", "reviewer": "/web/inbox"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'")


class _Redirect(Exception):
    def __init__(self, url: str):
        self.url = url


class _Refused(Exception):
    """A POST without the session's CSRF token."""


# --- installation ----------------------------------------------------------------------------

def install(app: FastAPI) -> None:
    """Wire the pages into the app: sessions, routes, static files, security headers."""
    app.state.web_sessions = SessionStore(app.state.engine)
    app.include_router(router)
    from service.web import inbox  # the review chain's pages (imports this module)

    app.include_router(inbox.router)
    from service.web import xml_upload  # the 数电票 XML page (issue 15)
    app.include_router(xml_upload.router)
    from service.web.reviews import router as reviews_router  # the review queue (docs/risk.md)
    app.include_router(reviews_router)
    app.mount("/web/static", StaticFiles(directory=str(STATIC)), name="web-static")
    app.add_exception_handler(_Redirect, _redirect_handler)
    app.add_exception_handler(_Refused, _refused_handler)
    app.add_middleware(WebSecurityHeaders)
    app.add_middleware(SessionMiddleware, store=app.state.web_sessions)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=303)


class WebSecurityHeaders:
    """CSP without inline script, and no caching or framing, on everything under /web."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/web"):
            return await self.app(scope, receive, send)
        static = scope["path"].startswith("/web/static/")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"same-origin")]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)
        await self.app(scope, receive, with_headers)


async def _redirect_handler(request: Request, exc: _Redirect) -> RedirectResponse:
    return RedirectResponse(exc.url, status_code=303)


async def _refused_handler(request: Request, exc: _Refused) -> HTMLResponse:
    lang = lang_of(request)
    return templates.TemplateResponse(request, "refused.html", {
        "t": _t(lang), "lang": lang, "message": i18n.translate(lang, "csrf.failed")},
        status_code=403)


# --- sessions, language, CSRF ----------------------------------------------------------------

def store(request: Request) -> SessionStore:
    return request.app.state.web_sessions


def lang_of(request: Request) -> str:
    return i18n.normalise(request.cookies.get(i18n.COOKIE))


def _t(lang: str):
    return lambda key, **kw: i18n.translate(lang, key, **kw)


def _set_cookie(request: Request, response: Response, ws: WebSession) -> None:
    response.set_cookie(COOKIE, ws.id, httponly=True, samesite="strict", path="/web",
                        secure=request.url.scheme == "https",
                        max_age=int(store(request).absolute_s))


def require(request: Request, *roles: str) -> WebSession:
    ws = current(request)
    if ws is None or not ws.signed_in:
        expired = ws is None and request.cookies.get(COOKIE)
        raise _Redirect("/web/login?expired=1" if expired else "/web/login")
    if roles and ws.principal.role not in roles:
        raise _Redirect(HOMES[ws.principal.role])
    return ws


async def form_of(request: Request, ws: WebSession | None) -> Any:
    """The submitted form, after checking its CSRF token against the session's."""
    form = await request.form()
    token = str(form.get("csrf_token") or "")
    if ws is None or not token or not secrets.compare_digest(token, ws.csrf_token):
        raise _Refused()
    return form


def api_of(request: Request, ws: WebSession) -> Api:
    return Api(request, ws.principal.key_id)


def render(request: Request, name: str, ws: WebSession | None, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    principal = ws.principal if ws else None
    response = templates.TemplateResponse(request, name, {
        "t": _t(lang), "lang": lang, "principal": principal,
        "csrf_token": ws.csrf_token if ws else "", "flashes": ws.take_flashes() if ws else [],
        "path": request.url.path, "query": request.url.query,
        "read_only": principal is not None and principal.role == "auditor",
        "today": clock.today(), **context}, status_code=status_code)
    return response


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def flash_error(request: Request, ws: WebSession, exc: ApiError) -> None:
    """An API refusal in words: the code's sentence, then each field named in the user's
    language with the API's explanation."""
    if exc.status == 401:
        ws.end()
        raise _Redirect("/web/login?expired=1")
    lang = lang_of(request)
    details = [f"{i18n.field_label(lang, str(e.get('field') or ''))}: {e.get('message')}"
               for e in exc.field_errors[:20]]
    if not details and exc.code not in i18n.ERRORS and exc.problem.get("detail"):
        details = [str(exc.problem["detail"])]
    ws.flash("error", i18n.error_text(lang, exc.code, exc.status), details=details,
             code=exc.code)


def parse_yuan(text: Any) -> int | None:
    fen = upload.to_fen(str(text or ""))
    return fen if fen and fen > 0 else None


def _year_param(request: Request) -> int:
    raw = request.query_params.get("year", "")
    return int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else clock.today().year


def _safe_next(url: str | None) -> str:
    return url if url and url.startswith("/web") and not url.startswith("//") else "/web/"


def _page_link(request: Request, next_cursor: str | None) -> str | None:
    if not next_cursor:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "cursor"}
    params["cursor"] = next_cursor
    return f"{request.url.path}?{urlencode(params)}"


def _filters(request: Request, *names: str) -> dict[str, str]:
    return {n: request.query_params.get(n, "").strip() for n in names}


# --- sign-in ---------------------------------------------------------------------------------

@router.get("/")
def web_home(request: Request) -> RedirectResponse:
    ws = current(request)
    if ws is None or not ws.signed_in:
        return back("/web/login")
    return back(HOMES[ws.principal.role])


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str | None = None) -> RedirectResponse:
    response = back(_safe_next(next))
    response.set_cookie(i18n.COOKIE, i18n.normalise(code), samesite="strict", path="/",
                        max_age=365 * 86400, secure=request.url.scheme == "https")
    return response


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    ws = current(request)
    if ws is not None and ws.signed_in:
        return back(HOMES[ws.principal.role])
    if ws is None:  # an anonymous session only to carry the sign-in form's CSRF token
        ws = store(request).anonymous()
    notice = None
    if request.query_params.get("expired"):
        notice = "login.expired"
    elif request.query_params.get("out"):
        notice = "login.signed_out"
    response = render(request, "login.html", ws, notice=notice, error=None)
    _set_cookie(request, response, ws)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    ws = current(request)
    form = await form_of(request, ws)
    raw = str(form.get("api_key") or "").strip()
    client = request.client.host if request.client else "unknown"
    throttle = request.app.state.auth_throttle
    error = None
    principal = None
    try:
        throttle.check(client)
        if raw:
            def find(session):
                key = auth_service.lookup(session, raw)
                return auth_service.principal_of(key) if key else None
            principal = await run_in_threadpool(
                run_transaction, reading(request.app.state.engine), find)
        if principal is None:
            throttle.failed(client, request)
            error = "login.bad_key"
    except TooManyRequests:
        error = "login.throttled"
    if error:
        return render(request, "login.html", ws, notice=None, error=error, status_code=401)
    signed_in = await run_in_threadpool(store(request).sign_in, ws, principal)
    response = back(HOMES[principal.role])
    _set_cookie(request, response, signed_in)
    return response


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    ws = current(request)
    await form_of(request, ws)
    ws.end()  # deleted before the response starts (SessionMiddleware)
    response = back("/web/login?out=1")
    response.delete_cookie(COOKIE, path="/web")
    return response


# --- bureau ----------------------------------------------------------------------------------

def _cumulative(values: list[int]) -> list[int]:
    out, total = [], 0
    for v in values:
        total += v
        out.append(total)
    return out


def dashboard_charts(budget: dict, categories: list[dict], lang: str) -> dict:
    """Chart series in fen (the script formats them as yuan)."""
    t = _t(lang)
    year = budget["year"]
    months = budget["by_month"]
    pool = budget["pool_fen"]
    today = clock.today()
    last_month = 12 if today.year > year else (0 if today.year < year else today.month)
    redeemed = _cumulative([m["redeemed_fen"] for m in months])
    days = (date(year, 12, 31) - date(year, 1, 1)).days + 1

    def month_end_days(m: int) -> int:
        end = date(year + 1, 1, 1) if m == 12 else date(year, m + 1, 1)
        return (end - date(year, 1, 1)).days

    remaining = [pool] + [pool - redeemed[i] if i < last_month else None for i in range(12)]
    target = [pool] + [pool - pool * month_end_days(m) // days for m in range(1, 13)]
    projected = [None] * 13
    if 0 < last_month < 12:
        projected[last_month] = remaining[last_month]
        projected[12] = pool - budget["projected_redeemed_fen"]
    return {
        "labels": {"remaining": t("dash.remaining"), "target": t("dash.target"),
                   "projected": t("dash.projected"), "issued": t("dash.issued"),
                   "redeemed": t("dash.redeemed"), "paid": t("dash.paid"),
                   "yuan": t("common.yuan"), "start": f"{year}-01-01"},
        "months": [m["month"] for m in months],
        "burndown": {"x": [f"{year}-01-01"] + [
                         (date(year, 1, 1) + timedelta(days=month_end_days(m) - 1)).isoformat()
                         for m in range(1, 13)],
                     "remaining": remaining, "target": target, "projected": projected},
        "monthly": {"issued": [m["issued_fen"] for m in months],
                    "redeemed": [m["redeemed_fen"] for m in months],
                    "paid": [m["paid_fen"] for m in months]},
        "top_enterprises": [{"name": e["name"], "value": e["redeemed_fen"]}
                            for e in budget["top_enterprises"]],
        "top_providers": [{"name": p["name"], "value": p["redeemed_fen"]}
                          for p in budget["top_providers"]],
        "categories": [{"name": t(f"cat.{c['category']}"), "value": c["redeemed_fen"]}
                       for c in categories if c["redeemed_fen"] > 0],
    }


@router.get("/bureau")
async def bureau_home(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    year = _year_param(request)
    try:
        budget = await api.get(f"/v1/years/{year}/budget")
    except ApiError as exc:
        if exc.status != 404:
            raise
        return render(request, "bureau/dashboard.html", ws, year=year, budget=None,
                      charts=None, pending=0)
    report = await api.get(f"/v1/years/{year}/report")
    pending = await api.get("/v1/applications", status="submitted", year=year, limit=500)
    charts = dashboard_charts(budget, report["categories"], lang_of(request))
    held = await api.get("/v1/reviews", status="open", year=year, limit=1)
    return render(request, "bureau/dashboard.html", ws, year=year, budget=budget,
                  charts=charts, pending=len(pending["items"]), held=held,
                  has_activity=any(m["issued_fen"] or m["redeemed_fen"]
                                   for m in budget["by_month"]))


async def _names(api: Api, path: str) -> dict[str, str]:
    try:
        page = await api.get(path, limit=500)
    except ApiError:
        return {}
    return {row["id"]: row["name"] for row in page["items"]}


@router.get("/bureau/applications")
async def applications(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    filters = _filters(request, "status", "year")
    status = filters["status"] or "submitted"
    filters["status"] = status
    page = await api.get("/v1/applications", status=None if status == "all" else status,
                         year=filters["year"] or None, limit=20,
                         cursor=request.query_params.get("cursor"))
    return render(request, "bureau/applications.html", ws, page=page, filters=filters,
                  names=await _names(api, "/v1/enterprises"),
                  next_link=_page_link(request, page["next_cursor"]))


@router.post("/bureau/applications/{application_id}/approve")
async def approve_application(application_id: str, request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    lang = lang_of(request)
    amount = parse_yuan(form.get("approved_yuan"))
    if amount is None:
        ws.flash("error", i18n.translate(lang, "input.amount"))
        return back("/web/bureau/applications")
    try:
        result = await api_of(request, ws).post(
            f"/v1/applications/{application_id}/approve", {"approved_fen": amount},
            idempotency_key=str(form.get("idem") or "") or None)
        voucher = result.get("voucher") or {}
        ws.flash("success", i18n.translate(lang, "apps.approved_msg", code=voucher.get("code"),
                                           amount=fmt.yuan(voucher.get("face_fen"))))
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
            {"reason": str(form.get("reason") or "").strip()},
            idempotency_key=str(form.get("idem") or "") or None)
        ws.flash("success", i18n.translate(lang_of(request), "apps.rejected_msg"))
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/bureau/applications")


@router.get("/bureau/vouchers")
async def bureau_vouchers(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    filters = _filters(request, "year", "status", "enterprise_id")
    page = await api.get("/v1/vouchers", **{k: v or None for k, v in filters.items()}, limit=50,
                         cursor=request.query_params.get("cursor"))
    return render(request, "bureau/vouchers.html", ws, page=page, filters=filters,
                  names=await _names(api, "/v1/enterprises"),
                  next_link=_page_link(request, page["next_cursor"]))


@router.get("/bureau/invoices")
async def bureau_invoices(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    filters = _filters(request, "enterprise_id", "provider_id", "invoice_number")
    page = await api.get("/v1/invoices", **{k: v or None for k, v in filters.items()}, limit=50,
                         cursor=request.query_params.get("cursor"))
    return render(request, "bureau/invoices.html", ws, page=page, filters=filters,
                  names=await _names(api, "/v1/enterprises"),
                  providers=await _names(api, "/v1/providers"),
                  next_link=_page_link(request, page["next_cursor"]))


@router.get("/bureau/redemptions")
async def bureau_redemptions(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    filters = _filters(request, "year", "status", "invoice_id")
    page = await api.get("/v1/redemptions", **{k: v or None for k, v in filters.items()},
                         limit=50, cursor=request.query_params.get("cursor"))
    return render(request, "bureau/redemptions.html", ws, page=page, filters=filters,
                  names=await _names(api, "/v1/enterprises"),
                  providers=await _names(api, "/v1/providers"),
                  next_link=_page_link(request, page["next_cursor"]))


@router.get("/bureau/settlements")
async def settlements(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    filters = _filters(request, "year", "status")
    page = await api_of(request, ws).get("/v1/settlements",
                                         **{k: v or None for k, v in filters.items()}, limit=50,
                                         cursor=request.query_params.get("cursor"))
    return render(request, "bureau/settlements.html", ws, page=page, filters=filters,
                  year=_year_param(request), next_link=_page_link(request, page["next_cursor"]))


@router.post("/bureau/settlements")
async def create_settlement(request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    year = str(form.get("year") or "")
    try:
        batch = await api_of(request, ws).post(
            "/v1/settlements", {"year": int(year) if year.isdigit() else year},
            idempotency_key=str(form.get("idem") or "") or None)
        ws.flash("success", i18n.translate(lang_of(request), "settle.created", id=batch["id"]))
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
    return render(request, "bureau/settlement.html", ws, batch=batch)


@router.post("/bureau/settlements/{settlement_id}/{action}")
async def settlement_action(settlement_id: str, action: str, request: Request) -> Response:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    if action not in ("approve", "pay"):
        return back(f"/web/bureau/settlements/{settlement_id}")
    body = {"bank_reference": str(form.get("bank_reference") or "").strip()} \
        if action == "pay" else None
    try:
        await api_of(request, ws).post(f"/v1/settlements/{settlement_id}/{action}", body,
                                       idempotency_key=str(form.get("idem") or "") or None)
        ws.flash("success", i18n.translate(lang_of(request),
                                           "settle.approved" if action == "approve"
                                           else "settle.paid"))
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(f"/web/bureau/settlements/{settlement_id}")


async def _download(request: Request, ws: WebSession, path: str, fmt_: str,
                    fallback: str) -> Response:
    try:
        upstream = await api_of(request, ws).call("GET", path, params={"format": fmt_}, raw=True)
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back(fallback)
    headers = {k: v for k, v in upstream.headers.items()
               if k.lower() in ("content-disposition", "content-type")}
    return Response(upstream.content, headers=headers)


@router.get("/bureau/settlements/{settlement_id}/export")
async def settlement_export(settlement_id: str, request: Request) -> Response:
    ws = require(request, *BUREAU)
    format_ = "xlsx" if request.query_params.get("format") == "xlsx" else "csv"
    return await _download(request, ws, f"/v1/settlements/{settlement_id}/export", format_,
                           f"/web/bureau/settlements/{settlement_id}")


@router.get("/bureau/reconciliation")
async def reconciliation(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    year = _year_param(request)
    try:
        result = await api_of(request, ws).get(f"/v1/years/{year}/reconciliation")
    except ApiError as exc:
        if exc.status != 404:
            raise
        result = None
    return render(request, "bureau/reconciliation.html", ws, year=year, result=result)


@router.get("/bureau/audit")
async def audit(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    filters = _filters(request, "action", "object_id")
    page = await api.get("/v1/audit-events", **{k: v or None for k, v in filters.items()},
                         limit=50, cursor=request.query_params.get("cursor"))
    verification = await api.get("/v1/audit-events/verify") \
        if request.query_params.get("verify") else None
    for event in page["items"]:
        event["summary_text"] = json.dumps(event["summary"], ensure_ascii=False)[:300]
    return render(request, "bureau/audit.html", ws, page=page, filters=filters,
                  verification=verification,
                  next_link=_page_link(request, page["next_cursor"]))


@router.get("/bureau/year")
async def year_page(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    year = _year_param(request)
    try:
        policy = await api_of(request, ws).get(f"/v1/years/{year}")
    except ApiError as exc:
        if exc.status != 404:
            raise
        policy = None
    return render(request, "bureau/year.html", ws, year=year, policy=policy)


@router.post("/bureau/year/create")
async def create_year(request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    year = str(form.get("year") or "")
    try:
        await api_of(request, ws).post("/v1/years", {"year": int(year) if year.isdigit()
                                                     else year},
                                       idempotency_key=str(form.get("idem") or "") or None)
        ws.flash("success", i18n.translate(lang_of(request), "year.created", year=year))
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(f"/web/bureau/year?year={year}")


@router.get("/bureau/year/close")
async def close_year_confirm(request: Request) -> HTMLResponse:
    ws = require(request, "admin")
    year = _year_param(request)
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
    lang = lang_of(request)
    year = str(form.get("year") or "")
    if str(form.get("confirm_year") or "").strip() != year or not year.isdigit():
        ws.flash("error", i18n.translate(lang, "year.close_mismatch"))
        return back(f"/web/bureau/year/close?year={year}")
    body: dict[str, Any] = {"force": form.get("force") == "on"}
    reason = str(form.get("reason") or "").strip()
    if reason:
        body["reason"] = reason
    try:
        result = await api_of(request, ws).post(f"/v1/years/{year}/close", body,
                                                idempotency_key=str(form.get("idem") or "")
                                                or None)
        ws.flash("success", i18n.translate(lang, "year.closed_msg", year=year,
                                           n=result["expired_vouchers"],
                                           amount=fmt.yuan(result["returned_fen"])))
        return back(f"/web/bureau/year?year={year}")
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(f"/web/bureau/year/close?year={year}")


@router.get("/bureau/year/report")
async def annual_report(request: Request) -> Response:
    ws = require(request, *BUREAU)
    year = _year_param(request)
    format_ = "xlsx" if request.query_params.get("format") == "xlsx" else "csv"
    return await _download(request, ws, f"/v1/years/{year}/report", format_,
                           f"/web/bureau/year?year={year}")


# --- enterprise ------------------------------------------------------------------------------

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
                  next_link=_page_link(request, invoices["next_cursor"]))


def _voucher_row(v: dict) -> SimpleNamespace:
    """A voucher of the API's answer with its dates as dates, for the vouchers service's rule."""
    return SimpleNamespace(status=v["status"], balance_fen=v["balance_fen"],
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
        result = await api.post("/v1/redemptions", body,
                                idempotency_key=str(form.get("idem") or "") or None)
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
                  vouchers=vouchers, next_link=_page_link(request, page["next_cursor"]))


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
    lang = lang_of(request)
    amount = parse_yuan(form.get("requested_yuan"))
    if amount is None:
        ws.flash("error", i18n.translate(lang, "input.amount"))
        return back("/web/enterprise/apply")
    year = str(form.get("year") or "")
    try:
        await api_of(request, ws).post("/v1/applications", {
            "year": int(year) if year.isdigit() else year, "requested_fen": amount,
            "project_name": str(form.get("project_name") or "").strip(),
            "purpose": str(form.get("purpose") or "").strip()},
            idempotency_key=str(form.get("idem") or "") or None)
        ws.flash("success", i18n.translate(lang, "apply.submitted"))
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back("/web/enterprise/apply")


# --- provider --------------------------------------------------------------------------------

@router.get("/provider")
async def provider_home(request: Request) -> HTMLResponse:
    ws = require(request, "provider")
    filters = _filters(request, "invoice_number")
    page = await api_of(request, ws).get("/v1/invoices", limit=50,
                                         invoice_number=filters["invoice_number"] or None,
                                         cursor=request.query_params.get("cursor"))
    return render(request, "provider/home.html", ws, page=page, filters=filters,
                  next_link=_page_link(request, page["next_cursor"]))


@router.get("/provider/invoices/{invoice_id}")
async def provider_invoice(invoice_id: str, request: Request) -> HTMLResponse:
    ws = require(request, "provider")
    try:
        invoice = await api_of(request, ws).get(f"/v1/invoices/{invoice_id}")
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back("/web/provider")
    return render(request, "provider/invoice.html", ws, invoice=invoice)


@router.post("/provider/invoices/{invoice_id}/payments")
async def record_payment(invoice_id: str, request: Request) -> RedirectResponse:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    lang = lang_of(request)
    amount = parse_yuan(form.get("amount_yuan"))
    if amount is None:
        ws.flash("error", i18n.translate(lang, "input.amount"))
    else:
        try:
            await api_of(request, ws).post(
                f"/v1/invoices/{invoice_id}/payments",
                {"amount_fen": amount, "paid_on": str(form.get("paid_on") or "")},
                idempotency_key=str(form.get("idem") or "") or None)
            ws.flash("success", i18n.translate(lang, "pay.done", amount=fmt.yuan(amount)))
        except ApiError as exc:
            flash_error(request, ws, exc)
    return back(f"/web/provider/invoices/{invoice_id}")


@router.post("/provider/invoices/{invoice_id}/reversals")
async def post_reversal(invoice_id: str, request: Request) -> RedirectResponse:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    lang = lang_of(request)
    amount = parse_yuan(form.get("amount_yuan"))
    if amount is None:
        ws.flash("error", i18n.translate(lang, "input.amount"))
    else:
        try:
            await api_of(request, ws).post(f"/v1/invoices/{invoice_id}/reversals", {
                "invoice_number": str(form.get("invoice_number") or "").strip(),
                "issued_on": str(form.get("issued_on") or ""), "amount_fen": amount,
                "reason": str(form.get("reason") or "").strip()},
                idempotency_key=str(form.get("idem") or "") or None)
            ws.flash("success", i18n.translate(lang, "reverse.done", amount=fmt.yuan(amount)))
        except ApiError as exc:
            flash_error(request, ws, exc)
    return back(f"/web/provider/invoices/{invoice_id}")


@router.get("/provider/upload")
def upload_page(request: Request) -> HTMLResponse:
    ws = require(request, "provider")
    return render(request, "provider/upload.html", ws, row_errors=None, columns=upload.REQUIRED,
                  optional=upload.OPTIONAL)


@router.get("/provider/upload/template.csv")
def upload_template(request: Request) -> Response:
    require(request, "provider")
    return Response(upload.template_csv(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="invoices-template.csv"'})


@router.post("/provider/upload")
async def upload_invoices(request: Request) -> Response:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    lang = lang_of(request)
    t = _t(lang)
    file = form.get("file")
    filename = getattr(file, "filename", "") or ""

    def failed(message: str, errors: list[upload.RowError] | None = None) -> HTMLResponse:
        return render(request, "provider/upload.html", ws, status_code=422, upload_error=message,
                      row_errors=errors, filename=filename, columns=upload.REQUIRED,
                      optional=upload.OPTIONAL)

    if not filename:
        return failed(t("upload.no_file"))
    if not filename.lower().endswith((".csv", ".xlsx")):
        return failed(t("upload.bad_type"))
    try:
        rows = upload.read_rows(filename, await file.read())
    except upload.UnreadableFile as exc:
        return failed(t("upload.unreadable", why=str(exc)))
    if not rows:
        return failed(t("upload.empty_file"))
    missing = upload.missing_columns(rows)
    if missing:
        return failed(t("upload.bad_header", cols=", ".join(missing)))
    parsed = upload.parse(rows, t)
    if parsed.errors:
        return failed(t("upload.failed", n=len(parsed.errors)), parsed.errors)
    try:
        result = await api_of(request, ws).post("/v1/invoices/batch",
                                                {"invoices": parsed.invoices})
    except ApiError as exc:
        if exc.status == 401:
            flash_error(request, ws, exc)
        errors = upload.api_errors_to_rows(parsed, exc.field_errors,
                                           i18n.error_text(lang, exc.code, exc.status))
        return failed(t("upload.failed", n=len(errors)), errors)
    items = result["items"]
    ws.flash("success", t("upload.saved", n=len(items),
                          amount=fmt.yuan(sum(i["total_fen"] for i in items))))
    return back("/web/provider")


@router.get("/provider/statements")
async def statements(request: Request) -> HTMLResponse:
    """Redemptions on this provider's invoices, grouped by settlement batch. Providers cannot
    read settlement batches themselves (they are bureau records), so the statement is built
    from the provider-scoped redemptions the API gives them."""
    ws = require(request, "provider")
    api = api_of(request, ws)
    rows, cursor = [], None
    while True:
        page = await api.get("/v1/redemptions", limit=500, cursor=cursor)
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor or len(rows) >= 5000:
            break
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = r["settlement_id"] or ""
        group = groups.setdefault(key, {"settlement_id": r["settlement_id"], "count": 0,
                                        "net_fen": 0, "to_me_fen": 0, "statuses": set(),
                                        "items": []})
        group["count"] += 1
        group["net_fen"] += r["net_subsidy_fen"]
        if r["beneficiary_type"] == "provider":
            group["to_me_fen"] += r["net_subsidy_fen"]
        group["statuses"].add(r["status"])
        group["items"].append(r)
    ordered = sorted(groups.values(), key=lambda g: (g["settlement_id"] is not None,
                                                     g["settlement_id"] or ""), reverse=True)
    invoices = {i["id"]: fmt.invoice_no(i)
                for i in (await api.get("/v1/invoices", limit=500))["items"]}
    return render(request, "provider/statements.html", ws, groups=ordered, invoices=invoices)


from service.web import whatif  # noqa: E402,F401  (the policy what-if page adds its routes)
