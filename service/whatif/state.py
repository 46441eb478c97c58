"""One scenario over a loaded year (docs/what-if.md, phase 2 of the replay in replay.py): the
scenario's running state — the vouchers as it moves them, what each invoice and enterprise was
granted, the pool left, the outcome arrays and the rule results memoised per distinct input —
and one handler per event kind, called in stream order.

A redemption asks the live formula (`subsidy.subsidy_of`, with `subsidy.weighted_amount` per
line shape and `subsidy.dated_before_eligible`) for the invoice's eligible subsidy under the
scenario, less what the scenario already granted on it; draws it from the enterprise's vouchers
usable that day (`vouchers.unusable_reason`, `vouchers.draw_order`, `redeem.draw_from`: the
functions a real redemption calls) unless vouchers follow the cap; and limits it by the
scenario's cap left for the enterprise and pool left. A reversal recomputes the invoice's
eligible subsidy and takes the excess back, newest redemption first, last drawn voucher first,
exactly as `redemptions.service.take_back_excess` does (a voucher revoked or expired by then
passes it to the pool). Nothing is written.

The replay was tuned (bench/PROFILE.md): the handlers are bound methods of a slotted object,
dispatched by a tuple indexed by the event kind, and the redemption handler — nearly every
event — reads its state once per event and calls out only for what is rare.
"""

from __future__ import annotations

import itertools
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

from service.kit.errors import DomainError
from service.invoices import subsidy
from service.redemptions.redeem import draw_from, refuse_by_policy
from service.redemptions.restore import give_back_parts
from service.vouchers import service as vouchers
from service.whatif.yeardata import VoucherState, YearData, claim_keys, grow, redemption_claims


def scenario_policy(base: dict, year: int, overrides: dict) -> SimpleNamespace:
    """The policy the rule functions read: the year's, with the scenario's overrides."""
    policy = dict(base)
    policy.update({k: v for k, v in overrides.items() if k != "invoice_growth_bp" and v is not None})
    if isinstance(policy.get("eligible_from"), str):
        policy["eligible_from"] = date.fromisoformat(policy["eligible_from"])
    return SimpleNamespace(year=year, status="open", **policy)


@dataclass
class Outcome:
    """What one scenario granted: per claim (REDEMPTION and UNCLAIMED events, in stream
    order), and the limits that bound."""

    granted: array  # per claim event: net subsidy after every later take-back
    claim_event: array  # per claim: its event index
    claim_invoice: array
    claim_day: array
    refused_count: int = 0
    refused_fen: int = 0
    pool_exhausted_on: date | None = None
    capped: set = field(default_factory=set)
    granted_count: int = 0
    weighted: list = field(default_factory=list)  # per shape, under this scenario
    ent_net: list = field(default_factory=list)  # per enterprise: what it was granted in all


def run(data: YearData, policy: SimpleNamespace, *, growth_bp: int = 0,
        follow_cap: bool = False, include_unredeemed: bool = False,
        learn: bool = False) -> Outcome:
    """One scenario over the stream. The rule functions are the live ones; what they return is
    memoised per distinct input (an eligible subsidy per invoice class, paid and reversed
    amounts; an enterprise's usable vouchers per day until one of them changes). `learn`: the
    load's run under the actual policy that finds which single-draw redemptions named their
    voucher (YearData.named)."""
    replay = Replay(data, policy, growth_bp=growth_bp, follow_cap=follow_cap,
                    include_unredeemed=include_unredeemed, learn=learn)
    replay.walk()
    return replay.outcome()


def eligibility(data: YearData, policy: SimpleNamespace, growth_bp: int,
                weighted: list[int]) -> list[int]:
    """Per distinct (invoice class, paid, reversed) of the stream (claim_keys), the invoice's
    eligible subsidy under the scenario: the live formula once per key."""
    reimbursement = policy.settlement_mode == "reimbursement"
    before: dict[int, bool] = {}  # issue date → dated before eligible_from

    def eligible(i: int, paid: int, rvd: int) -> int:
        issued = data.inv_issued[i]
        b = before.get(issued)
        if b is None:
            b = before[issued] = subsidy.dated_before_eligible(date.fromordinal(issued), policy)
        if b:
            return 0
        total = data.inv_total[i]
        if growth_bp:
            total, paid, rvd = grow(total, growth_bp), grow(paid, growth_bp), grow(rvd, growth_bp)
        return subsidy.subsidy_of(weighted[data.inv_shape[i]], total_fen=total,
                                  reversed_fen=rvd, paid_fen=paid, overlap=data.inv_overlap[i],
                                  days=data.inv_days[i], reimbursement=reimbursement)

    keys, _ = claim_keys(data)
    return [eligible(i, paid, rvd) for i, paid, rvd in keys]


