"""The risk rules (issue 14 item 2, docs/risk.md): each names what it saw, with the rows and the
numbers, in a sentence a reviewer can check. A flag never refuses anything; the sum of a
redemption's flag weights is its `risk_score`, and a score at or above the year's
`review_threshold` holds the redemption for review.

The rules read a `Tally`: the facts of the redemption's parties and invoice and what the year's
earlier redemptions add up to. The redemption path fills it for a whole batch in a few
statements (`load_batch`); the back-test fills it from the whole year and walks the redemptions
in order (service/risk/backtest.py). `evaluate` is the one implementation of the rules."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

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

from service import clock, ids
from service.invoices.models import Invoice, InvoiceLine
from service.redemptions.models import Clawback, Redemption
from service.registry.models import Enterprise, Provider
from service.risk import policy as risk_policy
from service.risk import stats
from service.risk.facts import FACTS
from service.settlements.models import Settlement


class InvoiceInfo(NamedTuple):
    id: str
    invoice_number: str
    issued_on: date
    total_fen: int
    posted_on: date | None  # the Shanghai date it was posted


class Line(NamedTuple):
    line_no: int
    category: str
    unit: str
    unit_price_fen: int
    description: str


class Party(NamedTuple):
    id: str
    name: str
    uscc: str
    established_on: date | None
    raw: dict  # fact → as registered
    norm: dict  # fact → normalised


FACT_ZH = {"contact_phone": "联系电话", "contact_email": "联系邮箱", "bank_account": "银行账号",
           "legal_representative": "法定代表人", "registered_address": "注册地址"}
FACT_EN = {"contact_phone": "contact phone", "contact_email": "contact e-mail",
           "bank_account": "bank account", "legal_representative": "legal representative",
           "registered_address": "registered address"}


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def aware(at: datetime | None) -> datetime | None:
    """A stored timestamp with its offset (SQLite gives back Shanghai wall time)."""
    return at.replace(tzinfo=clock.SHANGHAI) if at is not None and at.tzinfo is None else at


def local_day(at: datetime) -> date:
    """The Shanghai date of a stored timestamp (SQLite gives back Shanghai wall time)."""
    return (at if at.tzinfo is None else at.astimezone(clock.SHANGHAI)).date()


def enabled(rules: dict) -> set[str]:
    return {rule for rule, s in rules.items() if s.get("enabled")}


class Tally:
    """What the rules compare a redemption with (see the module docstring)."""

    def __init__(self) -> None:
        self.invoices: dict[str, InvoiceInfo] = {}
        self.lines: dict[str, list[Line]] = defaultdict(list)
        self.stats: dict[tuple[int, str, str], stats.Stat] = {}
        self.enterprises: dict[str, Party] = {}
        self.providers: dict[str, Party] = {}
        self.pair_total: dict[tuple, int] = defaultdict(int)  # (year, enterprise, provider)
        self.enterprise_total: dict[tuple, int] = defaultdict(int)  # (year, enterprise)
        self.pair_invoices: dict[tuple, dict[str, int]] = defaultdict(dict)  # → {invoice: net}
        # (year, provider) → {(fact, normalised): {enterprise ids that redeemed with it}}
        self.clients: dict[tuple, dict[tuple, set]] = defaultdict(lambda: defaultdict(set))
        self.posted: dict[tuple, int] = defaultdict(int)  # (provider, enterprise, day) → count
        self.clawbacks: dict[tuple, list[dict]] = defaultdict(list)  # (year, enterprise)

    def add(self, r: dict) -> None:
        """Count a redemption as an earlier one for what follows it."""
        year, e, p, net = r["year"], r["enterprise_id"], r["provider_id"], r["subsidy_fen"]
        self.pair_total[(year, e, p)] += net
        self.enterprise_total[(year, e)] += net
        pair = self.pair_invoices[(year, e, p)]
        pair[r["invoice_id"]] = pair.get(r["invoice_id"], 0) + net
        enterprise = self.enterprises.get(e)
        if enterprise is not None:
            for fact, value in enterprise.norm.items():
                self.clients[(year, p)][(fact, value)].add(e)

    def add_window(self, year: int, e: str, p: str, invoice_id: str, issued_on: date,
                   net: int) -> None:
        """An earlier redemption known only by its invoice (the batch path's window rows)."""
        pair = self.pair_invoices[(year, e, p)]
        pair[invoice_id] = pair.get(invoice_id, 0) + net
        if invoice_id not in self.invoices:
            self.invoices[invoice_id] = InvoiceInfo(invoice_id, "", issued_on, 0, None)


def _split_possible(t: Tally, r: dict, policy: Any, s: dict) -> bool:
    """A cheap bound first: the window's sum is at most what the pair redeemed in all, and
    `together >= share × (cap − after + together)` needs
    `together × (1 − share) >= share × (cap − after)`."""
    key = (r["year"], r["enterprise_id"], r["provider_id"])
    pair_after = t.pair_total.get(key, 0) + r["subsidy_fen"]
    after = t.enterprise_total.get(key[:2], 0) + r["subsidy_fen"]
    return pair_after * (10_000 - s["share_bp"]) >= s["share_bp"] * (
        policy.enterprise_cap_fen - after)


def evaluate(t: Tally, r: dict, policy: Any, rules: dict, *, explain: bool = True,
             on: set[str] | None = None) -> list[dict]:
    """The flags of redemption `r` (id, invoice_id, enterprise_id, provider_id, year,
    subsidy_fen, created_at) against the tally of what came before it. `explain`: with the
    sentences (message_zh, message_en; the back-test goes without)."""
    flags: list[dict] = []

    def add(rule: str, evidence: dict, say) -> None:
        flag = {"rule": rule, "weight": int(rules[rule]["weight"]), "evidence": evidence}
        if explain:
            flag["message_zh"], flag["message_en"] = say()
        flags.append(flag)

    year, e, p, net = r["year"], r["enterprise_id"], r["provider_id"], r["subsidy_fen"]
    invoice = t.invoices[r["invoice_id"]]
    enterprise = t.enterprises.get(e)
    provider = t.providers.get(p)
    if on is None:
        on = enabled(rules)

    if "unit_price_outlier" in on:
        s = rules["unit_price_outlier"]
        outliers = []
        for line in t.lines.get(invoice.id, ()):
            st = t.stats.get((year, line.category, line.unit))
            if st is None or st.line_count < s["min_lines"]:
                continue
            scale = max(st.mad_fen, st.median_fen * s["mad_floor_bp"] // 10_000, 1)
            deviation = abs(line.unit_price_fen - st.median_fen)
            if deviation > s["k"] * scale:
                outliers.append({"line_no": line.line_no, "category": line.category,
                                 "unit": line.unit, "description": line.description,
                                 "unit_price_fen": line.unit_price_fen,
                                 "median_fen": st.median_fen, "mad_fen": st.mad_fen,
                                 "scale_fen": scale, "deviation_fen": deviation,
                                 "limit_fen": s["k"] * scale, "k": s["k"],
                                 "lines_in_group": st.line_count})
        if outliers:
            o = outliers[0]
            more_zh = f"（另有 {len(outliers) - 1} 行）" if len(outliers) > 1 else ""
            more_en = f" ({len(outliers) - 1} more line(s))" if len(outliers) > 1 else ""
            add("unit_price_outlier", {"lines": outliers},
                lambda: (f"发票第 {o['line_no']} 行（{o['category']}，单位“{o['unit']}”）单价 "
                f"{yuan(o['unit_price_fen'])} 元，偏离本年度同类 {o['lines_in_group']} 行的中位数 "
                f"{yuan(o['median_fen'])} 元达 {yuan(o['deviation_fen'])} 元，超过 {o['k']} 倍"
                f"中位数绝对偏差（{yuan(o['scale_fen'])} 元）{more_zh}。",
                f"Invoice line {o['line_no']} ({o['category']}, per '{o['unit']}') has a unit "
                f"price of {yuan(o['unit_price_fen'])} yuan, {yuan(o['deviation_fen'])} yuan "
                f"from the median {yuan(o['median_fen'])} yuan of the year's "
                f"{o['lines_in_group']} such lines: more than {o['k']} median absolute "
                f"deviations ({yuan(o['scale_fen'])} yuan){more_en}."))

    if "near_cap_split" in on and _split_possible(t, r, policy, rules["near_cap_split"]):
        s = rules["near_cap_split"]
        key = (year, e, p)
        amounts = t.pair_invoices.get(key, {})
        reach = timedelta(days=s["window_days"])
        window = {i: v for i, v in amounts.items()
                  if abs(t.invoices[i].issued_on - invoice.issued_on) <= reach}
        window[invoice.id] = window.get(invoice.id, 0) + net
        together = sum(window.values())
        after = t.enterprise_total.get((year, e), 0) + net
        cap_left = policy.enterprise_cap_fen - (after - together)
        if (len(window) >= s["min_invoices"] and cap_left > 0
                and all(v < s["each_below_fen"] for v in window.values())
                and together * 10_000 >= s["share_bp"] * cap_left):
            listed = [{"invoice_id": i, "invoice_number": t.invoices[i].invoice_number,
                       "issued_on": t.invoices[i].issued_on.isoformat(), "redeemed_fen": v}
                      for i, v in sorted(window.items(), key=lambda kv: (
                          t.invoices[kv[0]].issued_on, kv[0]))]
            add("near_cap_split", {
                "invoices": listed, "together_fen": together, "cap_left_fen": cap_left,
                "enterprise_cap_fen": policy.enterprise_cap_fen, "share_bp": s["share_bp"],
                "reached_bp": together * 10_000 // cap_left, "window_days": s["window_days"],
                "each_below_fen": s["each_below_fen"]},
                lambda: (f"同一企业与服务商在 {s['window_days']} 天内的 {len(window)} 张发票合计兑付 "
                f"{yuan(together)} 元，达到企业剩余额度 {yuan(cap_left)} 元的 "
                f"{together * 100 // cap_left}%（阈值 {s['share_bp'] // 100}%），"
                f"且每张均低于 {yuan(s['each_below_fen'])} 元：疑似拆分。",
                f"{len(window)} invoices between the same enterprise and provider within "
                f"{s['window_days']} days redeem {yuan(together)} yuan together, "
                f"{together * 100 // cap_left}% of the enterprise's remaining cap of "
                f"{yuan(cap_left)} yuan (threshold {s['share_bp'] // 100}%), each below "
                f"{yuan(s['each_below_fen'])} yuan: a possible split claim."))

    if "shared_contact" in on and enterprise is not None:
        shared = []
        if provider is not None:
            for fact in FACTS:
                value = enterprise.norm.get(fact)
                if value and value == provider.norm.get(fact):
                    shared.append({"fact": fact, "with_type": "provider", "with_id": provider.id,
                                   "with_name": provider.name,
                                   "value": enterprise.raw.get(fact),
                                   "other_value": provider.raw.get(fact)})
        clients = t.clients.get((year, p), {})
        for fact in FACTS:
            value = enterprise.norm.get(fact)
            if not value:
                continue
            for other_id in sorted(clients.get((fact, value), set()) - {e}):
                other = t.enterprises[other_id]
                shared.append({"fact": fact, "with_type": "enterprise", "with_id": other_id,
                               "with_name": other.name, "value": enterprise.raw.get(fact),
                               "other_value": other.raw.get(fact)})
        if shared:
            first = shared[0]
            zh_with = "本发票的服务商" if first["with_type"] == "provider" else \
                "同样向该服务商兑付的企业"
            en_with = "the invoice's provider" if first["with_type"] == "provider" else \
                "another enterprise redeeming against the same provider,"
            more_zh = f"（共 {len(shared)} 处相同）" if len(shared) > 1 else ""
            more_en = f" ({len(shared)} shared facts in all)" if len(shared) > 1 else ""
            add("shared_contact", {"shared": shared},
                lambda: (f"企业“{enterprise.name}”与{zh_with}“{first['with_name']}”的"
                f"{FACT_ZH[first['fact']]}相同（{first['value']} / {first['other_value']}）"
                f"{more_zh}。",
                f"The enterprise '{enterprise.name}' and {en_with} '{first['with_name']}' share "
                f"a {FACT_EN[first['fact']]} ({first['value']} / {first['other_value']})"
                f"{more_en}."))

    if "new_entity" in on and enterprise is not None and enterprise.established_on:
        s = rules["new_entity"]
        opens = policy.application_opens_on
        before = (opens - enterprise.established_on).days
        if before < s["days"]:
            add("new_entity", {
                "established_on": enterprise.established_on.isoformat(),
                "application_opens_on": opens.isoformat(), "days_before": before,
                "threshold_days": s["days"]},
                lambda: (f"企业成立于 {enterprise.established_on}，距本年度申报开始（{opens}）仅 "
                f"{before} 天，少于 {s['days']} 天。",
                f"The enterprise was established on {enterprise.established_on}, {before} days "
                f"before the year's application window opened ({opens}): fewer than "
                f"{s['days']}."))

    if "burst" in on and invoice.posted_on is not None:
        s = rules["burst"]
        day = invoice.posted_on
        count = t.posted.get((p, e, day), 0)
        if count > s["max_per_day"]:
            add("burst", {
                "posted_on": day.isoformat(), "invoices": count,
                "max_per_day": s["max_per_day"]},
                lambda: (f"服务商“{provider.name if provider else p}”在 {day} 一天内为该企业开具了 "
                f"{count} 张发票，超过 {s['max_per_day']} 张。",
                f"The provider '{provider.name if provider else p}' posted {count} invoices "
                f"for this enterprise on {day}: more than {s['max_per_day']}."))

    if "round_amount" in on:
        s = rules["round_amount"]
        if invoice.total_fen >= s["min_fen"] and invoice.total_fen % s["unit_fen"] == 0:
            add("round_amount", {
                "invoice_number": invoice.invoice_number, "total_fen": invoice.total_fen,
                "min_fen": s["min_fen"], "unit_fen": s["unit_fen"]},
                lambda: (f"发票 {invoice.invoice_number} 金额 {yuan(invoice.total_fen)} 元，是 "
                f"{yuan(s['unit_fen'])} 元的整数倍，且不低于 {yuan(s['min_fen'])} 元。",
                f"Invoice {invoice.invoice_number} totals {yuan(invoice.total_fen)} yuan, a "
                f"whole multiple of {yuan(s['unit_fen'])} yuan, and at least "
                f"{yuan(s['min_fen'])} yuan."))

    if "reversal_after_payout" in on:
        at = aware(r.get("created_at"))
        earlier = [c for c in t.clawbacks.get((year, e), ())
                   if at is None or c["_at"] is None or c["_at"] <= at]
        if earlier:
            listed = [{k: v for k, v in c.items() if not k.startswith("_")} for c in earlier]
            owed = sum(c["amount_fen"] for c in earlier)
            add("reversal_after_payout", {"clawbacks": listed},
                lambda: (f"该企业本年度已有 {len(earlier)} 笔红字冲销发生在补贴支付之后，"
                f"追回 {yuan(owed)} 元（发票 {listed[0]['invoice_id']}）。",
                f"This year the enterprise has had {len(earlier)} red-letter reversal(s) after "
                f"a paid settlement, clawing back {yuan(owed)} yuan (invoice "
                f"{listed[0]['invoice_id']})."))

    if "provider_concentration" in on:
        s = rules["provider_concentration"]
        with_provider = t.pair_total.get((year, e, p), 0) + net
        total = t.enterprise_total.get((year, e), 0) + net
        if total > 0 and with_provider * 10_000 > s["share_bp"] * total:
            add("provider_concentration", {
                "provider_id": p, "with_provider_fen": with_provider,
                "enterprise_redeemed_fen": total, "share_bp": with_provider * 10_000 // total,
                "threshold_bp": s["share_bp"]},
                lambda: (f"该企业本年度已兑付补贴 {yuan(total)} 元中，{yuan(with_provider)} 元"
                f"（{with_provider * 100 // total}%）来自服务商“"
                f"{provider.name if provider else p}”，超过 {s['share_bp'] // 100}%。",
                f"Of the enterprise's {yuan(total)} yuan of redeemed subsidy this year, "
                f"{yuan(with_provider)} yuan ({with_provider * 100 // total}%) is with the "
                f"provider '{provider.name if provider else p}': more than "
                f"{s['share_bp'] // 100}%."))
    return flags


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
    """_split_possible for the batch at once, bounded by what the whole batch adds: when no
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


def assess(session: Session, invoices: dict[str, Any], accepted: Sequence[dict],
           policies: dict[int, Any]) -> None:
    """Flag the batch's accepted redemptions, in arrival order (each sees those before it);
    a redemption whose score reaches its year's review threshold is held: its status becomes
    `under_review` (what it would have been is kept in `_released_status`) and gets the id of
    its review."""
    if not accepted:
        return
    t = load_batch(session, invoices, accepted, policies)
    rules = {y: rules_of(policies[y]) for y in {a["year"] for a in accepted}}
    on = {y: enabled(r) for y, r in rules.items()}
    for a in accepted:
        policy = policies[a["year"]]
        a["_flags"] = sorted(evaluate(t, a, policy, rules[a["year"]], on=on[a["year"]]),
                             key=lambda f: f["rule"])
        a["_risk_score"] = sum(f["weight"] for f in a["_flags"])
        if a["_flags"] and a["_risk_score"] >= policy.review_threshold:
            a["_released_status"] = a["status"]
            a["status"] = "under_review"
            a["_review_id"] = ids.new_id("rev")
        t.add(a)
