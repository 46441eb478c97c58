"""Registry facts the risk flags compare (issue 14 item 1): optional on enterprises and providers,
validated on the way in (a 422 names the field), stored as given and normalised for comparison.

Normalised: a phone or account number is its digits (a leading 86/0086 country code before an
11-digit mobile number dropped); an e-mail is lower-cased; a name or address is NFKC-folded
(full-width letters and digits become ASCII), case-folded and stripped of all white space.
Only the bureau sees them: the registry routes are the bureau's (an enterprise or provider key
gets 403 there)."""

import re
import unicodedata
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from service.kit.types import NONBLANK_LINE_PATTERN, Day, Declared, Line

FACTS = ("contact_phone", "contact_email", "bank_account", "legal_representative",
         "registered_address")  # compared by shared_contact, in this order
ALL_FACTS = (*FACTS, "established_on")

# What a phone or account number may hold, stated as the OpenAPI patterns below and checked with
# them: ASCII or full-width digits, with spaces, hyphens, dots and brackets (ASCII or full-width)
# anywhere; a phone number a leading + and 7 to 15 digits after an optional 0086.
_SEP = "[ \u3000()（）.．\\-－]"
_DIGIT = "[0-9０-９]"
PHONE_PATTERN = (f"^{_SEP}*[+＋]?{_SEP}*(?:[0０]{_SEP}*[0０]{_SEP}*[8８]{_SEP}*[6６]{_SEP}*)?"
                 f"(?:{_DIGIT}{_SEP}*){{7,15}}$")
ACCOUNT_PATTERN = f"^{_SEP}*(?:{_DIGIT}{_SEP}*){{8,32}}$"
# name@domain.tld in printable ASCII, spaces around it allowed.
EMAIL_PATTERN = r"^ *[!-?A-~]{1,64}@[!-\-/-?A-~]+(\.[!-\-/-?A-~]+)+ *$"
_SEPARATORS = re.compile(_SEP)


def _digits(value: str) -> str:
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", value)).removeprefix("+")


def phone_digits(value: str) -> str:
    if not re.fullmatch(PHONE_PATTERN, value):
        raise ValueError("a phone number is 7 to 15 digits (spaces, hyphens, brackets and a "
                         "leading + or 0086 are allowed)")
    digits = _digits(value)
    if digits.startswith("0086") and len(digits) >= 4 + 7:
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def account_digits(value: str) -> str:
    if not re.fullmatch(ACCOUNT_PATTERN, value):
        raise ValueError("a bank account number is 8 to 32 digits (spaces and hyphens allowed)")
    return _digits(value)


def email_lower(value: str) -> str:
    if not re.fullmatch(EMAIL_PATTERN, value):
        raise ValueError("not an e-mail address (name@domain.tld)")
    return value.strip(" ").lower()


def folded(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).casefold().split())


NORMALISE = {"contact_phone": phone_digits, "contact_email": email_lower,
             "bank_account": account_digits, "legal_representative": folded,
             "registered_address": folded}


def _valid(normalise):
    def check(value: str) -> str:
        normalise(value)
        return value.strip()
    return AfterValidator(check)


def _nonblank(value: str) -> str:
    if not folded(value):
        raise ValueError("must not be blank")
    return value.strip()


_1900_TO_2100 = r"^(19[0-9]{2}|20[0-9]{2}|2100)-"  # established_on's bounds, as a date's year

Phone = Annotated[Line, Field(max_length=40), _valid(phone_digits),
                  Declared(pattern=PHONE_PATTERN)]
Email = Annotated[Line, Field(max_length=254), _valid(email_lower),
                  Declared(pattern=EMAIL_PATTERN)]
Account = Annotated[Line, Field(max_length=40), _valid(account_digits),
                    Declared(pattern=ACCOUNT_PATTERN)]
Person = Annotated[Line, Field(max_length=100), AfterValidator(_nonblank),
                   Declared(pattern=NONBLANK_LINE_PATTERN)]
Address = Annotated[Line, Field(max_length=300), AfterValidator(_nonblank),
                    Declared(pattern=NONBLANK_LINE_PATTERN)]


class PartyFactsIn(BaseModel):
    """The optional facts, on create and update (null or absent: unchanged)."""

    contact_phone: Phone | None = None
    contact_email: Email | None = None
    bank_account: Account | None = None
    legal_representative: Person | None = None
    registered_address: Address | None = None
    established_on: Annotated[Day, Declared(pattern=_1900_TO_2100)] | None = Field(
        default=None, ge=date(1900, 1, 1), le=date(2100, 12, 31))


class PartyFactsOut(BaseModel):
    contact_phone: str | None = None
    contact_email: str | None = None
    bank_account: str | None = None
    legal_representative: str | None = None
    registered_address: str | None = None
    established_on: date | None = None


def given(data: BaseModel) -> dict[str, Any]:
    """The facts a create or update request sets."""
    return {k: v for k, v in data.model_dump(include=set(ALL_FACTS)).items() if v is not None}


def apply(row: Any, facts: dict[str, Any]) -> dict[str, Any]:
    """Set the facts on an enterprise or provider row, with their normalised forms; returns
    what changed (JSON-ready, for the audit summary)."""
    changed = {}
    for name, value in facts.items():
        if getattr(row, name) == value:
            continue
        setattr(row, name, value)
        if name in NORMALISE:
            setattr(row, f"{name}_norm", NORMALISE[name](value))
        changed[name] = value.isoformat() if isinstance(value, date) else value
    return changed


def normalised(row: Any) -> dict[str, str]:
    """fact → normalised value, for the facts the row has."""
    return {f: getattr(row, f"{f}_norm") for f in FACTS if getattr(row, f"{f}_norm", None)}
