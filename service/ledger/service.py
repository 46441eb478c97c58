"""Accounts and transfers. Posting updates both accounts with conditional updates so a
balance that must not go negative cannot, even under concurrency (and CHECKs back it up)."""

from collections.abc import Callable

from sqlalchemy import insert, text, update
from sqlmodel import Session, select

from service import clock, ids
from service.db import is_postgres
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
    "held": (True, False),  # redeemed, held for review (docs/risk.md): neither payable nor paid
}


class InsufficientBalance(DomainError):
    status = 409
    code = "insufficient_balance"
    title = "The account balance is too low"


def account_code(year: int, kind: str, owner_type: str | None = None,
                 owner_id: str | None = None) -> str:
    return ":".join(str(p) for p in (year, kind, owner_type, owner_id) if p is not None)


def account_id(session: Session, year: int, kind: str, owner_type: str | None = None,
               owner_id: str | None = None) -> str:
    """The id of an account, created on first use. Two transactions may both try to create
    one (say, the payable of a beneficiary's first two redemptions): ON CONFLICT DO NOTHING
    lets the second wait for the first and then read the committed row instead of failing."""
    code = account_code(year, kind, owner_type, owner_id)
    by_code = select(LedgerAccount.id).where(LedgerAccount.code == code)
    found = session.execute(by_code).scalar()
    if found is None:
        negative, positive = ACCOUNT_FLAGS[kind]
        insert_if_absent(session, LedgerAccount, id=ids.new_id("acc"), code=code, year=year,
                         kind=kind, owner_type=owner_type, owner_id=owner_id,
                         debits_posted_fen=0, credits_posted_fen=0, created_at=clock.now(),
                         must_not_go_negative=negative, must_not_go_positive=positive)
        found = session.execute(by_code).scalar_one()
    return found


def get_or_create_account(session: Session, year: int, kind: str, owner_type: str | None = None,
                          owner_id: str | None = None) -> LedgerAccount:
    code = account_code(year, kind, owner_type, owner_id)
    account = session.exec(select(LedgerAccount).where(LedgerAccount.code == code)).first()
    return account or session.get(LedgerAccount, account_id(session, year, kind, owner_type,
                                                            owner_id), populate_existing=True)


# PostgreSQL: both legs and the transfer in one statement. Each leg is a conditional UPDATE
# that returns no row when the account may not go that far; the credit only runs after the
# debit applied and the transfer is only written after both did.
_POST_PG = text("""
WITH debited AS (
    UPDATE ledger_account SET debits_posted_fen = debits_posted_fen + :amount
    WHERE id = :debit
      AND (NOT must_not_go_negative OR credits_posted_fen - debits_posted_fen >= :amount)
    RETURNING id),
credited AS (
    UPDATE ledger_account SET credits_posted_fen = credits_posted_fen + :amount
    WHERE id = :credit AND EXISTS (SELECT 1 FROM debited)
      AND (NOT must_not_go_positive OR debits_posted_fen - credits_posted_fen >= :amount)
    RETURNING id)
INSERT INTO ledger_transfer
    (id, year, debit_account_id, credit_account_id, amount_fen, kind, reference, created_at)
SELECT :id, :year, :debit, :credit, :amount, :kind, :reference, :created_at
WHERE EXISTS (SELECT 1 FROM credited)
RETURNING id""")


def post(session: Session, *, year: int, debit: LedgerAccount | str, credit: LedgerAccount | str,
         amount_fen: int, kind: str, reference: str,
         insufficient: Callable[[], DomainError] = InsufficientBalance) -> str:
    """Move amount_fen from the debit account to the credit account; returns the transfer id.

    The debit is a conditional UPDATE: it only applies when the account may go that low, so
    two transactions can never spend the same fen. `insufficient` makes the refusal to raise.
    """
    if amount_fen <= 0:
        raise ValueError(f"transfers are positive, got {amount_fen}")
    transfer = {"id": ids.new_id("trf"), "year": year,
                "debit": debit if isinstance(debit, str) else debit.id,
                "credit": credit if isinstance(credit, str) else credit.id,
                "amount": amount_fen, "kind": kind, "reference": reference,
                "created_at": clock.now()}
    session.flush()  # accounts added through the ORM must exist before they are updated
    if is_postgres(session):
        if session.execute(_POST_PG, transfer).first() is None:
            raise insufficient()
        return transfer["id"]
    acc = LedgerAccount.__table__.c
    for leg, may_not, column, other in (
            ("debit", acc.must_not_go_negative, acc.debits_posted_fen, acc.credits_posted_fen),
            ("credit", acc.must_not_go_positive, acc.credits_posted_fen, acc.debits_posted_fen)):
        applied = session.execute(
            update(LedgerAccount.__table__)
            .where(acc.id == transfer[leg], ~may_not | (other - column >= amount_fen))
            .values({column: column + amount_fen})).rowcount
        if applied != 1:
            raise insufficient()
    session.execute(insert(LedgerTransfer.__table__).values(
        id=transfer["id"], year=year, debit_account_id=transfer["debit"],
        credit_account_id=transfer["credit"], amount_fen=amount_fen, kind=kind,
        reference=reference, created_at=transfer["created_at"]))
    return transfer["id"]


def balance(session: Session, account_id: str) -> int:
    account = session.get(LedgerAccount, account_id, populate_existing=True)
    return account.balance_fen if account else 0
