"""Who takes part in the simulated year and what they buy: the providers and their prices, the
enterprises and institutions with their demand, and every invoice of the year with its lines,
service period and number. Everything is drawn from the seeded random stream, in a fixed order:
drawing one value more or less here changes the rest of the year."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta

from service.kit.uscc import with_check_char
from simulation.catalogue import (
    CATALOGUE,
    CORES,
    DISTRICTS,
    EXTRAS,
    INDUSTRIES,
    INSTITUTES,
    MIN_VOUCHER_FEN,
    MONTH_AMOUNT,
    MONTH_VOLUME,
    PROVIDER_FORMS,
    SPECIALTIES,
    WAN,
    YUAN,
)
from simulation.days import add_months, month_end
from simulation.state import Demo, PlannedEnterprise, PlannedInvoice, PlannedProvider


def org_code(rng: random.Random) -> str:
    """A GB 11714 organisation code: 8 digits and its mod-11 check character."""
    body = [rng.randrange(10) for _ in range(8)]
    check = 11 - sum(v * w for v, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return "".join(map(str, body)) + {10: "X", 11: "0"}.get(check, str(check))


class _Names:
    """USCCs and names not given twice in the year's registry."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.usccs: set[str] = set()
        self.names: set[str] = set()

    def uscc(self, prefix: str, division: str) -> str:
        while True:
            code = with_check_char(prefix + division + org_code(self.rng))
            if code not in self.usccs:
                self.usccs.add(code)
                return code

    def name(self, make: Callable[[], str]) -> str:
        for _ in range(200):
            name = make()
            if name not in self.names:
                self.names.add(name)
                return name
        n = 2
        base = make()
        while f"{base}（{n}）" in self.names:
            n += 1
        self.names.add(f"{base}（{n}）")
        return f"{base}（{n}）"


def plan_parties(demo: Demo) -> None:
    names = _Names(demo.rng)
    _plan_providers(demo, names)
    _plan_enterprises(demo, names)


def _plan_providers(demo: Demo, names: _Names) -> None:
    rng = demo.rng
    for i in range(demo.n_providers):
        name = names.name(lambda: rng.choice(PROVIDER_FORMS).format(core=rng.choice(CORES)))
        specialty = rng.choices([s for s, _ in SPECIALTIES], [w for _, w in SPECIALTIES])[0]
        prices = {}
        for items in CATALOGUE.values():
            for _cat, desc, _unit, low, high in items:
                prices[desc] = rng.randint(low, high)
        for _p, _lo, _hi, (_cat, desc, _unit, low, high) in EXTRAS:
            prices[desc] = rng.randint(low, high)
        demo.providers.append(PlannedProvider(
            idx=i, uscc=names.uscc("91", "210231"), name=name,
            specialty=specialty, weight=min(rng.paretovariate(1.1), 20.0), prices=prices))
    if demo.n_providers >= 4:
        demo.providers[-1].approval = "spring"
    if demo.n_providers >= 8:
        demo.providers[-2].approval = "never"
        demo.providers[-2].weight = 0.3  # a small local reseller


def _plan_enterprises(demo: Demo, names: _Names) -> None:
    rng = demo.rng
    sizes = [min(rng.paretovariate(1.2), 60.0) for _ in range(demo.n_enterprises)]
    demand = 0.85 * demo.pool_fen * min(1.0, demo.n_enterprises / 300)
    total_size = sum(sizes)
    provider_weights = [p.weight for p in demo.providers]
    for i, size in enumerate(sizes):
        district, division, _ = rng.choices(DISTRICTS, [w for *_, w in DISTRICTS])[0]
        if rng.random() < 0.08:
            prefix = "12"
            name = names.name(lambda: f"大连{rng.choice(CORES)}{rng.choice(INSTITUTES)}")
        else:
            prefix = "91"
            suffix = "股份有限公司" if rng.random() < 0.15 else "有限公司"
            name = names.name(lambda suffix=suffix: f"大连{rng.choice(CORES)}"
                                                    f"{rng.choice(INDUSTRIES)}{suffix}")
        request = int(demand * size / total_size)
        request = max(MIN_VOUCHER_FEN, min(demo.cap_fen, request // (1000 * YUAN) * 1000
                                           * YUAN))
        spend = int(request / 0.3 * rng.uniform(0.9, 1.6))
        k = rng.choices([1, 2, 3], [50, 35, 15])[0]
        chosen: list[int] = []
        while len(chosen) < min(k, demo.n_providers):
            p = rng.choices(range(demo.n_providers), provider_weights)[0]
            if p not in chosen:
                chosen.append(p)
        demo.enterprises.append(PlannedEnterprise(
            idx=i, uscc=names.uscc(prefix, division), name=name,
            district=district, spend_fen=spend, request_fen=request, providers=chosen,
            redeem_day=rng.randint(3, 26)))


