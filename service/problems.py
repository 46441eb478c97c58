"""RFC 9457 problem+json: how a DomainError, a request validation error and a Starlette HTTP
error are rendered, and how a route documents the problems it can answer (OpenAPI)."""

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api import authenticate
from service.kit.errors import (
    PROBLEM_TYPE_BASE,
    BadRequest,
    BodyTooLarge,
    DatabaseUnavailable,
    DomainError,
    FieldError,
    Forbidden,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)

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
    if json_invalid and request.url.path.startswith("/v1/") and \
            not request.url.path.startswith("/v1/public/"):
        # FastAPI parses the JSON body before it runs the dependencies, so a malformed body
        # would answer 422 before authentication: without a valid key it must be 401 (or 429).
        # A public route takes no key: its malformed body is the 422.
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


_STATUS_TEXT = {400: "Bad request", 401: "No or bad API key", 403: "Role not allowed",
                404: "Not found", 409: "Conflict with current state", 413: "Body too large",
                415: "Unsupported media type", 422: "Invalid request", 429: "Throttled",
                503: "Unavailable; retry after Retry-After"}


def problem_example(error: type[DomainError], code: str | None = None) -> dict[str, Any]:
    code = code or error.code
    return {"summary": error.title, "value": {
        "type": PROBLEM_TYPE_BASE + code, "title": error.title, "status": error.status,
        "detail": error.title, "code": code}}


def problem_responses(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the errors a route answers besides those every route can
    (`ambient_errors` below): per status, the problem schema with one example per
    code, and the codes in the description, so a client sees which codes a 409 can be.
    tests/contract/test_declared_errors.py fails when a handler can answer a code its route does not
    declare."""
    by_status: dict[int, dict[str, dict]] = {}
    for error in errors:
        for code in getattr(error, "codes", (error.code,)):
            by_status.setdefault(error.status, {})[code] = problem_example(error, code)
    return {status: {
        "model": Problem, "description": _describe(status, dict(sorted(examples.items()))),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"},
                                   "examples": dict(sorted(examples.items()))}}}
        for status, examples in sorted(by_status.items())}


def ambient_errors(path: str, operation: dict[str, Any]) -> list[type[DomainError]]:
    """What any operation of its kind can answer, whatever its handler does: a control
    character in the URL (the middleware, before routing); for the API, no or a bad key, the
    wrong role, throttling and a lost database; a parameter or body that does not validate; a
    body too large or of the wrong type; and for a write taking Idempotency-Key, its reuse
    with another body or while the first is in flight. A public route (/v1/public/) takes no
    key, so it answers none of the key's refusals; its own rate limit it declares itself."""
    errors: list[type[DomainError]] = [BadRequest]
    if path.startswith("/v1/public/"):
        errors.append(DatabaseUnavailable)
    elif path.startswith("/v1/"):
        errors += [Unauthenticated, Forbidden, TooManyRequests, DatabaseUnavailable]
    if operation.get("parameters") or operation.get("requestBody"):
        errors.append(ValidationFailed)
    if operation.get("requestBody"):
        errors += [BodyTooLarge, UnsupportedMediaType]
    if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", ())):
        errors += [IdempotencyKeyReused, IdempotencyInFlight]
    return errors


def document_problems(path: str, operation: dict[str, Any]) -> None:
    """An OpenAPI operation's error responses, each application/problem+json with the Problem
    schema and one example per code: the route's declared ones and the ambient ones. A
    description the route wrote itself is kept."""
    responses = operation.setdefault("responses", {})
    for status, ambient in problem_responses(*ambient_errors(path, operation)).items():
        declared = responses.setdefault(str(status), {})
        examples = {**_examples(ambient), **_examples(declared)}
        generated = declared.get("description", "").startswith(_STATUS_TEXT.get(status, "Error"))
        declared["description"] = _describe(status, examples) if generated or \
            "description" not in declared else declared["description"]
        declared["content"] = {PROBLEM_JSON: {"examples": examples}}
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            examples = _examples(response)
            response["content"] = {PROBLEM_JSON: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                **({"examples": examples} if examples else {})}}


def _examples(response: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(response.get("content", {}).get(PROBLEM_JSON, {})
                       .get("examples", {}).items()))


def _describe(status: int, examples: dict[str, Any]) -> str:
    return f"{_STATUS_TEXT.get(status, 'Error')}: " + ", ".join(f"`{c}`" for c in examples)
