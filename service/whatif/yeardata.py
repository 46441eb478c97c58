"""A loaded year for the what-if replay (docs/what-if.md): the event kinds, the year's claims
and events in compact arrays (`YearData`), the vouchers as the replay moves them, and what is
derived from the arrays once per loaded year. Filled by the generic loader (replay.py) and the
PostgreSQL loader (pgload.py); read by the replay and the compare."""

from __future__ import annotations

import bisect
import itertools
import operator
from array import array
from dataclasses import dataclass, field
from typing import Any

from service.years.models import CATEGORIES

# Event kinds, in the order they sort at one instant. RECLAIM: the bureau's mid-year reclaim
# of idle voucher balance (years/closing.py), amount in the event's `sub` column. REJECT: a
# held redemption rejected by its reviewers (service/risk/reviews.py), at the decision's time.
ISSUE, REVOKE, RECLAIM, REVERSAL, REDEMPTION, UNCLAIMED, REJECT = 0, 1, 2, 3, 4, 5, 6


class Index(dict):
    """A value's index, given in order of first sight (map(index.__getitem__, ...))."""

    def __missing__(self, key: Any) -> int:
        value = self[key] = len(self)
        return value


class VoucherState:
    """A voucher as the rules read it (status, year, balance, validity), at one moment of the
    replay: `vouchers.unusable_reason` and `vouchers.draw_order` take it like a Voucher."""

    __slots__ = ("id", "enterprise", "year", "status", "balance_fen", "face_fen", "valid_from",
                 "valid_until", "created_at", "issued")

    def __init__(self, row: Any, enterprise: int):
        self.id, self.enterprise, self.year = row.id, enterprise, row.year
        self.face_fen, self.valid_from, self.valid_until = row.face_fen, row.valid_from, \
            row.valid_until
        self.created_at = row.created_at
        self.status, self.balance_fen, self.issued = "active", row.face_fen, False


@dataclass
class YearData:
    """The year's claims and events in compact arrays, shared by every scenario of a compare."""

    year: int
    policy: dict
    enterprises: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    inv_ent: array = field(default_factory=lambda: array("l"))
    inv_prov: array = field(default_factory=lambda: array("l"))
    inv_issued: array = field(default_factory=lambda: array("l"))
    inv_overlap: array = field(default_factory=lambda: array("l"))
    inv_days: array = field(default_factory=lambda: array("l"))
    inv_total: array = field(default_factory=lambda: array("q"))
    inv_shape: array = field(default_factory=lambda: array("l"))
    ev_kind: array = field(default_factory=lambda: array("b"))
    ev_ref: array = field(default_factory=lambda: array("l"))  # invoice, or voucher for 0/1
    ev_day: array = field(default_factory=lambda: array("l"))
    ev_paid: array = field(default_factory=lambda: array("q"))
    ev_rev: array = field(default_factory=lambda: array("q"))
    actual: array = field(default_factory=lambda: array("q"))  # per redemption: net subsidy
    vouchers: list = field(default_factory=list)
    # A redemption that named its voucher drew only on it (redeem.py, refusal 10). Where an
    # enterprise holds several vouchers, its single-draw redemptions (event index → (voucher,
    # subsidy drawn)) are replayed once under the actual policy: those auto-picking would not
    # have drawn as they did were named, and replay on that voucher only (`named`).
    single_draw: dict = field(default_factory=dict)
    named: dict = field(default_factory=dict)
    reversed_invoices: set = field(default_factory=set)
    # REJECT event index → the REDEMPTION event index it rejects; those redemption events.
    reject_of: dict = field(default_factory=dict)
    rejected: set = field(default_factory=set)
    unclaimed: list = field(default_factory=list)  # (facts, invoice index) of UNCLAIMED events
    claims: int = 0  # number of REDEMPTION events
    # Computed once, on first use: redemption_claims, invoice_classes.
    rd_event: array | None = None
    rd_invoice: array | None = None
    rd_day: array | None = None
    rd_ent: array | None = None
    inv_class: array | None = None
    rd_days: list | None = None
    ev_keys: tuple | None = None

    def lines(self, shape: int, growth_bp: int = 0) -> list[tuple[str, int]]:
        return [(c, grow(a, growth_bp)) for c, a in zip(CATEGORIES, self.shapes[shape]) if a]


