"""The operations endpoints: /healthz, /readyz and /metrics (docs/operations.md).

`/healthz` and `/readyz` are `async def` on the event loop: never queued behind the request
threads or the heavy reads (the readiness query runs on a thread of its own, with a deadline:
`app.state.readiness`, a `db.Readiness`)."""

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from service.kit import errors
from service import problems
from service.metrics import REQUESTS
from service.reporting.gauges import business_gauges

router = APIRouter(tags=["ops"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz",
            responses=problems.problem_responses(errors.DatabaseUnavailable))
async def readyz(request: Request):
    if not await request.app.state.readiness.check():
        return problems.problem_response({**errors.DatabaseUnavailable().problem(),
                                          "instance": "/readyz"},
                                         problems.problem_headers(errors.DatabaseUnavailable()))
    return {"status": "ready", "database": "ok"}


@router.get("/metrics", operation_id="metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    lines = REQUESTS.render() + business_gauges(request.app.state.engine)
    return PlainTextResponse("\n".join(lines) + "\n",
                             media_type="text/plain; version=0.0.4; charset=utf-8")
