"""Input types shared by the request schemas.

Money and rates are strict integers: 100.0 or "100" is refused rather than coerced, so no float
or string ever becomes fen. Free text refuses control and bidirectional-override characters
(and NUL, which PostgreSQL cannot store): names on payment files must be what they look like.
"""

import re
import unicodedata
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Strict, StringConstraints

_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_ALLOWED_CONTROLS = {"\n", "\t"}


def _clean_text(value: str) -> str:
    for ch in value:
        if ch in _BIDI or (unicodedata.category(ch) in ("Cc", "Cs")
                           and ch not in _ALLOWED_CONTROLS):
            raise ValueError(f"contains a control character (U+{ord(ch):04X})")
    return value


def _single_line(value: str) -> str:
    if "\n" in value or "\t" in value:
        raise ValueError("must be a single line")
    return value


def _iso_day(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str)
                                   and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)):
        return value
    raise ValueError("a date is YYYY-MM-DD")


# A business date (PRODUCT.md §2) is the string YYYY-MM-DD, as `format: date` says: not a number
# of seconds since 1970 (0, "1654646400") nor a timestamp, which pydantic's lax date would read.
Day = Annotated[date, BeforeValidator(_iso_day)]
Fen = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
BasisPoints = Annotated[int, Strict()]
# A budget year, a number of days: strict too (`false`, 5.0 or "5" is not a count; the
# schema's `integer` says so, and pydantic's lax int would read them).
Whole = Annotated[int, Strict()]


class Declared:
    """Keywords the OpenAPI document states for a value the code checks itself (with its own
    problem `code`s and sentences): added to the schema, never validated by pydantic, so a value
    outside them answers exactly as it did before they were declared."""

    def __init__(self, **keywords: Any):
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, core_schema, handler) -> dict[str, Any]:
        return {**handler(core_schema), **self.keywords}


# No control character but newline and tab, no bidirectional override (_clean_text); a Line
# not even those. The URL refuses every control character (RequestContextMiddleware).
TEXT_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$"
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$"
# A Line with something other than white space in it (the registry's names and addresses).
NONBLANK_LINE_PATTERN = (r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*"
                         r"[^\s\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
                         r"[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$")
# A Text with something other than white space in it (a reason that may not be blank).
NONBLANK_TEXT_PATTERN = (r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*"
                         r"[^\s\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
                         r"[^\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$")
URL_TEXT = {"pattern": r"^[^\x00-\x1f\x7f]*$"}  # json_schema_extra of a free-text query

Text = Annotated[str, AfterValidator(_clean_text), Declared(pattern=TEXT_PATTERN)]
Line = Annotated[str, AfterValidator(_clean_text), AfterValidator(_single_line),
                 Declared(pattern=LINE_PATTERN)]

# Server-generated ids: a short prefix and a ULID body. Anything else cannot name an object.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
ObjectId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

# What the OpenAPI document states about values the code checks itself, with its own problem
# `code`s and sentences (docs/openapi.md). Declared, not validated here: a value outside the
# pattern answers exactly as before (a malformed id in a path is the 404 of an unknown id, a
# malformed USCC the 422 invalid_uscc naming the field).
USCC_PATTERN = r"^[0-9A-HJ-NP-RTUW-Y]{18}$"  # GB 32100-2015's alphabet (service/kit/uscc.py)
INVOICE_NUMBER_PATTERN = r"^([0-9]{20}|[0-9]{8})$"  # 数电票 20; legacy 8 with a code
INVOICE_CODE_PATTERN = r"^([0-9]{10}|[0-9]{12})$"  # a legacy VAT invoice's code
ObjectIdPath = Annotated[str, Declared(pattern=ID_PATTERN, minLength=1, maxLength=40)]
# Up to 64 characters are read, so that a wrong code is the 422 invalid_uscc saying what is
# wrong with it.
Uscc = Annotated[str, StringConstraints(max_length=64), Declared(
    pattern=USCC_PATTERN, minLength=18, maxLength=18,
    description="统一社会信用代码 (GB 32100-2015): 18 characters, the last a check character")]
# Invoice numbers (PRODUCT.md §2): ASCII digits, then service/invoices/numbers.py checks the
# lengths: 20 digits, or 8 with a 10- or 12-digit invoice_code.
_DIGITS = StringConstraints(min_length=1, max_length=20, pattern=r"^[0-9]+$")
InvoiceNumber = Annotated[str, _DIGITS, Declared(pattern=INVOICE_NUMBER_PATTERN, minLength=8)]
InvoiceCode = Annotated[str, _DIGITS, Declared(pattern=INVOICE_CODE_PATTERN, minLength=10,
                                               maxLength=12)]
