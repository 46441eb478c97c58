"""The web pages (docs/web.md): a small pages kit (pages.py), then one module per portal, each
with its own router — sign-in, the bureau's console, the enterprise and provider portals, the
review inbox and queue, the policy what-if and the provider's uploads. `install` wires them all
into the app."""

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from service.web import (
    bureau,
    enterprise,
    holds,
    inbox,
    notice,
    notices,
    pages,
    provider,
    reviews,
    signin,
    whatif,
    xml_upload,
)
from service.web.security import WebSecurityHeaders
from service.web.sessions import SessionMiddleware, SessionStore

ROUTERS = (signin.router, bureau.router, enterprise.router, provider.router, whatif.router,
           inbox.router, xml_upload.router, reviews.router, notice.router,
           notices.router, holds.router)


def bind(app: FastAPI) -> None:
    """The sessions' store for the app's database (service.app.bind): made once, then pointed
    at the database the app is bound to, since the session middleware keeps the store."""
    store = getattr(app.state, "web_sessions", None)
    if store is None:
        app.state.web_sessions = SessionStore(app.state.engine)
    else:
        store.engine = app.state.engine


def install(app: FastAPI) -> None:
    """Wire the pages into the app: sessions, routes, static files, security headers."""
    bind(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/web/static", StaticFiles(directory=str(pages.STATIC)), name="web-static")
    app.add_exception_handler(pages.Redirect, pages.redirect_handler)
    app.add_exception_handler(pages.Refused, pages.refused_handler)
    app.add_middleware(WebSecurityHeaders)
    app.add_middleware(SessionMiddleware, store=app.state.web_sessions)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=303)
