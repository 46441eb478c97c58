"""Risk flags on the redemption path (issue 14 item 2, docs/risk.md). A flag never refuses
anything; the sum of a redemption's flag weights is its `risk_score`, and a score at or above
the year's `review_threshold` holds the redemption for review.

The rules themselves are in service/risk/rules/ (one module each, `evaluate` over them); they
read a `Tally` (service/risk/tally.py). This module fills it for a whole batch in a few
statements (`load_batch`) and assesses the batch's redemptions in arrival order (`assess`); the
back-test fills it from the whole year (service/risk/backtest.py)."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlmodel import Session

from service.kit import clock, ids
from service.invoices.models import Invoice, InvoiceLine
from service.redemptions.models import Clawback, Redemption
from service.registry.models import Enterprise, Provider
from service.risk import policy as risk_policy
from service.risk import stats
from service.risk.facts import FACTS
from service.settlements.models import Settlement


from service.risk.rules import enabled, evaluate
from service.risk.tally import InvoiceInfo, Line, Party, Tally, aware, local_day

# --- the batch path: what the rules need, in a few statements per batch -------------------------

_FACT_COLUMNS = [*FACTS, "established_on", *(f"{f}_norm" for f in FACTS)]


def party(row: Any) -> Party:
    m = row._mapping
    return Party(m["id"], m["name"], m["uscc"], m["established_on"],
                 {f: m[f] for f in FACTS if m[f]}, {f: m[f"{f}_norm"] for f in FACTS
                                                    if m[f"{f}_norm"]})


def party_columns(model) -> list:
    return [model.id, model.name, model.uscc, *(getattr(model, c) for c in _FACT_COLUMNS)]


_E, _P = party_columns(Enterprise), party_columns(Provider)
# Both parties' facts in one statement: the first column says which registry.
_PARTIES = union_all(
    select(literal("e").label("party"), *_E).where(
        Enterprise.id.in_(bindparam("enterprises", expanding=True))),
    select(literal("p").label("party"), *_P).where(
        Provider.id.in_(bindparam("providers", expanding=True))))
_LINES = select(InvoiceLine.invoice_id, InvoiceLine.line_no, InvoiceLine.category,
                InvoiceLine.unit, InvoiceLine.unit_price_fen, InvoiceLine.description).where(
    InvoiceLine.invoice_id.in_(bindparam("ids", expanding=True)))
_net = func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen)
_PAIRS = select(Redemption.year, Redemption.enterprise_id, Redemption.provider_id, _net,
                func.sum(Redemption.clawed_back_fen)).where(
    Redemption.enterprise_id.in_(bindparam("enterprises", expanding=True)),
    Redemption.year.in_(bindparam("years", expanding=True))).group_by(
    Redemption.year, Redemption.enterprise_id, Redemption.provider_id)
_WINDOW = (select(Redemption.year, Redemption.enterprise_id, Redemption.provider_id,
                  Redemption.invoice_id, Invoice.issued_on, _net)
           .join(Invoice, Invoice.id == Redemption.invoice_id)
           .where(Redemption.enterprise_id.in_(bindparam("enterprises", expanding=True)),
                  Redemption.year.in_(bindparam("years", expanding=True)),
                  Invoice.issued_on >= bindparam("lo"), Invoice.issued_on <= bindparam("hi"))
           .group_by(Redemption.year, Redemption.enterprise_id, Redemption.provider_id,
                     Redemption.invoice_id, Invoice.issued_on))


def posted_day(dialect: str):
    """The Shanghai date an invoice was posted, in SQL (SQLite keeps Shanghai wall time)."""
    if dialect == "postgresql":
        return cast(func.timezone(literal_column("'Asia/Shanghai'"), Invoice.created_at), Date)
    return func.date(Invoice.created_at)


def as_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


_POSTED = {dialect: select(Invoice.provider_id, Invoice.enterprise_id, posted_day(dialect),
                           func.count())
           .where(Invoice.enterprise_id.in_(bindparam("enterprises", expanding=True)),
                  Invoice.created_at >= bindparam("lo"), Invoice.created_at < bindparam("hi"))
           .group_by(Invoice.provider_id, Invoice.enterprise_id, posted_day(dialect))
           for dialect in ("postgresql", "sqlite")}
_CLAWBACKS = (select(Clawback.year, Redemption.enterprise_id, Clawback.id, Clawback.invoice_id,
                     Clawback.amount_fen, Clawback.created_at, Settlement.id)
              .join(Redemption, Redemption.id == Clawback.redemption_id)
              .join(Settlement, Settlement.id == Redemption.settlement_id)
              .where(Redemption.enterprise_id.in_(bindparam("enterprises", expanding=True)),
                     Clawback.year.in_(bindparam("years", expanding=True)),
                     Settlement.status == "paid"))


def clawback_evidence(row: Any) -> dict:
    year, _, clawback_id, invoice_id, amount, at, settlement_id = row
    return {"clawback_id": clawback_id, "invoice_id": invoice_id, "amount_fen": int(amount),
            "settlement_id": settlement_id, "at": aware(at).isoformat() if at else None,
            "_at": aware(at)}


def rules_of(policy: Any) -> dict:
    return risk_policy.effective(policy.risk_rules)


def load_batch(session: Session, invoices: dict[str, Any], accepted: Sequence[dict],
               policies: dict[int, Any]) -> Tally:
    """A tally for the batch's accepted redemptions: `invoices` are the batch's invoice rows
    (InvoiceFacts), `policies` its years."""
    db = session.connection()
    t = Tally()
    years = sorted({a["year"] for a in accepted})
    rules = {y: rules_of(policies[y]) for y in years}
    on = {rule for y in years for rule, s in rules[y].items() if s.get("enabled")}
    ents = sorted({a["enterprise_id"] for a in accepted})
    provs = sorted({a["provider_id"] for a in accepted})
    inv_ids = sorted({a["invoice_id"] for a in accepted})
    for i in inv_ids:
        row = invoices[i]
        t.invoices[i] = InvoiceInfo(i, row.invoice_number, row.issued_on, row.total_fen,
                                    local_day(row.created_at) if row.created_at else None)
    for row in db.execute(_PARTIES, {"enterprises": ents, "providers": provs}):
        (t.enterprises if row.party == "e" else t.providers)[row.id] = party(row)
    if "unit_price_outlier" in on:
        for row in db.execute(_LINES, {"ids": inv_ids}):
            t.lines[row.invoice_id].append(Line(*row[1:]))
        groups = {(a["year"], line.category, line.unit) for a in accepted
                  for line in t.lines[a["invoice_id"]]}
        t.stats = stats.for_groups(session, groups, {y: rules[y]["unit_price_outlier"]
                                                     for y in years})
    clawed: set | None = None  # enterprises with anything taken back this year
    if on & {"near_cap_split", "provider_concentration", "reversal_after_payout"}:
        clawed = set()
        for year, e, p, net, back in db.execute(_PAIRS, {"enterprises": ents,
                                                         "years": years}):
            t.pair_total[(year, e, p)] += int(net or 0)
            t.enterprise_total[(year, e)] += int(net or 0)
            if back:
                clawed.add((year, e))
    if "near_cap_split" in on and _any_split_possible(t, accepted, policies, rules):
        widest = max(rules[y]["near_cap_split"]["window_days"] for y in years)
        dates = [t.invoices[i].issued_on for i in inv_ids]
        for year, e, p, invoice_id, issued_on, net in db.execute(_WINDOW, {
                "enterprises": ents, "years": years, "lo": min(dates) - timedelta(days=widest),
                "hi": max(dates) + timedelta(days=widest)}):
            t.add_window(year, e, p, invoice_id, issued_on, int(net or 0))
    if "shared_contact" in on:
        _load_clients(db, t, ents, provs, years)
    if "burst" in on:
        days = sorted({t.invoices[i].posted_on for i in inv_ids
                       if t.invoices[i].posted_on is not None})
        if days:
            lo = datetime.combine(days[0], datetime.min.time(), clock.SHANGHAI)
            hi = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(),
                                  clock.SHANGHAI)
            posted = _POSTED["postgresql" if db.dialect.name == "postgresql" else "sqlite"]
            for p, e, day, n in db.execute(posted, {"enterprises": ents, "lo": lo, "hi": hi}):
                t.posted[(p, e, as_date(day))] += int(n)
    if "reversal_after_payout" in on and (clawed is None or clawed):
        # a clawback always leaves clawed_back_fen on its redemption: none, no statement
        for row in db.execute(_CLAWBACKS, {"enterprises": ents, "years": years}):
            t.clawbacks[(row[0], row[1])].append(clawback_evidence(row))
    return t


def _any_split_possible(t: Tally, accepted: Sequence[dict], policies: dict,
                        rules: dict) -> bool:
    """rules/near_cap_split.possible for the batch at once, bounded by what the whole batch adds: when no
    redemption can reach, the pair's window need not be read."""
    pair_batch: dict[tuple, int] = defaultdict(int)
    ent_batch: dict[tuple, int] = defaultdict(int)
    for a in accepted:
        pair_batch[(a["year"], a["enterprise_id"], a["provider_id"])] += a["subsidy_fen"]
        ent_batch[(a["year"], a["enterprise_id"])] += a["subsidy_fen"]
    for a in accepted:
        s = rules[a["year"]]["near_cap_split"]
        key = (a["year"], a["enterprise_id"], a["provider_id"])
        pair_after = t.pair_total.get(key, 0) + pair_batch[key]
        after = t.enterprise_total.get(key[:2], 0) + ent_batch[key[:2]]
        if pair_after * (10_000 - s["share_bp"]) >= s["share_bp"] * (
                policies[a["year"]].enterprise_cap_fen - after):
            return True
    return False