def grow(amount: int, growth_bp: int) -> int:
    """invoice_growth_bp: every amount scaled by (10000 + g) / 10000, rounded down."""
    return amount if not growth_bp else amount * (10_000 + growth_bp) // 10_000


def redemption_claims(data: YearData) -> tuple[array, array, array, array]:
    """The REDEMPTION events' indices, invoices, days and enterprises: the claims of every
    scenario that leaves the unredeemed demand out (computed once per loaded year)."""
    if data.rd_event is None:
        kinds, refs, days, inv_ent = data.ev_kind, data.ev_ref, data.ev_day, data.inv_ent
        events = array("l", itertools.compress(range(len(kinds)),
                                                map(REDEMPTION.__eq__, kinds)))
        invoices = array("l", map(refs.__getitem__, events))
        data.rd_event, data.rd_invoice = events, invoices
        data.rd_day = array("l", map(days.__getitem__, events))
        data.rd_ent = array("l", map(inv_ent.__getitem__, invoices))
    return data.rd_event, data.rd_invoice, data.rd_day, data.rd_ent


def day_slices(data: YearData) -> list[tuple[int, int, int]]:
    """The redemption claims' days as (day, first, end) slices of the claims, in day order
    (the stream is in time order, so each day's claims are contiguous; if they were not, one
    slice per claim, still exact). Computed once per loaded year."""
    if data.rd_days is None:
        _, _, days, _ = redemption_claims(data)
        if all(map(operator.le, days, itertools.islice(days, 1, None))):
            data.rd_days = [(day, bisect.bisect_left(days, day), bisect.bisect_right(days, day))
                            for day in sorted(set(days))]
        else:
            data.rd_days = [(day, i, i + 1) for i, day in enumerate(days)]
    return data.rd_days


def invoice_classes(data: YearData) -> array:
    """Per invoice, the index of its (issue date, total, line shape, service days in the year
    and in all): what the eligible subsidy reads of the invoice besides its paid and reversed
    amounts. The live formula runs once per class and amounts in a scenario."""
    if data.inv_class is None:
        data.inv_class = array("l", map(Index().__getitem__, zip(
            data.inv_issued, data.inv_total, data.inv_shape, data.inv_overlap, data.inv_days)))
    return data.inv_class


def claim_keys(data: YearData) -> tuple[list[tuple[int, int, int]], array]:
    """The distinct (invoice class, paid, reversed) of the stream's claims and reversals, each
    as (an invoice of that class, paid, reversed), and per event the index of its own (0 for
    the events that decide nothing on an invoice): a scenario asks the live formula once per
    distinct one. Computed once per loaded year."""
    if data.ev_keys is None:
        inv_class = invoice_classes(data)
        index = Index()
        ev_key = array("l", bytes(array("l").itemsize * len(data.ev_kind)))
        rd_event, rd_invoice, _, _ = redemption_claims(data)
        paid, rvd = data.ev_paid, data.ev_rev
        for e, k in zip(rd_event, map(index.__getitem__, zip(
                map(inv_class.__getitem__, rd_invoice), map(paid.__getitem__, rd_event),
                map(rvd.__getitem__, rd_event)))):
            ev_key[e] = k
        refs = data.ev_ref
        for e in itertools.compress(range(len(ev_key)), map(
                frozenset((UNCLAIMED, REVERSAL)).__contains__, data.ev_kind)):
            ev_key[e] = index[inv_class[refs[e]], paid[e], rvd[e]]
        data.ev_keys = (key_list(data, index), ev_key)
    return data.ev_keys


def key_list(data: YearData, index: dict) -> list[tuple[int, int, int]]:
    """claim_keys' (class, paid, reversed) keys, in index order, as (an invoice of the class,
    paid, reversed): what the formula is asked with."""
    inv_class = invoice_classes(data)
    first = dict(zip(reversed(inv_class), range(len(inv_class) - 1, -1, -1)))
    return [(first[c], p, r) for c, p, r in index]
