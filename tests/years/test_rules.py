"""A year's policy rules on a session (service/years, PRODUCT.md §3.1), on both databases: each
bound exactly at its edge and one past it, every refusal naming its field and writing nothing."""

from datetime import date

import pytest
from sqlalchemy import func, select

from service.kit.errors import AlreadyExists, ValidationFailed
from service.years.models import BudgetYear
from tests.makers import make_year, write


def years_of(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(BudgetYear)).scalar_one()


ACCEPTED = [
    {"category_rates_bp": {"gpu": 10_000, "cpu": 0}},
    {"application_opens_on": date(2026, 3, 1), "application_closes_on": date(2026, 3, 1)},
    {"eligible_from": date(2026, 1, 31), "redemption_deadline": date(2026, 1, 31)},
    {"alert_thresholds_bp": [1, 10_000]},
]
REFUSED = [
    ({"category_rates_bp": {"gpu": 10_001}}, "category_rates_bp.gpu"),
    ({"category_rates_bp": {"gpu": -1}}, "category_rates_bp.gpu"),
    ({"application_opens_on": date(2026, 3, 2), "application_closes_on": date(2026, 3, 1)},
     "application_closes_on"),
    ({"eligible_from": date(2026, 2, 1), "redemption_deadline": date(2026, 1, 31)},
     "redemption_deadline"),
    ({"alert_thresholds_bp": [0, 5_000]}, "alert_thresholds_bp"),
    ({"alert_thresholds_bp": [10_001]}, "alert_thresholds_bp"),
]


@pytest.mark.parametrize("policy", ACCEPTED)
def test_each_bound_is_accepted_exactly_at_its_edge(engine, policy):
    created = write(engine, lambda s: make_year(s, **policy))
    for field, value in policy.items():
        assert getattr(created, field) == (list(value) if isinstance(value, list) else value)


@pytest.mark.parametrize(("policy", "field"), REFUSED)
def test_one_past_each_bound_is_refused_naming_its_field(engine, policy, field):
    with pytest.raises(ValidationFailed) as refused:
        write(engine, lambda s: make_year(s, **policy))
    assert [e.field for e in refused.value.errors] == [field]
    assert years_of(engine) == 0


def test_a_year_exists_once(engine):
    write(engine, lambda s: make_year(s))
    with pytest.raises(AlreadyExists):
        write(engine, lambda s: make_year(s, pool_fen=1))
    with engine.connect() as conn:
        assert conn.execute(select(BudgetYear.pool_fen)).scalar_one() == 2_000_000_000
