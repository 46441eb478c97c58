"""When things happen in the simulated year: the events put on the queue before the first day —
the bureau's setup, each enterprise's application, each invoice's posting and payments, the
spring addition to the approved list, red-letter reversals, the credit actions, the tightened
review threshold and the settlement batches. What each event does is decided when its day
comes (parties.py, applications.py, invoices.py, redemptions.py, settlements.py)."""

from __future__ import annotations

from datetime import date, timedelta

from simulation.catalogue import APPLY_MONTH, PROJECT_DOMAINS, REJECT_REASONS, WAN, YUAN
from simulation.days import (
    P_APPLY,
    P_BUREAU,
    P_DECIDE,
    P_PAY,
    P_POST,
    P_REVERSE,
    P_SETTLE,
    P_SETUP,
    month_end,
    on_weekday,
    workday,
    workday_before,
)
from simulation.state import Demo, PlannedEnterprise, PlannedInvoice


def plan_schedule(demo: Demo) -> None:
    demo.at(demo.first_day, P_SETUP, "setup", "bureau")
    _plan_applications(demo)
    _plan_postings_and_payments(demo)
    _plan_bureau_actions(demo)
    _plan_settlements(demo)


def _plan_applications(demo: Demo) -> None:
    """Enterprises apply (or the bureau issues directly to a key project)."""
    rng, y = demo.rng, demo.year
    for e in demo.enterprises:
        r = rng.random()
        month = rng.choices(range(1, 13), APPLY_MONTH)[0]
        day = workday(max(demo.first_day + timedelta(days=1),
                          date(y, month, rng.randint(1, 28))))
        if r < 0.03 and day <= demo.last_day:
            e.applying = True
            demo.at(day, P_DECIDE, "direct_issue", "bureau", e.idx)
        elif r < 0.93 and day <= demo.last_day:
            e.applying = True
            demo.at(day, P_APPLY, "apply", ("ent", e.idx), application(demo, e, e.request_fen))
        else:  # applies in the last days: the application still waits for review
            e.applying = True
            late = workday_before(demo.last_day - timedelta(days=rng.randint(0, 4)))
            plan = application(demo, e, e.request_fen)
            plan["delay"] = 7 + plan["delay"]  # decided after today
            demo.at(max(demo.first_day + timedelta(days=1), late), P_APPLY, "apply",
                    ("ent", e.idx), plan)


def _plan_postings_and_payments(demo: Demo) -> None:
    """Provider postings, then payments in weekly runs."""
    rng = demo.rng
    for inv in demo.invoices:
        demo.at(inv.posting_day, P_POST, "post", ("prv", inv.provider), inv.idx)
        total = inv.total_fen
        delay = rng.randint(0, 12) if inv.issued_on == inv.service_start else \
            rng.randint(5, 45)
        paid_on = inv.issued_on + timedelta(days=delay)
        r = rng.random()
        if r < 0.03:
            continue  # disputed: never paid
        if r < 0.15:
            first = max(YUAN, int(total * rng.uniform(0.3, 0.8)) // YUAN * YUAN)
            _payment(demo, inv, paid_on, first)
            if rng.random() < 0.6:
                _payment(demo, inv, paid_on + timedelta(days=rng.randint(20, 90)),
                         total - first)
        else:
            _payment(demo, inv, paid_on, total)


def _plan_bureau_actions(demo: Demo) -> None:
    """A spring addition to the approved list; red-letter reversals; credit actions; and,
    before the last weeks, more redemptions held for review (risk flags)."""
    rng, y = demo.rng, demo.year
    for p in demo.providers:
        if p.approval == "spring":
            demo.at(workday(date(y, 4, 15)), P_BUREAU, "approve_provider", "bureau", p.idx)
    n_rev = max(3, demo.n_invoices // 200) if demo.n_invoices else 0
    after = max(1, round(n_rev * 0.4))
    before = max(1, round(n_rev * 0.4))
    for kind, count, low, high in (("after", after, date(y, 8, 3), date(y, 10, 30)),
                                   ("before", before, date(y, 7, 20), date(y, 11, 25)),
                                   ("unpaid", n_rev - after - before, date(y, 2, 1),
                                    date(y, 11, 25))):
        for _ in range(max(0, count)):
            day = workday(low + timedelta(days=rng.randint(0, (high - low).days)))
            full = rng.random() < 0.25
            fraction = 1.0 if full else rng.uniform(0.1, 0.5)
            demo.at(day, P_REVERSE, "reverse", "slot", (kind, fraction, rng.random()))
    if demo.n_enterprises >= 10:
        demo.at(workday(date(y, 9, 15)), P_BUREAU, "credit_block", "bureau", rng.random())
        demo.at(workday(date(y, 10, 20)), P_BUREAU, "stop_project", "bureau", rng.random())
    tighten = workday_before(demo.last_day - timedelta(days=40))
    if tighten > demo.first_day + timedelta(days=7):
        demo.at(tighten, P_BUREAU, "tighten_review", "bureau")


def _plan_settlements(demo: Demo) -> None:
    """A mid-year batch, approved and paid, and the batch of the last month end that
    leaves a week for it: created, and still in review today."""
    rng, y = demo.rng, demo.year
    ends = [month_end(y, m) for m in range(7, 13)]
    last = [end for end in ends if workday(end + timedelta(days=6)) <= demo.last_day]
    for cutoff in sorted({date(y, 6, 30), *last[-1:]}):
        create = workday(cutoff + timedelta(days=6))
        approve = workday(create + timedelta(days=2))
        pay = workday(approve + timedelta(days=5))
        in_review = bool(last) and cutoff == last[-1]
        ref = f"DLCZ{y}{pay.month:02d}{pay.day:02d}{rng.randint(1000, 9999)}"
        demo.at(create, P_SETTLE, "settle", "bureau",
                (cutoff, None, None, None) if in_review else (cutoff, approve, pay, ref))


def application(demo: Demo, e: PlannedEnterprise, requested: int) -> dict:
    """An application's content and how the bureau will decide it, drawn now."""
    rng = demo.rng
    domain = rng.choice(PROJECT_DOMAINS)
    r = rng.random()
    outcome = ("reject", rng.choice(REJECT_REASONS)) if r < 0.04 else \
        ("approve", rng.uniform(0.6, 0.9)) if r < 0.22 else ("approve", 1.0)
    return {"requested": requested, "project": f"{domain}项目",
            "purpose": f"采购智能算力开展{domain}，预计年度算力采购约"
                       f"{max(1, e.spend_fen // WAN)}万元",
            "outcome": outcome, "delay": rng.randint(2, 10)}


def _payment(demo: Demo, inv: PlannedInvoice, paid_on: date, amount: int) -> None:
    if amount <= 0 or paid_on > demo.last_day:
        return
    record = max(on_weekday(paid_on, 4), inv.posting_day)  # Friday runs
    demo.at(min(record, demo.last_day), P_PAY, "pay", ("prv", inv.provider),
            (inv.idx, paid_on, amount))
