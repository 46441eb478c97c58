"""The holds domain's refusals (the shared ones — no_usable_voucher, nothing_to_redeem, … — are
service/kit/errors.py's, as a redemption answers them)."""

from service.kit.errors import DomainError


class HoldNotPending(DomainError):
    status = 409
    code = "hold_not_pending"
    title = "The hold is no longer pending"


class WrongSettlementMode(DomainError):
    status = 409
    code = "wrong_settlement_mode"
    title = "Holds exist only in deduction mode"


class HoldInvoiceMismatch(DomainError):
    status = 409
    code = "hold_invoice_mismatch"
    title = "The invoice does not match the hold"