def _lines(rng: random.Random, provider: PlannedProvider, amount: float) -> list[dict]:
    extras = []
    share_left = 1.0
    for probability, low, high, line in EXTRAS:
        if rng.random() < probability:
            share = rng.uniform(low, high)
            extras.append((line, amount * share))
            share_left -= share
    compute = [(rng.choice(CATALOGUE[provider.specialty]), amount * share_left)]
    if rng.random() < 0.25:  # a second compute product, sometimes of another kind
        other = rng.choices(list(CATALOGUE), [6, 3, 1])[0]
        second = rng.choice(CATALOGUE[other])
        split = rng.uniform(0.15, 0.45)
        compute = [(compute[0][0], amount * share_left * (1 - split)),
                   (second, amount * share_left * split)]
    lines = []
    for (category, desc, unit, _low, _high), target in compute + extras:
        price = provider.prices[desc]
        if price > target:
            if category not in CATALOGUE:
                continue  # a service dearer than this bill's share: not on this invoice
            # A monthly package dearer than the spend: billed by the hour instead.
            _c, desc, unit, _l, _h = min(CATALOGUE[category],
                                         key=lambda c: provider.prices[c[1]])
            price = provider.prices[desc]
        quantity = max(1, round(target / price))
        lines.append({"category": category, "description": desc, "quantity": quantity,
                      "unit": unit, "unit_price_fen": price, "amount_fen": quantity * price})
    return lines


def plan_invoices(demo: Demo) -> None:
    rng, y = demo.rng, demo.year
    if not demo.n_invoices or not demo.enterprises or not demo.providers:
        return
    weights = [(e.spend_fen / WAN) ** 0.7 for e in demo.enterprises]
    owners = rng.choices(range(demo.n_enterprises), weights, k=demo.n_invoices)
    today = demo.last_day  # the month of today gets its share for the days so far
    months = rng.choices(range(1, today.month + 1), [
        MONTH_VOLUME[m - 1] * (today.day / month_end(y, m).day if m == today.month else 1)
        for m in range(1, today.month + 1)], k=demo.n_invoices)
    count: dict[int, int] = defaultdict(int)
    for owner in owners:
        count[owner] += 1
    for idx, (owner, month) in enumerate(zip(owners, months, strict=True)):
        demo.invoices.append(_invoice(demo, idx, owner, month, count[owner]))
    _cross_the_year(demo)
    for inv in demo.invoices:  # month-end invoices go out with the next day's batch
        at_month_end = inv.issued_on == month_end(inv.issued_on.year, inv.issued_on.month)
        inv.posting_day = max(demo.first_day, min(demo.last_day, inv.issued_on + timedelta(
            days=1 if at_month_end else 0)))
    _number(demo)


def _invoice(demo: Demo, idx: int, owner: int, month: int, owners_invoices: int
             ) -> PlannedInvoice:
    """One invoice of the enterprise `owner` for a service starting in `month`: prepaid,
    postpaid, a quarterly package or a service started mid-month, never issued after today."""
    rng, y, today = demo.rng, demo.year, demo.last_day
    e = demo.enterprises[owner]
    provider_idx = rng.choices(e.providers, [7, 2, 1][:len(e.providers)])[0]
    provider = demo.providers[provider_idx]
    start, end = date(y, month, 1), month_end(y, month)
    kind = rng.random()
    length = 1
    if kind < 0.40:
        issued = start  # prepaid
    elif kind < 0.92:
        issued = end  # postpaid
    elif kind < 0.97:
        length = 3  # quarterly package, prepaid
        last = add_months(start, 2)
        end = month_end(last.year, last.month)
        issued = start
    else:
        start = date(y, month, rng.randint(2, 20))  # started mid-month
        issued = end
    if start > today:  # a service that has not started yet: one from the 1st
        start = date(y, month, 1)
    if issued > today:  # a bill not yet due: billed in advance instead
        issued = start
    amount = (e.spend_fen / owners_invoices * rng.uniform(0.5, 1.5)
              * MONTH_AMOUNT[month - 1] * length)
    amount = max(2_000 * YUAN, amount)
    contract = (None if rng.random() < 0.1 else
                f"DL-{y}-{provider.idx + 1:03d}-{owner + 1:04d}")
    return PlannedInvoice(
        idx=idx, provider=provider_idx, enterprise=owner, issued_on=issued,
        service_start=start, service_end=end, lines=_lines(rng, provider, amount),
        contract_number=contract, posting_day=issued,
        redeem=rng.random() < 0.93)


def _cross_the_year(demo: Demo) -> None:
    """A few service periods crossing the year boundary, either way (prepaid packages)."""
    rng, y = demo.rng, demo.year
    crossing = max(2, demo.n_invoices // 100)
    early = [inv for inv in demo.invoices if inv.service_start.month == 1]
    late = [inv for inv in demo.invoices if inv.service_start.month >= 11
            and inv.service_end.year == y]
    for inv in rng.sample(early, min(len(early), crossing // 2)):
        inv.service_start = date(y - 1, rng.choice([11, 12]), 1)
        inv.issued_on = inv.service_start
        inv.service_end = date(y, 1, 31)
    for inv in rng.sample(late, min(len(late), crossing - crossing // 2)):
        inv.service_start = date(y, inv.service_start.month, 1)
        inv.issued_on = inv.service_start
        inv.service_end = month_end(y + 1, rng.choice([1, 2, 3]))


def _number(demo: Demo) -> None:
    """Numbers follow each provider's issuing order; a few are legacy VAT invoices."""
    per_provider: dict[int, int] = defaultdict(int)
    for inv in sorted(demo.invoices, key=lambda i: (i.issued_on, i.idx)):
        per_provider[inv.provider] += 1
        n = per_provider[inv.provider]
        yy = inv.issued_on.year % 100
        if demo.rng.random() < 0.05:
            inv.code = f"2102{yy:02d}11{inv.provider + 1:03d}1"
            inv.number = f"{n:08d}"
        else:
            inv.number = f"{yy:02d}212{inv.provider + 1:03d}{n:012d}"
