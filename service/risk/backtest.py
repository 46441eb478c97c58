"""The back-test (issue 14 item 4): the year's current rules (or a proposed change to them) run
over every redemption of the year, in the order they were made, each against what came before
it — the same `rules.evaluate` the redemption path uses. It reads only: nothing is written.

The whole year is read in a few set-based statements (redemptions with their invoices, lines,
parties, posting times, clawbacks) and the price statistics are computed from the year's lines
as they stand now."""

import time
from dataclasses import dataclass, field
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
    rows, t = _read_year(session, year_number, rules, on)
    read = time.perf_counter()
    verdict = _replay(t, rows, year_number, policy, rules, on, threshold)
    return {"year": year_number, "rules": rules, "review_threshold": threshold,
            "redemptions": len(rows), "flagged": verdict.flagged, "held": verdict.held,
            "by_rule": [{"rule": rule, "enabled": rule in on,
                         "flagged": verdict.by_rule.get(rule, 0)} for rule in rules],
            "items": verdict.top, "elapsed_ms": int((time.perf_counter() - started) * 1000),
            "read_ms": int((read - started) * 1000)}


def _read_year(session: Session, year_number: int, rules: dict, on: set[str]
               ) -> tuple[list, Tally]:
    """The year's redemptions in the order they were made, and the tally filled with every fact
    the enabled rules compare them with."""
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
    if "unit_price_outlier" in on:
        _read_lines(session, t, year_number, rules["unit_price_outlier"], redeemed)
    parties = select(Redemption.enterprise_id).where(redeemed).distinct()
    t.enterprises = {row.id: F.party(row) for row in db.execute(
        select(*F.party_columns(Enterprise)).where(Enterprise.id.in_(parties)))}
    t.providers = {row.id: F.party(row) for row in db.execute(
        select(*F.party_columns(Provider)).where(Provider.id.in_(
            select(Redemption.provider_id).where(redeemed).distinct())))}
    if "burst" in on:
        _read_posted(session, t, parties)
    if "reversal_after_payout" in on:
        _read_paid_clawbacks(session, t, year_number)
    return rows, t


def _read_lines(session: Session, t: Tally, year_number: int, setting: dict, redeemed) -> None:
    """The year's price statistics, and the redeemed invoices' lines that may lie outside them
    (only those can flag: the rule needs no other)."""
    t.stats = {(year_number, c, u): s
               for (c, u), s in stats.compute(session, year_number).items()}
    in_year = select(Redemption.invoice_id).where(redeemed)
    lines = select(InvoiceLine.invoice_id, InvoiceLine.line_no, InvoiceLine.category,
                   InvoiceLine.unit, InvoiceLine.unit_price_fen, InvoiceLine.description
                   ).where(InvoiceLine.invoice_id.in_(in_year.distinct()))
    outlying = _outlying(t.stats, year_number, setting)
    if outlying is not None:
        lines = lines.where(outlying)
    for row in session.connection().execute(lines).all():
        t.lines[row[0]].append(Line(*row[1:]))


def _read_posted(session: Session, t: Tally, parties) -> None:
    """How many invoices each provider posted to each of the year's enterprises, per day."""
    day = F.posted_day(session.get_bind().dialect.name)
    for p, e, on_day, n in session.connection().execute(
            select(Invoice.provider_id, Invoice.enterprise_id, day, func.count())
            .where(Invoice.enterprise_id.in_(parties))
            .group_by(Invoice.provider_id, Invoice.enterprise_id, day)).all():
        t.posted[(p, e, F.as_date(on_day))] = int(n)


def _read_paid_clawbacks(session: Session, t: Tally, year_number: int) -> None:
    """The year's clawbacks of redemptions whose settlement was already paid."""
    for row in session.connection().execute(
            select(Clawback.year, Redemption.enterprise_id, Clawback.id,
                   Clawback.invoice_id, Clawback.amount_fen, Clawback.created_at,
                   Settlement.id)
            .join(Redemption, Redemption.id == Clawback.redemption_id)
            .join(Settlement, Settlement.id == Redemption.settlement_id)
            .where(Clawback.year == year_number, Settlement.status == "paid")):
        t.clawbacks[(row[0], row[1])].append(F.clawback_evidence(row))


@dataclass
class _Verdict:
    """What the rules said over the year: counts, and the highest-scoring redemptions."""

    by_rule: dict[str, int]
    flagged: int = 0
    held: int = 0
    top: list[dict] = field(default_factory=list)


def _replay(t: Tally, rows: list, year_number: int, policy, rules: dict, on: set[str],
            threshold: int) -> _Verdict:
    """Each redemption evaluated against what came before it, then added to the tally."""
    verdict = _Verdict(by_rule=dict.fromkeys(rules, 0))
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
        verdict.flagged += 1
        score = sum(f["weight"] for f in found)
        would_hold = score >= threshold
        verdict.held += would_hold
        for f in found:
            verdict.by_rule[f["rule"]] += 1
        if score < floor:
            continue
        top.append({"redemption_id": rid, "invoice_id": invoice_id, "enterprise_id": e,
                    "provider_id": p, "score": score, "rules": [f["rule"] for f in found],
                    "would_hold": would_hold})
        if len(top) > 4 * TOP:
            top = _best(top)
            floor = top[-1]["score"]
    verdict.top = _best(top)
    return verdict


def _best(top: list[dict]) -> list[dict]:
    """The TOP highest scores, ties by redemption id."""
    return sorted(top, key=lambda x: (-x["score"], x["redemption_id"]))[:TOP]
