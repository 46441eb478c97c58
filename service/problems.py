"""RFC 9457 problem+json: how a DomainError, a request validation error and a Starlette HTTP
error are rendered, and how a route documents the problems it can answer (OpenAPI)."""

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api import authenticate
from service.errors import DomainError, FieldError, ValidationFailed

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None
    instance: str | None = None
    allowed_roles: list[str] | None = None  # a 403 role refusal: the roles that may


def problem_headers(error: DomainError) -> dict[str, str] | None:
    """The headers a problem carries beside its body: the challenge of a 401, the
    Retry-After of a 503."""
    if error.status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if error.retry_after is not None:
        return {"Retry-After": str(error.retry_after)}
    return None


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def _loc_to_field(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def domain_error_handler(request: Request, exc: DomainError) -> JSONResponse:
    body = exc.problem()
    body["instance"] = request.url.path
    return problem_response(body, problem_headers(exc))


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    json_invalid = any(err.get("type") == "json_invalid" for err in exc.errors())
    if json_invalid and request.url.path.startswith("/v1/"):
        # FastAPI parses the JSON body before it runs the dependencies, so a malformed body
        # would answer 422 before authentication: without a valid key it must be 401 (or 429).
        try:
            await authenticate(request)
        except DomainError as auth_error:
            return await domain_error_handler(request, auth_error)
    for err in exc.errors():
        msg = str(err.get("msg", "invalid"))
        errors.append(FieldError(field=_loc_to_field(err.get("loc", ())), message=msg,
                                 type=str(err.get("type", "invalid"))))
    detail = "The request body is not valid JSON" if json_invalid else \
        "; ".join(f"{e.field}: {e.message}" for e in errors[:10])
    return await domain_error_handler(request, ValidationFailed(detail, errors=errors))


_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 413: "body_too_large",
               415: "unsupported_media_type", 429: "too_many_requests"}


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    err = DomainError(str(exc.detail), code=code, status=exc.status_code)
    err.title = str(exc.detail)
    response = await domain_error_handler(request, err)
    if exc.status_code == 405:  # RFC 9110 §15.5.6: name the methods the path has
        response.headers["Allow"] = _allowed_methods(request, exc)
    return response


def _allowed_methods(request: Request, exc: StarletteHTTPException) -> str:
    """Starlette names only the first route that matched the path; a path has a route per
    method, so every route of the same path template is asked (not /v1/invoices/{invoice_id}
    for /v1/invoices/batch: a different resource)."""
    matching = [r for r in _routes(request.app.routes) if r.path_regex.match(request.url.path)]
    if not matching:
        return (exc.headers or {}).get("Allow", "")
    exact = [r for r in matching if r.path == request.url.path]  # /v1/invoices/xml, not {id}
    template = (exact or matching)[0].path
    return ", ".join(sorted({m for r in matching if r.path == template
                             for m in (r.methods or ())}))


def _routes(routes):
    """The routes, included routers opened up (FastAPI >= 0.16x keeps them nested)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        elif hasattr(route, "path_regex"):
            yield route


def problem_responses(*codes: int, busy: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the error statuses a route can return; `busy` for the routes on
    the heavy-read pool (service/heavy.py), whose 503 may also be `busy`."""
    descriptions = {400: "Bad request", 401: "No or bad API key", 403: "Role not allowed",
                    404: "Not found", 409: "Conflict with current state", 413: "Body too large",
                    415: "Unsupported media type", 422: "Invalid request", 429: "Throttled",
                    503: "Busy (`busy`: the heavy-read pool is full) or database unavailable "
                         "(`database_unavailable`); retry after Retry-After" if busy else
                         "Database unavailable"}
    return {c: {"model": Problem, "description": descriptions.get(c, "Error"),
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for c in codes}