def voucher_states(data: YearData) -> tuple[list[VoucherState], dict[int, list[VoucherState]]]:
    """The scenario's own copies of the year's vouchers (by voucher index), and per enterprise
    its vouchers in draw order."""
    states = [VoucherState.__new__(VoucherState) for _ in data.vouchers]
    for state, v in zip(states, data.vouchers):
        for slot in VoucherState.__slots__:
            setattr(state, slot, getattr(v, slot))
    by_enterprise: dict[int, list[VoucherState]] = defaultdict(list)
    for state in sorted(states, key=vouchers.draw_order):
        by_enterprise[state.enterprise].append(state)
    return states, by_enterprise


def empty_outcome(data: YearData, include_unredeemed: bool, weighted: list[int]) -> Outcome:
    if include_unredeemed:  # the claims are known as the stream goes
        return Outcome(granted=array("q"), claim_event=array("l"), claim_invoice=array("l"),
                       claim_day=array("l"), weighted=weighted)
    # the claims are the redemptions, shared by every such scenario
    rd_event, rd_invoice, rd_day, _ = redemption_claims(data)
    return Outcome(granted=array("q", bytes(8 * len(rd_event))), claim_event=rd_event,
                   claim_invoice=rd_invoice, claim_day=rd_day, weighted=weighted)


