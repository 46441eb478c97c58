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


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"
    title = "The request is not valid"


class InvalidUSCC(DomainError):
    status = 422
    code = "invalid_uscc"
    title = "Invalid unified social credit code"


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency-Key was used with a different request"


class IdempotencyInFlight(DomainError):
    status = 409
    code = "idempotency_in_flight"
    title = "A request with this Idempotency-Key is still being processed"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class AlreadyExists(DomainError):
    status = 409
    code = "already_exists"
    title = "Already exists"


class InvoiceDuplicate(DomainError):
    status = 409
    code = "invoice_duplicate"
    title = "Invoice already posted"


class PoolExhausted(DomainError):
    status = 409
    code = "pool_exhausted"
    title = "The year's voucher pool is exhausted"


class EnterpriseCapExceeded(DomainError):
    status = 409
    code = "enterprise_cap_exceeded"
    title = "The enterprise's annual cap would be exceeded"


class NothingToRedeem(DomainError):
    status = 409
    code = "nothing_to_redeem"
    title = "The invoice has no eligible subsidy left"


class OtherSubsidy(DomainError):
    status = 409
    code = "other_subsidy"
    title = "Already subsidised under another programme (就高不重复)"


class ProviderNotApproved(DomainError):
    status = 409
    code = "provider_not_approved"
    title = "The provider is not on the year's approved list"


class RelatedParty(DomainError):
    status = 409
    code = "related_party"
    title = "Provider and enterprise are related parties"


class CreditBlocked(DomainError):
    status = 409
    code = "credit_blocked"
    title = "The enterprise is credit-blocked"


class NoUsableVoucher(DomainError):
    status = 409
    code = "no_usable_voucher"
    title = "No usable voucher"


class InvoiceNotEligible(DomainError):
    status = 409
    code = "invoice_not_eligible"
    title = "The invoice is not eligible in this year"


class YearClosed(DomainError):
    status = 409
    code = "year_closed"
    title = "The budget year is closed"


class PolicyLocked(DomainError):
    status = 409
    code = "policy_locked"
    title = "The policy is fixed once vouchers have been issued"


class InvalidState(DomainError):
    status = 409
    code = "invalid_state"
    title = "Not allowed in the object's current state"


class ApplicationWindowClosed(DomainError):
    status = 409
    code = "application_window_closed"
    title = "Applications are not open for this year"


class PaymentExceedsTotal(DomainError):
    status = 409
    code = "payment_exceeds_total"
    title = "Payments would exceed the invoice total"


class ReversalExceedsTotal(DomainError):
    status = 409
    code = "reversal_exceeds_total"
    title = "The reversal would take the invoice below zero"


class DeadlineNotReached(DomainError):
    status = 409
    code = "deadline_not_reached"
    title = "The redemption deadline has not passed"


class BadRequest(DomainError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class BodyTooLarge(DomainError):
    status = 413
    code = "body_too_large"
    title = "Request body too large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = "Send application/json"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"
    title = "Too many failed attempts"


class DatabaseUnavailable(DomainError):
    status = 503
    code = "database_unavailable"
    title = "The database is unavailable; retry shortly"
    retry_after = 1


class Busy(DomainError):
    """The heavy-read pool and its queue are full (service/heavy.py): nothing was done."""

    status = 503
    code = "busy"
    title = "The service is busy with heavy reads; retry shortly"
    retry_after = 5
