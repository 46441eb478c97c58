"""The pages kit: what every portal's pages share. Sign-in required by role, the submitted form
checked against the session's CSRF token, the form's idempotency key, a template rendered in the
user's language, the API called as the signed-in user, its refusals flashed in words, and the
query-string helpers (year, filters, next-page link).

The pages hold no business rules: they parse forms, call the JSON API in-process
(service/web/apiclient.py) with the signed-in user's key, and render what it answers."""

import secrets
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from service.kit import clock
from service.web import format as fmt
from service.web import i18n, upload
from service.web.apiclient import Api, ApiError
from service.web.sessions import COOKIE, SessionStore, WebSession, current

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
ECHARTS_FILE = "echarts-5.6.0.min.js"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(yuan=fmt.yuan, when=fmt.when, day=fmt.day, pct=fmt.percent_bp,
                             invoice_no=fmt.invoice_no, ratio=fmt.ratio_bp)
templates.env.globals.update(new_idem=lambda: uuid.uuid4().hex, echarts_file=ECHARTS_FILE,
                             error_text=i18n.error_text)
i18n.install(templates.env)

BUREAU = ("admin", "auditor")
HOMES = {"admin": "/web/bureau", "auditor": "/web/bureau", "enterprise": "/web/enterprise",
         "provider": "/web/provider", "reviewer": "/web/inbox"}


class Redirect(Exception):
    """Leave the page for another (303): not signed in, or not this role's page."""

    def __init__(self, url: str):
        self.url = url


class Refused(Exception):
    """A POST without the session's CSRF token."""


async def redirect_handler(request: Request, exc: Redirect) -> RedirectResponse:
    return RedirectResponse(exc.url, status_code=303)


async def refused_handler(request: Request, exc: Refused) -> HTMLResponse:
    lang = lang_of(request)
    return templates.TemplateResponse(request, "refused.html", {
        "t": translator(lang), "lang": lang,
        "message": i18n.translate(lang, "csrf.failed")}, status_code=403)


# --- sessions, language, CSRF ----------------------------------------------------------------

def store(request: Request) -> SessionStore:
    return request.app.state.web_sessions


def lang_of(request: Request) -> str:
    return i18n.normalise(request.cookies.get(i18n.COOKIE))


def translator(lang: str):
    """t(key, **values): the page text of `key` in `lang`."""
    return lambda key, **kw: i18n.translate(lang, key, **kw)


def require(request: Request, *roles: str) -> WebSession:
    """The signed-in session, of one of `roles` when given; else off to sign-in or home."""
    ws = current(request)
    if ws is None or not ws.signed_in:
        expired = ws is None and request.cookies.get(COOKIE)
        raise Redirect("/web/login?expired=1" if expired else "/web/login")
    if roles and ws.principal.role not in roles:
        raise Redirect(HOMES[ws.principal.role])
    return ws


async def form_of(request: Request, ws: WebSession | None) -> Any:
    """The submitted form, after checking its CSRF token against the session's."""
    form = await request.form()
    token = str(form.get("csrf_token") or "")
    if ws is None or not token or not secrets.compare_digest(token, ws.csrf_token):
        raise Refused()
    return form


def form_idem(form: Any) -> str | None:
    """The form's Idempotency-Key (the `idem` field each form carries), so a resubmitted form
    replays the first answer."""
    return str(form.get("idem") or "") or None


def api_of(request: Request, ws: WebSession) -> Api:
    return Api(request, ws.principal.key_id)


# --- answers ---------------------------------------------------------------------------------

def render(request: Request, name: str, ws: WebSession | None, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    principal = ws.principal if ws else None
    return templates.TemplateResponse(request, name, {
        "t": translator(lang), "lang": lang, "principal": principal,
        "csrf_token": ws.csrf_token if ws else "", "flashes": ws.take_flashes() if ws else [],
        "path": request.url.path, "query": request.url.query,
        "read_only": principal is not None and principal.role == "auditor",
        "today": clock.today(), **context}, status_code=status_code)


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def flash(request: Request, ws: WebSession, kind: str, key: str, **values: Any) -> None:
    """A message for the next page: the page text of `key` in the user's language."""
    ws.flash(kind, i18n.translate(lang_of(request), key, **values))


def flash_error(request: Request, ws: WebSession, exc: ApiError) -> None:
    """An API refusal in words: the code's sentence, then each field named in the user's
    language with the API's explanation."""
    if exc.status == 401:
        ws.end()
        raise Redirect("/web/login?expired=1")
    lang = lang_of(request)
    details = [f"{i18n.field_label(lang, str(e.get('field') or ''))}: {e.get('message')}"
               for e in exc.field_errors[:20]]
    if not details and exc.code not in i18n.ERRORS and exc.problem.get("detail"):
        details = [str(exc.problem["detail"])]
    ws.flash("error", i18n.error_text(lang, exc.code, exc.status), details=details,
             code=exc.code)


def relay(upstream: Any) -> Response:
    """A file the API answered (an export), passed on with its name and type."""
    headers = {k: v for k, v in upstream.headers.items()
               if k.lower() in ("content-disposition", "content-type")}
    return Response(upstream.content, headers=headers)


async def download(request: Request, ws: WebSession, path: str, format_: str,
                   fallback: str) -> Response:
    """GET an export of the API as the user; on a refusal, back to `fallback` with it flashed."""
    try:
        upstream = await api_of(request, ws).call("GET", path, params={"format": format_},
                                                  raw=True)
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back(fallback)
    return relay(upstream)


# --- reading forms and query strings ---------------------------------------------------------

def parse_yuan(text: Any) -> int | None:
    fen = upload.to_fen(str(text or ""))
    return fen if fen and fen > 0 else None


def year_param(request: Request) -> int:
    raw = request.query_params.get("year", "")
    return int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else clock.today().year


def export_format(request: Request) -> str:
    return "xlsx" if request.query_params.get("format") == "xlsx" else "csv"


def page_link(request: Request, next_cursor: str | None) -> str | None:
    if not next_cursor:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "cursor"}
    params["cursor"] = next_cursor
    return f"{request.url.path}?{urlencode(params)}"


def filters(request: Request, *names: str) -> dict[str, str]:
    return {n: request.query_params.get(n, "").strip() for n in names}


async def names(api: Api, *paths: str) -> dict[str, str]:
    """{id: name} of the parties listed at `paths` (/v1/enterprises, /v1/providers); a list the
    user may not read adds nothing."""
    out: dict[str, str] = {}
    for path in paths:
        try:
            out.update({row["id"]: row["name"]
                        for row in (await api.get(path, limit=500))["items"]})
        except ApiError:
            pass
    return out


async def get_or_none(api: Api, path: str, **params: Any) -> Any:
    """GET `path`; None when the API answers 404 (a year not created yet, its budget, its
    reconciliation): the page then says there is nothing. Any other refusal is raised."""
    try:
        return await api.get(path, **params)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return None


async def detail_page(request: Request, ws: WebSession, path: str, template: str, *,
                      name: str, back_to: str) -> Response:
    """One object's page: GET `path` and render `template` with it as `name`. A refusal (not
    found, not this user's) is flashed and the user sent back to `back_to`."""
    try:
        found = await api_of(request, ws).get(path)
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back(back_to)
    return render(request, template, ws, **{name: found})
