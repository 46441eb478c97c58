"""The bureau's settlement work in the simulated year: a batch created a week after each planned
cutoff (approved and paid for the mid-year one), and the lower review threshold of the last
weeks, so a few of the last redemptions are held for review."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import func
from sqlmodel import Session, select

from service.kit import clock
from service.redemptions.models import Redemption
from service.settlements import service as settlements
from service.years import service as years
from service.years.schemas import YearUpdate
from simulation.days import P_SETTLE
from simulation.state import Demo

# The review threshold the bureau sets for the last weeks, so a few redemptions are held.
REVIEW_THRESHOLD_LATE = 30


def do_settle(demo: Demo, day: date, _actor, payload: tuple) -> None:
    cutoff, approve_on, pay_on, reference = payload
    instant = datetime.combine(cutoff, time(23, 59, 59), tzinfo=clock.SHANGHAI)

    def create(session: Session) -> str | None:
        if not session.exec(select(func.count()).select_from(Redemption).where(
                Redemption.year == demo.year, Redemption.status == "payable",
                Redemption.settlement_id.is_(None),
                Redemption.created_at <= instant)).one():
            return None  # nothing payable yet (a very small demo)
        return settlements.create(session, year=demo.year, cutoff=instant).id
    settlement_id = demo.tx(day, demo.bureau, create)
    if settlement_id is not None and approve_on is not None:
        demo.at(approve_on, P_SETTLE, "settle_approve", "bureau", settlement_id)
        demo.at(pay_on, P_SETTLE, "settle_pay", "bureau", (settlement_id, reference))


def do_tighten_review(demo: Demo, day: date, _actor, _payload) -> None:
    demo.tx(day, demo.bureau, lambda s: years.update_year(
        s, demo.year, YearUpdate(review_threshold=REVIEW_THRESHOLD_LATE), by=demo.bureau))


def do_settle_approve(demo: Demo, day: date, _actor, settlement_id: str) -> None:
    demo.tx(day, demo.bureau, lambda s: settlements.approve(s, settlement_id=settlement_id,
                                                            principal=demo.bureau))


def do_settle_pay(demo: Demo, day: date, _actor, payload: tuple) -> None:
    settlement_id, reference = payload
    demo.tx(day, demo.bureau, lambda s: settlements.pay(
        s, settlement_id=settlement_id, bank_reference=reference))
