"""Accounts and transfers. Posting updates both accounts with conditional updates so a
balance that must not go negative cannot, even under concurrency (and CHECKs back it up)."""

from collections import defaultdict
from collections.abc import Callable, Sequence

from sqlmodel import Session, select

from service.kit import clock, ids
from service.kit.errors import DomainError
from service.ledger.models import LedgerAccount, LedgerTransfer
from service.kit.rows import insert_if_absent, insert_many, update_many

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
    "hold": (True, False),  # reserved by pending holds (docs/holds.md): not yet redeemed
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


# Each leg's guard is its account's own flags: a debit may not take an account that must not go
# negative below zero, a credit may not take one that must not go positive above zero.
_DEBIT_GUARD = ("(NOT t.must_not_go_negative "
                "OR t.credits_posted_fen - t.debits_posted_fen >= v.debits_posted_fen)")
_CREDIT_GUARD = ("(NOT t.must_not_go_positive "
                 "OR t.debits_posted_fen - t.credits_posted_fen >= v.credits_posted_fen)")


def post(session: Session, *, year: int, debit: LedgerAccount | str, credit: LedgerAccount | str,
         amount_fen: int, kind: str, reference: str,
         insufficient: Callable[[], DomainError] = InsufficientBalance) -> str:
    """Move amount_fen from the debit account to the credit account; returns the transfer id.
    A batch of one for `post_many`."""
    transfer = {"id": ids.new_id("trf"), "year": year,
                "debit_account_id": debit if isinstance(debit, str) else debit.id,
                "credit_account_id": credit if isinstance(credit, str) else credit.id,
                "amount_fen": amount_fen, "kind": kind, "reference": reference,
                "created_at": clock.now()}
    post_many(session, [transfer], insufficient=insufficient)
    return transfer["id"]


def post_many(session: Session, transfers: Sequence[dict],
              insufficient: Callable[[], DomainError] = InsufficientBalance) -> None:
    """Post transfers (rows of ledger_transfer) set-based, the one way money moves: per
    account its legs summed, every debit and every credit a conditional UPDATE whose guard
    comes from the account's flags (ACCOUNT_FLAGS), in account id order so concurrent batches
    cannot deadlock. Either every leg applies or `insufficient` is raised (and the caller's
    transaction rolls back): two transactions can never spend the same fen."""
    if not transfers:
        return
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    for t in transfers:
        if t["amount_fen"] <= 0:
            raise ValueError(f"transfers are positive, got {t['amount_fen']}")
        debits[t["debit_account_id"]] += t["amount_fen"]
        credits[t["credit_account_id"]] += t["amount_fen"]
    # Paired assertion (TigerBeetle style): what the debits take is what the credits get.
    assert sum(debits.values()) == sum(credits.values())
    session.flush()  # accounts added through the ORM must exist before they are updated
    accounts = LedgerAccount.__table__
    for legs, column, guard in ((debits, "debits_posted_fen", _DEBIT_GUARD),
                                (credits, "credits_posted_fen", _CREDIT_GUARD)):
        applied = update_many(session, accounts, [{"id": a, column: n} for a, n in
                                                  sorted(legs.items())],
                              key="id", add=(column,), guard=guard)
        if applied != len(legs):
            raise insufficient()
    insert_many(session, LedgerTransfer.__table__, list(transfers))


def balance(session: Session, account_id: str) -> int:
    account = session.get(LedgerAccount, account_id, populate_existing=True)
    return account.balance_fen if account else 0
