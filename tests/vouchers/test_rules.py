"""Issuance rules on a session (PRODUCT.md §3.3): the pool and the enterprise's cap, exactly at
the limit and one fen over, with nothing written by a refusal."""

import pytest
from sqlalchemy import func, select

from service.kit.errors import EnterpriseCapExceeded, PoolExhausted
from service.vouchers.models import Voucher
from tests.makers import make_enterprise, make_voucher, make_year, write


def vouchers_of(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Voucher)).scalar_one()


@pytest.fixture
def year(engine):
    return write(engine, lambda s: make_year(s, pool_fen=1_000_000,
                                             enterprise_cap_fen=600_000).year)


def test_the_cap_is_reached_exactly_and_one_fen_more_is_refused(engine, year):
    ent = write(engine, lambda s: make_enterprise(s).id)
    assert write(engine, lambda s: make_voucher(s, ent, 600_000).balance_fen) == 600_000
    with pytest.raises(EnterpriseCapExceeded):
        write(engine, lambda s: make_voucher(s, ent, 1))
    assert vouchers_of(engine) == 1


def test_the_pool_is_spent_exactly_and_one_fen_more_is_refused(engine, year):
    first, second = (write(engine, lambda s: make_enterprise(s).id) for _ in range(2))
    write(engine, lambda s: make_voucher(s, first, 600_000))
    write(engine, lambda s: make_voucher(s, second, 400_000))
    with pytest.raises(PoolExhausted):
        write(engine, lambda s: make_voucher(s, second, 1))
    assert vouchers_of(engine) == 2
