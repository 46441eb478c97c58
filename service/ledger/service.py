"""Accounts and transfers. Posting updates both accounts with conditional updates so a
balance that must not go negative cannot, even under concurrency (and CHECKs back it up)."""

from sqlalchemy import update
from sqlmodel import Session, select

from service import clock, ids
from service.errors import DomainError
from service.ledger.models import LedgerAccount, LedgerTransfer
from service.rows import insert_if_absent

# kind -> (must_not_go_negative, must_not_go_positive)
ACCOUNT_FLAGS = {
    "funding": (False, False),  # the city budget that funds the pool; goes negative by design
    "pool": (True, False),  # what can still be issued
    "voucher": (True, False),  # a voucher's unspent balance
    "payable": (True, False),  # redeemed, owed to a beneficiary, not yet paid
    "paid": (True, False),  # paid out to beneficiaries
    "receivable": (False, True),  # clawbacks owed back by a beneficiary (balance <= 0)
    "clawed_back": (True, False),  # subsidy taken back after settlement
}


class InsufficientBalance(DomainError):
    status = 409
    code = "insufficient_balance"
    title = "The account balance is too low"


def account_code(year: int, kind: str, owner_type: str | None = None,
                 owner_id: str | None = None) -> str:
    return ":".join(str(p) for p in (year, kind, owner_type, owner_id) if p is not None)


def get_or_create_account(session: Session, year: int, kind: str, owner_type: str | None = None,
                          owner_id: str | None = None) -> LedgerAccount:
    """Accounts appear on first use. Two transactions may both try to create one (say, the
    payable of a beneficiary's first two redemptions): ON CONFLICT DO NOTHING lets the second
    wait for the first and then read the committed row instead of failing."""
    code = account_code(year, kind, owner_type, owner_id)
    by_code = select(LedgerAccount).where(LedgerAccount.code == code)
    account = session.exec(by_code).first()
    if account is None:
        negative, positive = ACCOUNT_FLAGS[kind]
        insert_if_absent(session, LedgerAccount, id=ids.new_id("acc"), code=code, year=year,
                         kind=kind, owner_type=owner_type, owner_id=owner_id,
                         debits_posted_fen=0, credits_posted_fen=0, created_at=clock.now(),
                         must_not_go_negative=negative, must_not_go_positive=positive)
        account = session.exec(by_code.execution_options(populate_existing=True)).one()
    return account


def post(session: Session, *, year: int, debit: LedgerAccount | str, credit: LedgerAccount | str,
         amount_fen: int, kind: str, reference: str,
         insufficient: type[DomainError] = InsufficientBalance) -> LedgerTransfer:
    """Move amount_fen from the debit account to the credit account.

    The debit is a conditional UPDATE: it only applies when the account may go that low, so
    two transactions can never spend the same fen. `insufficient` is the refusal to raise.
    """
    if amount_fen <= 0:
        raise ValueError(f"transfers are positive, got {amount_fen}")
    debit_id = debit if isinstance(debit, str) else debit.id
    credit_id = credit if isinstance(credit, str) else credit.id
    acc = LedgerAccount.__table__.c
    debited = session.execute(
        update(LedgerAccount)
        .where(acc.id == debit_id)
        .where(~acc.must_not_go_negative | (acc.credits_posted_fen - acc.debits_posted_fen
                                             >= amount_fen))
        .values(debits_posted_fen=acc.debits_posted_fen + amount_fen)
        .execution_options(synchronize_session=False)
    ).rowcount
    if debited != 1:
        raise insufficient()
    credited = session.execute(
        update(LedgerAccount)
        .where(acc.id == credit_id)
        .where(~acc.must_not_go_positive | (acc.debits_posted_fen - acc.credits_posted_fen
                                             >= amount_fen))
        .values(credits_posted_fen=acc.credits_posted_fen + amount_fen)
        .execution_options(synchronize_session=False)
    ).rowcount
    if credited != 1:
        raise insufficient()
    transfer = LedgerTransfer(id=ids.new_id("trf"), year=year, debit_account_id=debit_id,
                              credit_account_id=credit_id, amount_fen=amount_fen, kind=kind,
                              reference=reference)
    session.add(transfer)
    return transfer


def balance(session: Session, account_id: str) -> int:
    account = session.get(LedgerAccount, account_id, populate_existing=True)
    return account.balance_fen if account else 0
