"""`run_demo`: check the database is empty, plan the year, then walk its days in order, each
day's events grouped into transactions, with `service.clock.now` answering the simulated
instant until the run ends."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import date

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.kit import clock
from service.kit.db import run_transaction
from service.kit.errors import DomainError
from service.registry.models import Enterprise, Provider
from service.years.models import BudgetYear
from simulation.applications import do_apply, do_decide, do_direct_issue
from simulation.invoices import do_pay, do_post, do_reverse
from simulation.parties import (
    do_approve_provider,
    do_credit_block,
    do_exclusions,
    do_setup,
    do_stop_project,
)
from simulation.plan import plan_invoices, plan_parties
from simulation.redemptions import do_redeem
from simulation.schedule import plan_schedule
from simulation.settlements import do_settle, do_settle_approve, do_settle_pay, do_tighten_review
from simulation.state import Demo
from simulation.summary import summary


class DatabaseNotEmpty(DomainError):
    status = 409
    code = "database_not_empty"
    title = "The demo only fills an empty database"


# What each event does on its day: handler(demo, day, actor, payload).
HANDLERS: dict[str, Callable[..., None]] = {
    "setup": do_setup,
    "exclusions": do_exclusions,
    "approve_provider": do_approve_provider,
    "credit_block": do_credit_block,
    "stop_project": do_stop_project,
    "apply": do_apply,
    "decide": do_decide,
    "direct_issue": do_direct_issue,
    "post": do_post,
    "pay": do_pay,
    "reverse": do_reverse,
    "redeem": do_redeem,
    "settle": do_settle,
    "settle_approve": do_settle_approve,
    "settle_pay": do_settle_pay,
    "tighten_review": do_tighten_review,
}
# Events of one actor on one day that share a transaction; the handler takes their payloads.
GROUPED = ("post", "pay", "redeem", "decide")


def run(demo: Demo) -> None:
    plan_parties(demo)
    plan_invoices(demo)
    plan_schedule(demo)
    while demo.queue:
        day = demo.queue[0][0]
        todays = []
        while demo.queue and demo.queue[0][0] == day:
            todays.append(heapq.heappop(demo.queue))
        # One transaction per provider batch, payment run or redemption session; every
        # other event is a step of its own. Steps run in priority, then planning, order.
        groups: dict[tuple, tuple[int, list]] = {}
        for _day, priority, seq, kind, actor, payload in todays:
            key = (priority, kind, actor) if kind in GROUPED else \
                (priority, kind, actor, seq)
            groups.setdefault(key, (seq, []))[1].append(payload)
        for key, (_seq, payloads) in sorted(groups.items(), key=lambda g: (g[0][0], g[1][0])):
            kind, actor = key[1], key[2]
            HANDLERS[kind](demo, day, actor, payloads if kind in GROUPED else payloads[0])


def default_year(today: date | None = None) -> int:
    """The year whose vouchers can still be redeemed today: the current one (its redemption
    deadline, 31 January next year, is ahead)."""
    return (today or clock.today()).year


def _require_empty(engine: Engine) -> None:
    def check(session: Session) -> dict[str, int]:
        return {name: int(session.exec(select(func.count()).select_from(model)).one())
                for name, model in (("budget year(s)", BudgetYear),
                                    ("enterprise(s)", Enterprise), ("provider(s)", Provider))}
    found = {k: v for k, v in run_transaction(engine, check).items() if v}
    if found:
        raise DatabaseNotEmpty("the demo only fills an empty database, and this one already has "
                               + ", ".join(f"{v} {k}" for k, v in found.items())
                               + "; point DATABASE_URL at a new database and migrate it first")


def run_demo(engine: Engine, *, seed: int = 2026, year: int | None = None,
             enterprises: int = 300, providers: int = 30, invoices: int = 3000) -> dict:
    """Fill an empty, migrated database with one simulated budget year; return a summary."""
    if enterprises < 1 or providers < 1 or invoices < 0:
        raise ValueError("the demo needs at least one enterprise and one provider")
    year = year if year is not None else default_year()
    if not 2001 <= year <= 2099:
        raise ValueError("year must be between 2001 and 2099")
    _require_empty(engine)
    now = clock.now()
    if year > now.year:
        raise ValueError(f"the demo simulates up to today ({now.date()}); {year} is ahead")
    demo = Demo(engine, seed=seed, year=year, enterprises=enterprises, providers=providers,
                invoices=invoices, now=now)
    real_now = clock.now
    clock.now = demo.sim.now
    try:
        run(demo)
    finally:
        clock.now = real_now
    result = summary(engine, year)
    result["seed"] = seed
    result["transactions"] = demo.transactions
    return result