def _load_clients(db, t: Tally, ents: list[str], provs: list[str], years: list[int]) -> None:
    """Enterprises that redeemed against the batch's providers this year and share a fact with
    one of the batch's enterprises: one statement, driven by the fact indexes."""
    values: dict[str, set] = defaultdict(set)
    for e in ents:
        for fact, value in t.enterprises[e].norm.items():
            values[fact].add(value)
    if not values:
        return
    matches = or_(*(getattr(Enterprise, f"{fact}_norm").in_(sorted(v))
                    for fact, v in values.items()))
    stmt = (select(Redemption.year, Redemption.provider_id, *_E).distinct()
            .join(Redemption, Redemption.enterprise_id == Enterprise.id)
            .where(matches, Redemption.provider_id.in_(provs), Redemption.year.in_(years),
                   and_(Redemption.subsidy_fen > Redemption.clawed_back_fen)))
    for row in db.execute(stmt):
        other = party(row)
        t.enterprises.setdefault(other.id, other)
        for fact, value in other.norm.items():
            t.clients[(row.year, row.provider_id)][(fact, value)].add(other.id)


def assess(session: Session, invoices: dict[str, Any], accepted: Sequence[Any],
           policies: dict[int, Any]) -> list[Any]:
    """The batch's accepted redemptions (redeem.Accepted) with their flags, in arrival order
    (each sees those before it). One whose score reaches its year's review threshold is held:
    its record comes back with status `under_review` and the id of its review."""
    if not accepted:
        return []
    rows = [a.row._asdict() for a in accepted]
    t = load_batch(session, invoices, rows, policies)
    rules = {y: rules_of(policies[y]) for y in {r["year"] for r in rows}}
    on = {y: enabled(r) for y, r in rules.items()}
    out = []
    for a, r in zip(accepted, rows):
        policy = policies[r["year"]]
        flags = tuple(sorted(evaluate(t, r, policy, rules[r["year"]], on=on[r["year"]]),
                             key=lambda f: f["rule"]))
        a = a._replace(flags=flags)
        if flags and a.risk_score >= policy.review_threshold:
            a = a._replace(row=a.row._replace(status="under_review"),
                           review_id=ids.new_id("rev"))
        t.add(a.row._asdict())
        out.append(a)
    return out
