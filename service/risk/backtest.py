"""The back-test (issue 14 item 4): the year's current rules (or a proposed change to them) run
over every redemption of the year, in the order they were made, each against what came before
it — the same `rules.evaluate` the redemption path uses. It reads only: nothing is written.

The whole year is read in a few set-based statements (redemptions with their invoices, lines,
parties, posting times, clawbacks) and the price statistics are computed from the year's lines
as they stand now."""

import time
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlmodel import Session

from service.invoices.models import Invoice, InvoiceLine
from service.redemptions.models import Clawback, Redemption
from service.registry.models import Enterprise, Provider
from service.risk import flags as F
from service.risk import policy as risk_policy
from service.risk import stats
from service.risk.rules import evaluate
from service.risk.tally import InvoiceInfo, Line, Tally
from service.settlements.models import Settlement
from service.years.service import get_year

TOP = 100


def _outlying(stats_: dict, year: int, s: dict):
    """A condition on invoice_line true for the lines that may lie outside their group's limit
    (a superset of what `evaluate` flags), or None when there are too many groups to spell."""
    groups = [(c, u, st) for (y, c, u), st in stats_.items()
              if y == year and st.line_count >= s["min_lines"]]
    if len(groups) > 200:
        return None
    if not groups:
        return false()
    terms = []
    for c, u, st in groups:
        scale = max(st.mad_fen, st.median_fen * s["mad_floor_bp"] // 10_000, 1)
        limit = s["k"] * scale
        terms.append(and_(InvoiceLine.category == c, InvoiceLine.unit == u,
                          or_(InvoiceLine.unit_price_fen > st.median_fen + limit,
                              InvoiceLine.unit_price_fen < st.median_fen - limit)))
    return or_(*terms)


def backtest(session: Session, year_number: int, change: dict | None = None,
             review_threshold: int | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    policy = get_year(session, year_number)
    rules = risk_policy.merged(policy.risk_rules, change)
    threshold = policy.review_threshold if review_threshold is None else review_threshold
    on = {rule for rule, s in rules.items() if s.get("enabled")}
    db = session.connection()
    t = Tally()
    rows = db.execute(
        select(Redemption.id, Redemption.invoice_id, Redemption.enterprise_id,
               Redemption.provider_id, Redemption.subsidy_fen, Redemption.created_at,
               Invoice.invoice_number, Invoice.issued_on, Invoice.total_fen,
               F.posted_day(session.get_bind().dialect.name))
        .join(Invoice, Invoice.id == Redemption.invoice_id)
        .where(Redemption.year == year_number)
        .order_by(Redemption.created_at, Redemption.id)).all()
    for _, invoice_id, _, _, _, _, number, issued_on, total, posted_at in rows:
        if invoice_id not in t.invoices:
            t.invoices[invoice_id] = InvoiceInfo(invoice_id, number, issued_on, total,
                                                   F.as_date(posted_at))
    redeemed = Redemption.year == year_number
    in_year = select(Redemption.invoice_id).where(redeemed)
    if "unit_price_outlier" in on:
        t.stats = {(year_number, c, u): s
                   for (c, u), s in stats.compute(session, year_number).items()}
        lines = select(InvoiceLine.invoice_id, InvoiceLine.line_no, InvoiceLine.category,
                       InvoiceLine.unit, InvoiceLine.unit_price_fen, InvoiceLine.description
                       ).where(InvoiceLine.invoice_id.in_(in_year.distinct()))
        outlying = _outlying(t.stats, year_number, rules["unit_price_outlier"])
        if outlying is not None:  # only lines that can flag: the rule needs no other
            lines = lines.where(outlying)
        for row in db.execute(lines).all():
            t.lines[row[0]].append(Line(*row[1:]))
    parties = select(Redemption.enterprise_id).where(redeemed).distinct()
    t.enterprises = {row.id: F.party(row) for row in db.execute(
        select(*F.party_columns(Enterprise)).where(Enterprise.id.in_(parties)))}
    t.providers = {row.id: F.party(row) for row in db.execute(
        select(*F.party_columns(Provider)).where(Provider.id.in_(
            select(Redemption.provider_id).where(redeemed).distinct())))}
    if "burst" in on:
        day = F.posted_day(session.get_bind().dialect.name)
        for p, e, on_day, n in db.execute(
                select(Invoice.provider_id, Invoice.enterprise_id, day, func.count())
                .where(Invoice.enterprise_id.in_(parties))
                .group_by(Invoice.provider_id, Invoice.enterprise_id, day)).all():
            t.posted[(p, e, F.as_date(on_day))] = int(n)
    if "reversal_after_payout" in on:
        for row in db.execute(
                select(Clawback.year, Redemption.enterprise_id, Clawback.id,
                       Clawback.invoice_id, Clawback.amount_fen, Clawback.created_at,
                       Settlement.id)
                .join(Redemption, Redemption.id == Clawback.redemption_id)
                .join(Settlement, Settlement.id == Redemption.settlement_id)
                .where(Clawback.year == year_number, Settlement.status == "paid")):
            t.clawbacks[(row[0], row[1])].append(F.clawback_evidence(row))
    read = time.perf_counter()
    by_rule: dict[str, int] = dict.fromkeys(rules, 0)
    flagged = held = 0
    top: list[dict] = []
    floor = -1  # the lowest score still in the top list once it is full
    r = {"year": year_number}  # one dict, refilled per redemption (nothing keeps it)
    for rid, invoice_id, e, p, subsidy, at, *_ in rows:
        r.update(id=rid, invoice_id=invoice_id, enterprise_id=e, provider_id=p,
                 subsidy_fen=subsidy, created_at=at)
        found = evaluate(t, r, policy, rules, explain=False, on=on)
        t.add(r)
        if not found:
            continue
        flagged += 1
        score = sum(f["weight"] for f in found)
        would_hold = score >= threshold
        held += would_hold
        for f in found:
            by_rule[f["rule"]] += 1
        if score < floor:
            continue
        top.append({"redemption_id": rid, "invoice_id": invoice_id, "enterprise_id": e,
                    "provider_id": p, "score": score, "rules": [f["rule"] for f in found],
                    "would_hold": would_hold})
        if len(top) > 4 * TOP:
            top = sorted(top, key=lambda x: (-x["score"], x["redemption_id"]))[:TOP]
            floor = top[-1]["score"]
    top = sorted(top, key=lambda x: (-x["score"], x["redemption_id"]))[:TOP]
    return {"year": year_number, "rules": rules, "review_threshold": threshold,
            "redemptions": len(rows), "flagged": flagged, "held": held,
            "by_rule": [{"rule": rule, "enabled": rule in on, "flagged": by_rule.get(rule, 0)}
                        for rule in rules],
            "items": top, "elapsed_ms": int((time.perf_counter() - started) * 1000),
            "read_ms": int((read - started) * 1000)}
