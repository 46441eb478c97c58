"""Invoice numbers (PRODUCT.md §2): a fully digital invoice (数电票) has a 20-digit number; a
legacy VAT invoice has a 10- or 12-digit code plus an 8-digit number. Every route that accepts
an invoice number (invoices, batches, red-letter reversals, other-programme claims) checks it
here, and keys it the same way, so "an invoice is unique system-wide" compares like with like."""

from service.kit.errors import FieldError


def number_problems(number: str, code: str | None) -> list[FieldError]:
    """What is wrong with this number and code (already known to be ASCII digits)."""
    if code is None:
        if len(number) != 20:
            return [FieldError(field="invoice_number", message=(
                "a fully digital invoice (数电票) number has 20 digits; a legacy VAT invoice "
                "needs invoice_code (10 or 12 digits) and an 8-digit number"))]
        return []
    errors = []
    if len(code) not in (10, 12):
        errors.append(FieldError(field="invoice_code",
                                 message="a legacy VAT invoice code has 10 or 12 digits"))
    if len(number) != 8:
        errors.append(FieldError(field="invoice_number",
                                 message="a legacy VAT invoice number has 8 digits"))
    return errors


def invoice_key(number: str, code: str | None) -> str:
    return f"{code}-{number}" if code else number


def split_key(key: str) -> tuple[str, str | None]:
    """(number, code) of a key made by invoice_key."""
    code, _, number = key.rpartition("-")
    return number, code or None


# number_problems, stated for clients (a request schema's json_schema_extra): without a code
# the number has 20 digits; with one, the number has 8.
NUMBER_WITH_CODE = {"anyOf": [
    {"properties": {"invoice_code": {"type": "null"},
                    "invoice_number": {"pattern": "^[0-9]{20}$"}}},
    {"properties": {"invoice_code": {"type": "string"},
                    "invoice_number": {"type": "string", "pattern": "^[0-9]{8}$"}},
     "required": ["invoice_code", "invoice_number"]}]}