class Replay:
    """A scenario's running state over the stream, with a handler per event kind."""

    __slots__ = (
        "data", "policy", "year", "follow_cap", "include_unredeemed", "learn", "choosing",
        "elig", "dates", "inv_ent", "inv_net", "ent_net", "pool_left", "cap", "states",
        "by_enterprise", "usable", "out", "granted", "capped", "next_claim", "granted_count",
        "refused_count", "refused_fen", "pool_exhausted_on", "tracked", "reversed_invoices",
        "rejected", "claims_of", "draws_of", "claim_at", "unclaimed_facts")

    def __init__(self, data: YearData, policy: SimpleNamespace, *, growth_bp: int,
                 follow_cap: bool, include_unredeemed: bool, learn: bool):
        self.data, self.policy, self.year = data, policy, data.year
        self.follow_cap, self.include_unredeemed, self.learn = follow_cap, include_unredeemed, \
            learn
        self.choosing = learn or bool(data.named)  # a claim may draw on a named voucher only
        weighted = [subsidy.weighted_amount(data.lines(s, growth_bp), policy)
                    for s in range(len(data.shapes))]
        self.elig = eligibility(data, policy, growth_bp, weighted)
        self.dates: dict[int, date] = {}  # ordinal → date, memoised
        self.inv_ent = data.inv_ent
        self.inv_net = array("q", bytes(8 * len(data.inv_total)))  # per invoice: granted
        self.ent_net = [0] * (len(data.enterprises) or 1)  # per enterprise: granted
        self.pool_left, self.cap = policy.pool_fen, policy.enterprise_cap_fen
        self.states, self.by_enterprise = voucher_states(data)
        self.usable: dict[int, tuple[int, list]] = {}  # enterprise → (day, usable vouchers)
        self.out = empty_outcome(data, include_unredeemed, weighted)
        self.granted, self.capped = self.out.granted, self.out.capped
        self.next_claim = self.granted_count = self.refused_count = self.refused_fen = 0
        self.pool_exhausted_on: date | None = None
        self.reversed_invoices, self.rejected = data.reversed_invoices, data.rejected
        self.tracked = bool(self.reversed_invoices or self.rejected)  # keep claims' draws
        self.claims_of: dict[int, list[int]] = defaultdict(list)  # reversed invoice → claims
        self.draws_of: dict[int, list] = {}  # claim → [(voucher state, amount)] to give back
        self.claim_at: dict[int, int] = {}  # rejected redemption event → its claim
        self.unclaimed_facts = iter(data.unclaimed)

    def walk(self) -> None:
        """Every event of the stream, in order, to its kind's handler (ISSUE … REJECT)."""
        handlers = (self.issue, self.revoke, self.reclaim, self.reversal, self.redemption,
                    self.unclaimed, self.reject)
        data = self.data
        _, ev_key = claim_keys(data)
        for e_idx, kind, ref, day, key in zip(itertools.count(), data.ev_kind, data.ev_ref,
                                              data.ev_day, ev_key):
            handlers[kind](e_idx, ref, day, key)

    def outcome(self) -> Outcome:
        out = self.out
        out.refused_count, out.refused_fen, out.granted_count = self.refused_count, \
            self.refused_fen, self.granted_count
        out.pool_exhausted_on, out.ent_net = self.pool_exhausted_on, self.ent_net
        return out

    def today(self, day: int) -> date:
        return self.dates.get(day) or self.dates.setdefault(day, date.fromordinal(day))

    # --- the handlers, one per event kind: (event index, invoice or voucher, day, key) ---

    def issue(self, e_idx: int, ref: int, day: int, key: int) -> None:
        self.states[ref].issued = True
        self.usable.pop(self.states[ref].enterprise, None)

    def revoke(self, e_idx: int, ref: int, day: int, key: int) -> None:
        voucher = self.states[ref]
        voucher.status = "revoked"
        voucher.balance_fen = 0  # returned to the pool
        self.usable.pop(voucher.enterprise, None)

    def reclaim(self, e_idx: int, ref: int, day: int, key: int) -> None:
        """What the bureau took back (the event's `paid` column), as far as the balance goes."""
        voucher = self.states[ref]
        voucher.balance_fen -= min(self.data.ev_paid[e_idx], voucher.balance_fen)
        self.usable.pop(voucher.enterprise, None)

    def unclaimed(self, e_idx: int, ref: int, day: int, key: int) -> None:
        """Demand never claimed: a claim when counted and it passes the refusals."""
        _, facts = next(self.unclaimed_facts)
        if self.include_unredeemed and _claimable(facts, self.policy, self.today(day)):
            self.redemption(e_idx, ref, day, key)

    def redemption(self, e_idx: int, ref: int, day: int, key: int) -> None:
        if self.include_unredeemed:  # the claim arrays grow as the stream goes
            self.open_claim(e_idx, ref, day)
        claim = self.next_claim
        self.next_claim = claim + 1
        left = self.elig[key] - self.inv_net[ref]
        if left <= 0:
            return  # nothing_to_redeem, or invoice_not_eligible
        e = self.inv_ent[ref]
        candidates = None
        if not self.follow_cap:
            if self.choosing and (self.learn or e_idx in self.data.named):
                candidates = self.chosen(e_idx, e, day, left)
            else:
                seen = self.usable.get(e)
                candidates = seen[1] if seen is not None and seen[0] == day else \
                    self.usable_on(e, day)
            if not candidates:
                return  # no_usable_voucher
            balance = candidates[0].balance_fen if len(candidates) == 1 else \
                sum(v.balance_fen for v in candidates)
            if balance < left:
                left = balance
        cap_left = self.cap - self.ent_net[e]
        if cap_left < left:
            self.capped.add(e)
            left = cap_left
        if left <= 0:
            return
        amount = left if left <= self.pool_left else self.pool_short(left, day)
        if amount == 0:
            return
        drawn = None
        if candidates is not None:
            drawn = draw_from(candidates, amount)
            for v, part in drawn:
                v.balance_fen -= part
                if v.balance_fen <= 0:  # exhausted: no longer usable
                    self.usable.pop(e, None)
        if self.tracked:
            self.track(claim, e_idx, ref, drawn)
        self.granted[claim] = amount
        self.granted_count += 1
        self.inv_net[ref] += amount
        self.ent_net[e] += amount
        self.pool_left -= amount

    def reversal(self, e_idx: int, ref: int, day: int, key: int) -> None:
        """The excess over the invoice's eligible subsidy taken back, newest claim first."""
        excess = self.inv_net[ref] - self.elig[key]
        granted, e = self.granted, self.inv_ent[ref]
        for claim in reversed(self.claims_of[ref] if excess > 0 else ()):
            if excess == 0:
                break
            part = min(excess, granted[claim])
            if part > 0:
                self.take_back(claim, e, ref, part, day)
                excess -= part

    def reject(self, e_idx: int, ref: int, day: int, key: int) -> None:
        """The whole grant taken back, as restore.give_back_to_vouchers does."""
        claim = self.claim_at.get(self.data.reject_of[e_idx])
        part = self.granted[claim] if claim is not None else 0
        if part > 0:
            self.take_back(claim, self.inv_ent[ref], ref, part, day)

    # --- what the handlers share ---

    def open_claim(self, e_idx: int, ref: int, day: int) -> None:
        out = self.out
        out.granted.append(0)
        out.claim_event.append(e_idx)
        out.claim_invoice.append(ref)
        out.claim_day.append(day)

    def usable_now(self, e: int, today: date) -> list[VoucherState]:
        """The enterprise's vouchers usable today, in draw order."""
        year, unusable_reason = self.year, vouchers.unusable_reason
        return [v for v in self.by_enterprise.get(e, ()) if v.issued
                and unusable_reason(v, today, year) is None]

    def usable_on(self, e: int, day: int) -> list[VoucherState]:
        """usable_now, kept for the rest of the day until one of them changes."""
        candidates = self.usable_now(e, self.today(day))
        self.usable[e] = (day, candidates)
        return candidates

    def chosen(self, e_idx: int, e: int, day: int, left: int) -> list[VoucherState]:
        """A claim's candidates when it may have named its voucher: the named one only, or (when
        learning) what it drew on, named where draw order would not have picked it alone."""
        today = self.today(day)
        named = self.data.named
        chosen = named.get(e_idx)
        if chosen is None:  # learning
            candidates = self.usable_now(e, today)
            if e_idx not in self.data.single_draw:
                return candidates
            chosen, drawn_fen = self.data.single_draw[e_idx]
            auto = draw_from(candidates, min(left, sum(v.balance_fen for v in candidates)))
            if len(auto) == 1 and auto[0][0] is self.states[chosen] and auto[0][1] == drawn_fen:
                return candidates  # picked by draw order, as a real one would
            named[e_idx] = chosen
        v = self.states[chosen]
        return [v] if v.issued and vouchers.unusable_reason(v, today, self.year) is None else []

    def pool_short(self, left: int, day: int) -> int:
        """The pool cannot pay `left` in full: what it can (≥ 0), the rest refused."""
        amount = self.pool_left if self.pool_left > 0 else 0
        self.refused_count += 1
        self.refused_fen += left - amount
        if self.pool_exhausted_on is None:
            self.pool_exhausted_on = date.fromordinal(day)
        return amount

    def track(self, claim: int, e_idx: int, ref: int, drawn: list | None) -> None:
        """Keep what a later reversal or rejection may take back from the claim."""
        on_reversed, on_rejected = ref in self.reversed_invoices, e_idx in self.rejected
        if drawn is not None and (on_reversed or on_rejected):
            self.draws_of[claim] = drawn
        if on_reversed:
            self.claims_of[ref].append(claim)
        if on_rejected:
            self.claim_at[e_idx] = claim

    def take_back(self, claim: int, e: int, ref: int, part: int, day: int) -> None:
        """`part` of a claim's grant back to the invoice, enterprise and pool, and (vouchers as
        issued) to the vouchers it drew on."""
        self.granted[claim] -= part
        self.inv_net[ref] -= part
        self.ent_net[e] -= part
        self.pool_left += part
        if not self.follow_cap:
            _give_back(self.draws_of.get(claim, []), part, self.today(day))
            self.usable.pop(e, None)


