"""Verification of an XML invoice against the tax system: a pluggable step (docs/xml-invoices.md).

The default, `FormatVerifier`, adds nothing to what service/invoices/xml.py already checks
(format and arithmetic) and never calls the network. A third-party verification service (查验
service: number, date, total → normal / void / red_flushed, times checked) is plugged in by
setting INVOICE_VERIFIER to "package.module:factory", a callable returning an InvoiceVerifier;
it is created once per process. A verifier runs before the upload's database transaction, so
a slow service never holds a lock.

Answers: `normal` accepts; `void` (作废) refuses the file with `invoice_void`; `red_flushed`
(已红冲) accepts with a warning (the red-letter XML is expected to follow and reverse it).
"""

import importlib
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

Status = Literal["normal", "void", "red_flushed"]


@dataclass(frozen=True)
class VerificationRequest:
    invoice_number: str
    issued_on: date
    total_fen: int          # TotalTax-includedAmount in fen (negative for a red-letter invoice)
    seller_uscc: str
    buyer_uscc: str


@dataclass(frozen=True)
class VerificationResult:
    status: Status
    times_checked: int | None = None   # how often the tax system says it was checked (查验次数)
    detail: str = ""


class InvoiceVerifier(Protocol):
    def verify(self, request: VerificationRequest) -> VerificationResult: ...


class FormatVerifier:
    """Format and arithmetic checks only (done while parsing): every invoice is `normal`."""

    def verify(self, request: VerificationRequest) -> VerificationResult:
        return VerificationResult(status="normal", times_checked=None,
                                  detail="format and arithmetic checks only")


def load(spec: str) -> InvoiceVerifier:
    """The verifier a setting names: "" → FormatVerifier; "module:factory" → factory()."""
    if not spec:
        return FormatVerifier()
    module, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module), attr or "verifier")
    return factory()
