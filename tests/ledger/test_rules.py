"""The ledger's rules on a session (service/ledger): the one way money moves, on both databases.
A debit may take an account that must not go negative down to exactly zero and not one fen
below; a receivable (must not go positive) may be credited back to exactly zero; a refused batch
moves nothing, not even its legs that would have fitted; transfers are positive."""

import pytest
from sqlalchemy import func, select

from service.kit import ids
from service.ledger import service as ledger
from service.ledger.models import LedgerAccount, LedgerTransfer
from tests.makers import make_year, write

POOL = 1_000_000


@pytest.fixture
def year(engine):
    return write(engine, lambda s: make_year(s, pool_fen=POOL).year)


def account(session, kind, owner=None):
    owner_type = "test" if owner else None
    return ledger.account_id(session, 2026, kind, owner_type, owner)


def move(engine, legs):
    """Post (debit kind/owner, credit kind/owner, fen) legs as one batch."""
    def run(session):
        transfers = [{"id": ids.new_id("trf"), "year": 2026,
                      "debit_account_id": account(session, *d),
                      "credit_account_id": account(session, *c), "amount_fen": fen,
                      "kind": "test", "reference": "rules", "created_at": ledger.clock.now()}
                     for d, c, fen in legs]
        ledger.post_many(session, transfers)
    write(engine, run)


def balances(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(LedgerAccount.code, LedgerAccount.credits_posted_fen
                                   - LedgerAccount.debits_posted_fen)).all()
    return {code.removeprefix("2026:"): fen for code, fen in rows}


def transfers(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(LedgerTransfer)).scalar_one()


def test_creating_the_year_funds_the_pool_once(engine, year):
    assert balances(engine)["funding"] == -POOL
    assert balances(engine)["pool"] == POOL
    assert transfers(engine) == 1


def test_the_pool_is_debited_to_exactly_zero_and_one_fen_more_is_refused(engine, year):
    move(engine, [(("pool",), ("voucher", "v1"), POOL)])
    assert balances(engine)["pool"] == 0
    with pytest.raises(ledger.InsufficientBalance):
        move(engine, [(("pool",), ("voucher", "v2"), 1)])
    assert balances(engine)["pool"] == 0 and "voucher:test:v2" not in balances(engine)
    assert transfers(engine) == 2


def test_a_refused_batch_moves_none_of_its_legs(engine, year):
    with pytest.raises(ledger.InsufficientBalance):
        move(engine, [(("pool",), ("voucher", "v1"), 600_000),
                      (("pool",), ("voucher", "v2"), 400_001)])
    assert balances(engine)["pool"] == POOL
    assert transfers(engine) == 1


def test_legs_of_one_batch_are_summed_per_account_before_the_guard(engine, year):
    move(engine, [(("pool",), ("voucher", "v1"), 600_000),
                  (("pool",), ("voucher", "v1"), 400_000)])
    assert balances(engine)["voucher:test:v1"] == POOL and balances(engine)["pool"] == 0


def test_a_receivable_is_credited_back_to_zero_and_never_above(engine, year):
    move(engine, [(("receivable", "e1"), ("clawed_back",), 500)])
    assert balances(engine)["receivable:test:e1"] == -500
    move(engine, [(("pool",), ("receivable", "e1"), 500)])
    assert balances(engine)["receivable:test:e1"] == 0
    with pytest.raises(ledger.InsufficientBalance):
        move(engine, [(("pool",), ("receivable", "e1"), 1)])
    assert balances(engine)["receivable:test:e1"] == 0


@pytest.mark.parametrize("fen", [0, -1])
def test_a_transfer_is_positive(engine, year, fen):
    with pytest.raises(ValueError):
        move(engine, [(("pool",), ("voucher", "v1"), fen)])
    assert balances(engine)["pool"] == POOL and transfers(engine) == 1
