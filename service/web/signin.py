"""Signing in with an API key, signing out, and the language switch (docs/web.md). The sign-in
form is CSRF-checked like every form, through an anonymous session that carries its token."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from service.auth import service as auth_service
from service.kit.db import reading, run_transaction
from service.kit.errors import TooManyRequests
from service.web import i18n
from service.web.pages import HOMES, back, form_of, render, store
from service.web.sessions import COOKIE, WebSession, current

router = APIRouter(prefix="/web", include_in_schema=False)


def set_cookie(request: Request, response: Response, ws: WebSession) -> None:
    response.set_cookie(COOKIE, ws.id, httponly=True, samesite="strict", path="/web",
                        secure=request.url.scheme == "https",
                        max_age=int(store(request).absolute_s))


def safe_next(url: str | None) -> str:
    # The pages, and the public notice (web/notice.py), which switches language too.
    inside = url and (url.startswith("/web") or url.startswith("/public/"))
    return url if inside and not url.startswith("//") else "/web/"


@router.get("/")
def web_home(request: Request) -> RedirectResponse:
    ws = current(request)
    if ws is None or not ws.signed_in:
        return back("/web/login")
    return back(HOMES[ws.principal.role])


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str | None = None) -> RedirectResponse:
    response = back(safe_next(next))
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
    set_cookie(request, response, ws)
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
    set_cookie(request, response, signed_in)
    return response


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    ws = current(request)
    await form_of(request, ws)
    ws.end()  # deleted before the response starts (SessionMiddleware)
    response = back("/web/login?out=1")
    response.delete_cookie(COOKIE, path="/web")
    return response
