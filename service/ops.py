"""The operations endpoints: /healthz, /readyz and /metrics (docs/operations.md).

`/healthz` and `/readyz` are `async def` on the event loop: never queued behind the request
threads or the heavy reads (the readiness query runs on a thread of its own, with a deadline:
`app.state.readiness`, a `db.Readiness`; the replica's, when there is one, likewise:
`replica.Replica.ready`)."""

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from service.kit import errors
from service import problems
from service.metrics import REQUESTS, replica_lines
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
    ready = {"status": "ready", "database": "ok"}
    replica = request.app.state.replica
    if replica is not None:  # a replica down is not the service down: still 200
        ready["replica"] = await replica.ready(request.app.state.readiness.timeout_s)
    return ready


@router.get("/metrics", operation_id="metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    lines = REQUESTS.render() + replica_lines(request.app.state.replica) + \
        business_gauges(request.app.state.engine)
    return PlainTextResponse("\n".join(lines) + "\n",
                             media_type="text/plain; version=0.0.4; charset=utf-8")
