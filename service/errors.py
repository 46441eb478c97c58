"""Domain errors: a refusal with a stable machine code and HTTP status, raised by services.
How they are rendered (RFC 9457 problem+json) and documented is HTTP's (service/problems.py)."""

from typing import Any

from pydantic import BaseModel

PROBLEM_TYPE_BASE = "https://voucher.example.gov.cn/problems/"


class FieldError(BaseModel):
    field: str
    message: str
    type: str = "invalid"


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
