"""Where the bureau pays a registered party (docs/exports.md): the bank (`bank_name`) and the
account holder's name (`account_name`) beside the registry's `bank_account` (docs/risk.md).

All three are optional on create and PATCH (`null` or absent: unchanged). A party can be paid
once it has an account number and a bank on file; the account name defaults to the party's
registered name, which is what a corporate account (对公账户) is held in."""

from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator, BaseModel, Field

from service.risk.facts import folded
from service.kit.types import NONBLANK_LINE_PATTERN, Declared, Line

PAYMENT_FACTS = ("bank_name", "account_name")
NEEDED = ("bank_account", "bank_name")  # without these a payment cannot be made


def _nonblank(value: str) -> str:
    if not folded(value):
        raise ValueError("must not be blank")
    return value.strip()


BankName = Annotated[Line, Field(max_length=100, description="the bank and branch (开户行)"),
                     AfterValidator(_nonblank), Declared(pattern=NONBLANK_LINE_PATTERN)]
AccountName = Annotated[Line, Field(max_length=200, description=(
    "the account holder (户名); default: the registered name")), AfterValidator(_nonblank),
                        Declared(pattern=NONBLANK_LINE_PATTERN)]


class PaymentFactsIn(BaseModel):
    bank_name: BankName | None = None
    account_name: AccountName | None = None


class PaymentFactsOut(BaseModel):
    bank_name: str | None = None
    account_name: str | None = None


class Payee(NamedTuple):
    """What a payment file says about whom to pay."""

    account_name: str
    bank_name: str
    bank_account: str  # digits only, as the bank reads it


def given(data: BaseModel) -> dict[str, Any]:
    """The payment facts a create or update request sets."""
    return {k: v for k, v in data.model_dump(include=set(PAYMENT_FACTS)).items() if v is not None}


def missing(party: Any) -> list[str]:
    """The facts an enterprise or provider row lacks to be paid (empty: it can be)."""
    return [fact for fact in NEEDED if not getattr(party, fact)]


def payee(party: Any) -> Payee | None:
    if missing(party):
        return None
    return Payee(account_name=party.account_name or party.name, bank_name=party.bank_name,
                 bank_account=party.bank_account_norm)
