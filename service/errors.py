"""Domain errors and their RFC 9457 problem+json rendering."""

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_TYPE_BASE = "https://voucher.example.gov.cn/problems/"
PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    field: str
    message: str
    type: str = "invalid"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None
    instance: str | None = None
    allowed_roles: list[str] | None = None  # a 403 role refusal: the roles that may


class DomainError(Exception):
    """A refusal with a stable machine code. Raised by services, rendered by one handler."""

    status = 409
    code = "conflict"
    title = "Conflict with the current state"
    # Seconds after which a retry may succeed: sent as Retry-After (503s).
    retry_after: int | None = None

    def __init__(self, detail: str | None = None, *, errors: list[FieldError] | None = None,
                 code: str | None = None, status: int | None = None):
        self.detail = detail or self.title
        self.errors = errors
        if code:
            self.code = code
        if status:
            self.status = status
        super().__init__(self.detail)

    def problem(self) -> dict[str, Any]:
        body = {"type": PROBLEM_TYPE_BASE + self.code, "title": self.title, "status": self.status,
                "detail": self.detail, "code": self.code}
        if self.errors is not None:
            body["errors"] = [e.model_dump() for e in self.errors]
        return body


class Forbidden(DomainError):
    """A role refusal (403). It names the roles that may, in `detail` and in `allowed_roles`,
    so a caller with the wrong key learns which key to use."""

    status = 403
    code = "forbidden"
    title = "This role may not do that"

    def __init__(self, role: str, allowed_roles: tuple[str, ...] | list[str]):
        self.role = role
        self.allowed_roles = list(allowed_roles)
        names = " or ".join(self.allowed_roles)
        plural = "s" if len(self.allowed_roles) > 1 else ""
        super().__init__(f"role {role} may not do this; only role{plural} {names} may")

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "allowed_roles": self.allowed_roles}


def _error(name: str, status: int, code: str, title: str, **attrs: Any) -> type[DomainError]:
    return type(name, (DomainError,), {"status": status, "code": code, "title": title, **attrs})


ValidationFailed = _error("ValidationFailed", 422, "validation_error", "The request is not valid")
InvalidUSCC = _error("InvalidUSCC", 422, "invalid_uscc", "Invalid unified social credit code")
IdempotencyKeyReused = _error("IdempotencyKeyReused", 422, "idempotency_key_reused",
                              "Idempotency-Key was used with a different request")
IdempotencyInFlight = _error("IdempotencyInFlight", 409, "idempotency_in_flight",
                             "A request with this Idempotency-Key is still being processed")
Unauthenticated = _error("Unauthenticated", 401, "unauthenticated", "Authentication required")
NotFound = _error("NotFound", 404, "not_found", "Not found")
AlreadyExists = _error("AlreadyExists", 409, "already_exists", "Already exists")
InvoiceDuplicate = _error("InvoiceDuplicate", 409, "invoice_duplicate", "Invoice already posted")
PoolExhausted = _error("PoolExhausted", 409, "pool_exhausted", "The year's voucher pool is exhausted")
EnterpriseCapExceeded = _error("EnterpriseCapExceeded", 409, "enterprise_cap_exceeded",
                               "The enterprise's annual cap would be exceeded")
NothingToRedeem = _error("NothingToRedeem", 409, "nothing_to_redeem",
                         "The invoice has no eligible subsidy left")
OtherSubsidy = _error("OtherSubsidy", 409, "other_subsidy",
                      "Already subsidised under another programme (就高不重复)")
ProviderNotApproved = _error("ProviderNotApproved", 409, "provider_not_approved",
                             "The provider is not on the year's approved list")
RelatedParty = _error("RelatedParty", 409, "related_party",
                      "Provider and enterprise are related parties")
CreditBlocked = _error("CreditBlocked", 409, "credit_blocked", "The enterprise is credit-blocked")
NoUsableVoucher = _error("NoUsableVoucher", 409, "no_usable_voucher", "No usable voucher")
InvoiceNotEligible = _error("InvoiceNotEligible", 409, "invoice_not_eligible",
                            "The invoice is not eligible in this year")
YearClosed = _error("YearClosed", 409, "year_closed", "The budget year is closed")
PolicyLocked = _error("PolicyLocked", 409, "policy_locked",
                      "The policy is fixed once vouchers have been issued")
InvalidState = _error("InvalidState", 409, "invalid_state", "Not allowed in the object's current state")
ApplicationWindowClosed = _error("ApplicationWindowClosed", 409, "application_window_closed",
                                 "Applications are not open for this year")
PaymentExceedsTotal = _error("PaymentExceedsTotal", 409, "payment_exceeds_total",
                             "Payments would exceed the invoice total")
ReversalExceedsTotal = _error("ReversalExceedsTotal", 409, "reversal_exceeds_total",
                              "The reversal would take the invoice below zero")
DeadlineNotReached = _error("DeadlineNotReached", 409, "deadline_not_reached",
                            "The redemption deadline has not passed")
BadRequest = _error("BadRequest", 400, "bad_request", "Bad request")
BodyTooLarge = _error("BodyTooLarge", 413, "body_too_large", "Request body too large")
UnsupportedMediaType = _error("UnsupportedMediaType", 415, "unsupported_media_type",
                              "Send application/json")
TooManyRequests = _error("TooManyRequests", 429, "too_many_requests", "Too many failed attempts")
DatabaseUnavailable = _error("DatabaseUnavailable", 503, "database_unavailable",
                             "The database is unavailable; retry shortly", retry_after=1)
# The heavy-read pool and its queue are full (service/heavy.py): nothing was done.
Busy = _error("Busy", 503, "busy", "The service is busy with heavy reads; retry shortly",
              retry_after=5)


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
        from service.api import authenticate
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
    return await domain_error_handler(request, err)


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
