"""create_app(): routers, middleware and error handlers — nothing else."""

import logging
import sys
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import errors, openapi_links, problems, uow
from service.alerts.service import DeliveryWorker
from service.audit.router import router as audit_router
from service.auth.cache import AuthThrottle, KeyCache
from service.auth.router import router as auth_router
from service.config import get_settings
from service.db import Readiness, make_engine
from service.heavy import HeavyPool
from service.invoices.router import router as invoices_router
from service.ledger.router import router as ledger_router
from service.logs import configure_logging, record_auth_block
from service.metrics import REQUESTS
from service.middleware import RequestContextMiddleware, unexpected_error
from service.redemptions.router import router as redemptions_router
from service.risk.router import router as risk_router
from service.registry.router import router as registry_router
from service.reporting.router import router as reporting_router
from service.reviewchain.router import router as reviewchain_router
from service.settlements.router import router as settlements_router
from service.vouchers.router import router as vouchers_router
from service.web.apidocs import install as install_api_docs
from service.web.router import install as install_web
from service.whatif.router import router as whatif_router
from service.years.router import router as years_router

log = logging.getLogger(__name__)

DESCRIPTION = """Compute-voucher (算力券) issuance and ledger service.

Money is integer fen (`*_fen`), rates are basis points (`*_bp`). Authenticate with
`Authorization: Bearer <api key>`. Every POST accepts `Idempotency-Key`. Errors are RFC 9457
`application/problem+json` with a stable `code`."""


def create_app(engine: Engine | None = None) -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_json)
    engine = engine if engine is not None else make_engine()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        sys.setswitchinterval(settings.switch_interval_ms / 1000)
        worker = DeliveryWorker(engine)
        worker.start()
        try:
            yield
        finally:
            worker.stop()
            app.state.heavy.shutdown()
            readiness.shutdown()

    app = FastAPI(title="Compute voucher service", version="1.0.0", description=DESCRIPTION,
                  separate_input_output_schemas=False, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # /docs from local files: web/apidocs.py
    app.state.engine = engine
    app.state.batcher = uow.Batcher(engine, max_batch=settings.write_batch_max,
                                    max_wait_s=settings.write_batch_wait_ms / 1000,
                                    threads=settings.write_batch_threads)
    app.state.heavy = HeavyPool(threads=settings.heavy_threads, queue=settings.heavy_queue,
                                max_wait_s=settings.heavy_queue_wait_s)
    readiness = Readiness(engine, timeout_s=settings.db_timeout_s)
    app.state.key_cache = KeyCache()
    app.state.auth_throttle = AuthThrottle()
    app.state.on_auth_block = record_auth_block

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
                   ledger_router, audit_router, reviewchain_router, whatif_router):
        app.include_router(router)
    app.include_router(risk_router)  # risk flags and the review queue (docs/risk.md)
    install_web(app)  # the web pages: /web, served assets, CSP (docs/web.md)
    install_api_docs(app)  # /docs, Swagger UI served from /web/static (never a CDN)

    # Both `async def` on the event loop: never queued behind the request threads or the
    # heavy reads (the readiness query runs on a thread of its own, with a deadline).
    @app.get("/healthz", operation_id="healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", operation_id="readyz", tags=["ops"],
             responses=problems.problem_responses(503))
    async def readyz():
        if not await readiness.check():
            return problems.problem_response({**errors.DatabaseUnavailable().problem(),
                                            "instance": "/readyz"},
                                           problems.problem_headers(errors.DatabaseUnavailable()))
        return {"status": "ready", "database": "ok"}

    @app.get("/metrics", operation_id="metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics(request: Request) -> PlainTextResponse:
        from service.reporting.gauges import business_gauges

        lines = REQUESTS.render() + business_gauges(request.app.state.engine)
        return PlainTextResponse("\n".join(lines) + "\n",
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    app.openapi = lambda: _openapi_with_problems(app)
    return app


def _openapi_with_problems(app: FastAPI) -> dict:
    """Every error response is documented as application/problem+json with the Problem schema,
    including FastAPI's automatic 422, and every /v1 route documents 401 and 403."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes, separate_input_output_schemas=False)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in components:
        components["Problem"] = problems.Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        components.update(components["Problem"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            # RequestContextMiddleware refuses control characters in any URL before routing.
            responses.setdefault("400", {"description": "Bad request (control characters in "
                                                        "the URL)"})
            if path.startswith("/v1/"):
                responses.setdefault("401", {"description": "No or bad API key"})
                responses.setdefault("403", {"description": "Role not allowed"})
                responses.setdefault("429", {"description": "Too many failed authentications"})
                responses.setdefault("503", {"description": "Database unavailable"})
            if operation.get("requestBody"):
                responses.setdefault("413", {"description": "Body too large"})
                responses.setdefault("415", {"description": "Unsupported media type"})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = problem
    openapi_links.add_links(schema)  # create operations -> the operations on what they made
    app.openapi_schema = schema
    return schema


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Only an exception raised outside RequestContextMiddleware reaches this (that middleware
    answers everything the app raises); the same problem either way."""
    return await problems.domain_error_handler(request, unexpected_error(exc, request.scope))