def _give_back(drawn: list, amount: int, today: date) -> None:
    """The drawn amount back to the vouchers, last drawn first (redemptions/restore.py, as the
    write path does); a voucher revoked or expired by then passes it to the pool."""
    for i, back in give_back_parts([part for _, part in drawn], amount):
        v, part = drawn[i]
        drawn[i] = (v, part - back)
        if vouchers.display_status(v, today) not in ("revoked", "expired"):
            v.balance_fen += back


def _claimable(facts: Any, policy: SimpleNamespace, today: date) -> bool:
    """An unclaimed invoice passes the refusals a redemption would check (redeem.py 5–9)."""
    invoice = SimpleNamespace(credit_blocked=bool(facts.credit_blocked),
                              other_programme=facts.other_programme,
                              provider_name=facts.provider_name, related=bool(facts.related),
                              enterprise_uscc=facts.enterprise_uscc,
                              provider_uscc=facts.provider_uscc, issued_on=None,
                              provider_id=None,  # named in provider_not_approved's sentence
                              service_start=None, service_end=None)
    policy_open = SimpleNamespace(**{**vars(policy), "redemption_deadline": date.max})
    try:
        _refuse_parties(invoice, policy_open, bool(facts.approved), today)
    except DomainError:
        return False
    return True


def _refuse_parties(invoice: Any, policy: Any, approved: bool, today: date) -> None:
    # refuse_by_policy's last check reads the invoice's dates; the replay's formula applies
    # eligible_from and the service period itself, so the dates given here always pass.
    invoice.issued_on = date.max
    invoice.service_start, invoice.service_end = date(policy.year, 1, 1), date(policy.year, 12, 31)
    refuse_by_policy(invoice, policy, approved, today)
