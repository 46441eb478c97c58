"""create_app(): routers, middleware and error handlers — nothing else."""

import logging
import sys
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.kit import errors
from service import openapi_doc, problems, uow
from service.alerts.service import DeliveryWorker
from service.audit.router import router as audit_router
from service.auth.cache import AuthThrottle, KeyCache
from service.auth.router import router as auth_router
from service.kit.config import Settings, get_settings
from service.kit.db import Readiness, make_engine
from service.kit.replica import Replica
from service.heavy import HeavyPool
from service.invoices.router import router as invoices_router
from service.ledger.router import router as ledger_router
from service.logs import configure_logging, record_auth_block
from service.middleware import RequestContextMiddleware, unexpected_error
from service.notices.router import router as notices_router
from service.ops import router as ops_router
from service.public.router import router as public_router
from service.redemptions.router import router as redemptions_router
from service.holds.expiry import ExpiryWorker
from service.holds.router import router as holds_router
from service.holds.tally import release_expired
from service.auth.principal import SYSTEM
from service.risk.router import router as risk_router
from service.registry.router import router as registry_router
from service.reporting.router import router as reporting_router
from service.reviewchain.router import router as reviewchain_router
from service.settlements.router import router as settlements_router
from service.vouchers.router import router as vouchers_router
from service.web.apidocs import install as install_api_docs
from service.web import bind as bind_web
from service.web import install as install_web
from service.whatif.router import router as whatif_router
from service.years.router import router as years_router

log = logging.getLogger(__name__)

DESCRIPTION = """Compute-voucher (算力券) issuance and ledger service.

Money is integer fen (`*_fen`), rates are basis points (`*_bp`). Authenticate with
`Authorization: Bearer <api key>`. Every POST accepts `Idempotency-Key`. Errors are RFC 9457
`application/problem+json` with a stable `code`."""


def create_app(engine: Engine | None = None, *, replica: Replica | None = None) -> FastAPI:
    """The app on `engine` (DATABASE_URL's when None). Reporting reads go to `replica`; without
    an engine given, to READ_DATABASE_URL's when it is set (service/kit/replica.py)."""
    settings = get_settings()
    configure_logging(settings.log_json)
    if engine is None:
        engine = make_engine()
        replica = replica if replica is not None else Replica.from_settings()
    app = FastAPI(title="Compute voucher service", version="1.0.0", description=DESCRIPTION,
                  separate_input_output_schemas=False, lifespan=_lifespan,
                  docs_url=None, redoc_url=None)  # /docs from local files: web/apidocs.py
    bind(app, engine, settings, replica=replica)

    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes,
                       raw_bodies={"/v1/invoices/xml": settings.max_xml_body_bytes,
                                   "/web/provider/xml": settings.max_xml_body_bytes})
    app.add_exception_handler(errors.DomainError, problems.domain_error_handler)
    app.add_exception_handler(RequestValidationError, problems.validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, problems.http_error_handler)
    app.add_exception_handler(Exception, _unexpected_error)

    # The hot write routes first: a request is matched against the routes in this order.
    for router in (redemptions_router, invoices_router, years_router, registry_router,
                   auth_router, vouchers_router, settlements_router, reporting_router,
                   ledger_router, audit_router, reviewchain_router, whatif_router,
                   public_router, notices_router, holds_router):
        app.include_router(router)
    app.include_router(risk_router)  # risk flags and the review queue (docs/risk.md)
    install_web(app)  # the web pages: /web, served assets, CSP (docs/web.md)
    install_api_docs(app)  # /docs, Swagger UI served from /web/static (never a CDN)
    app.include_router(ops_router)  # /healthz, /readyz, /metrics (service/ops.py)
    app.openapi = lambda: openapi_doc.with_problems(app)
    return app


def bind(app: FastAPI, engine: Engine, settings: Settings | None = None, *,
         replica: Replica | None = None) -> FastAPI:
    """The database an app serves (and the replica its reporting reads go to) and everything
    made for it: the write batcher, the heavy pool, readiness, the key cache and auth throttle,
    the web sessions' store. create_app binds
    once; the test suite binds an app it already built to each test's fresh database, since
    FastAPI builds every route's handler on an app's first request (about 35 ms of CPU here)."""
    settings = settings or get_settings()
    state = app.state
    state.settings, state.engine, state.replica = settings, engine, replica
    state.batcher = uow.Batcher(engine, max_batch=settings.write_batch_max,
                                max_wait_s=settings.write_batch_wait_ms / 1000,
                                threads=settings.write_batch_threads)
    state.heavy = HeavyPool(threads=settings.heavy_threads, queue=settings.heavy_queue,
                            max_wait_s=settings.heavy_queue_wait_s)
    state.readiness = Readiness(engine, timeout_s=settings.db_timeout_s)
    state.key_cache = KeyCache()
    state.auth_throttle = AuthThrottle()
    state.on_auth_block = record_auth_block
    state.invoice_verifier = None  # loaded from the settings on first use
    bind_web(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    state = app.state
    anyio.to_thread.current_default_thread_limiter().total_tokens = state.settings.worker_threads
    sys.setswitchinterval(state.settings.switch_interval_ms / 1000)
    worker = DeliveryWorker(state.engine)
    worker.start()
    expiry = ExpiryWorker(lambda limit: len(uow.run_write(
        state.engine, lambda s: release_expired(s, limit=limit), principal=SYSTEM)),
        interval_s=state.settings.hold_expiry_interval_s)
    expiry.start()
    try:
        yield
    finally:
        expiry.stop()
        worker.stop()
        state.heavy.shutdown()
        state.readiness.shutdown()
        if state.replica is not None:
            state.replica.shutdown()


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Only an exception raised outside RequestContextMiddleware reaches this (that middleware
    answers everything the app raises); the same problem either way."""
    return await problems.domain_error_handler(request, unexpected_error(exc, request.scope))
