"""The order of the redemption refusals (service/redemptions/redeem.py, its numbered list; PRODUCT.md
§3.5 and §4), pinned two at a time over the real HTTP API.

Each refusal condition is a small function that puts a scene into its state. For every pair
(i, j) with i earlier in the list than j, both are applied to one world and POST /v1/redemptions
must answer with refusal i — its status, its code, and, where i and j share a code, its detail —
and write nothing (redemption, redemption_draw, ledger_transfer and audit_event rows unchanged).
Pairs that cannot coexist are listed in IMPOSSIBLE with the reason (and reported as skipped);
pairs that cannot be set up without an earlier refusal holding too are listed in IMPLIES and
expect that one. None is left out silently. Each condition is also checked alone, detail
included, so a pair cannot pass because one of its conditions was never really set up.

A scene is built in stages, so that two conditions compose whatever their order: the year's
policy (before any voucher is issued), the invoice asked about, the vouchers, then the bureau's
changes (credit block, claims, approvals, related parties), and last the calendar (a passed
deadline, a closed year).

Speed: a world costs a dozen requests, and on PostgreSQL a fresh database per test costs as much
again, so one test checks one condition alone and then against every later one, building a world
per case in the same database. Each world has a budget year of its own (2030, 2033, ...; its
"other year" is the one before, and the year after is never created, for "no year covers it"),
so worlds never see each other's policy, calendar or closing. Every case of a test is run and
all failures are reported together.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest
from sqlalchemy import text

from service.kit import ids
from tests.flows import World, invoice_body, line, make_world

FIRST_YEAR, YEAR_STEP = 2030, 3  # years stay within the API's 2000..2100


@dataclass
class Named:
    """The voucher the request names: whose, which year, in what state, or none at all."""

    owner: str = "self"  # "self" | "other" (another enterprise)
    other_year: bool = False
    state: str = "active"  # active | revoked | exhausted | not_yet_valid
    exists: bool = True


@dataclass
class Scene:
    """What the conditions ask for; `build` turns it into a world of year `y` and a request."""

    api: Any
    today: Callable[[str], None]
    y: int
    provider: dict  # the test's provider and its key, shared by its worlds once the first made them
    policy: dict = field(default_factory=dict)  # of year y, fixed before any voucher exists
    invoice_fields: dict = field(default_factory=dict)
    paid: bool = True
    invoice_owner: str = "self"
    named: Named | None = None
    revoke_all: bool = False  # every voucher of the enterprise for year y
    other_year: bool = False  # year y-1 exists and the provider is approved for it
    bureau: list = field(default_factory=list)  # changes once invoice and vouchers exist
    calendar: list = field(default_factory=list)  # last of all
    # filled in by build
    world: World | None = None
    other: dict | None = None  # another enterprise
    other_key: dict | None = None
    invoice: dict | None = None
    mine: list = field(default_factory=list)  # ids of the enterprise's vouchers for year y

    @property
    def day(self) -> str:  # the business day of the scene until a condition moves it
        return f"{self.y}-06-15"

    def name(self) -> Named:
        self.named = self.named or Named()
        return self.named

    # --- build -----------------------------------------------------------------------------

    def build(self) -> dict:
        api, y = self.api, self.y
        self.today(self.day)
        if not self.provider:  # the first world of the test
            w = make_world(api, year=y, **self.policy)
            self.provider.update(provider=w.provider, prov=w.prov)
        else:  # its provider again (two requests less), approved for this world's year
            enterprise = api.enterprise()
            w = World(api=api, year=api.year(y, **self.policy), enterprise=enterprise,
                      ent=api.enterprise_key(enterprise["id"]), **self.provider)
            api.approve_provider(w.provider["id"], y)
        self.world = w
        if self.other_year or (self.named and self.named.other_year):
            api.year(y - 1, redemption_deadline=f"{y + 1}-01-31")
            api.approve_provider(w.provider["id"], y - 1)
        if self.invoice_owner == "other" or (self.named and self.named.owner == "other"):
            self.other = api.enterprise()
            self.other_key = api.enterprise_key(self.other["id"])
        self.mine.append(w.voucher(1_000_000)["id"])  # usable, unless a condition says not
        owner = self.other if self.invoice_owner == "other" else w.enterprise
        fields = {"start": f"{y}-04-01", "end": f"{y}-04-30", "issued_on": f"{y}-04-30",
                  **self.invoice_fields}
        self.invoice = self.post_invoice(owner, [line("gpu", 100_000)], paid=self.paid, **fields)
        body = {"invoice_id": self.invoice["id"]}
        if self.named is not None:
            body["voucher_id"] = self.named_voucher(self.named)
        if self.revoke_all:
            for voucher_id in self.mine:
                self.revoke(voucher_id)
        for change in self.bureau + self.calendar:
            change(self)
        return body

    def post_invoice(self, enterprise: dict, lines: list, *, paid: bool = True,
                     **fields) -> dict:
        w = self.world
        invoice = w.api.ok("POST", "/v1/invoices", headers=w.prov, expect=201,
                           json=invoice_body(enterprise["uscc"], lines, **fields))
        if paid:
            invoice = w.pay(invoice["id"], invoice["total_fen"], paid_on=f"{self.y}-05-10")
        return invoice

    def named_voucher(self, spec: Named) -> str:
        if not spec.exists:
            assert spec == Named(exists=False), spec
            return ids.new_id("vch")  # well formed, never issued
        owner = self.other if spec.owner == "other" else self.world.enterprise
        year = self.y - 1 if spec.other_year else self.y
        face = 30_000 if spec.state == "exhausted" else 1_000_000
        if spec.state == "not_yet_valid":  # valid from the day it is issued: issue it later
            self.today(f"{self.y}-07-01")
        voucher = self.api.voucher(owner["id"], face, year=year)
        self.today(self.day)
        if (spec.owner, year) == ("self", self.y):
            self.mine.append(voucher["id"])
        if spec.state == "revoked":
            self.revoke(voucher["id"])
        elif spec.state == "exhausted":  # its owner spends it whole on an invoice of its year
            key = self.other_key if spec.owner == "other" else self.world.ent
            spend = self.post_invoice(owner, [line("gpu", 100_000)],
                                      start=f"{year}-05-01", end=f"{year}-05-31")
            r = self.api.client.post("/v1/redemptions", headers=key,
                                     json={"invoice_id": spend["id"], "voucher_id": voucher["id"]})
            assert r.status_code == 201, r.text
            assert self.api.ok("GET", f"/v1/vouchers/{voucher['id']}")["status"] == "exhausted"
        return voucher["id"]

    def revoke(self, voucher_id: str) -> None:
        self.api.ok("POST", f"/v1/vouchers/{voucher_id}/revoke", json={"reason": "撤销"})


# --- the conditions, in the docstring's order -----------------------------------------------

def invoice_of_another_enterprise(s: Scene) -> None:
    s.invoice_owner = "other"


def named_voucher_missing(s: Scene) -> None:
    s.name().exists = False


def named_voucher_of_another_enterprise(s: Scene) -> None:
    s.name().owner = "other"


def named_voucher_of_another_year(s: Scene) -> None:
    s.name().other_year = True


def no_year_covers_the_service(s: Scene) -> None:
    # still issued on y-04-30, so "dated before eligible_from" of year y can hold as well
    s.invoice_fields.update(start=f"{s.y + 1}-01-01", end=f"{s.y + 1}-01-31")


def deadline_passed(s: Scene) -> None:
    s.calendar.append(lambda s: s.today(f"{s.y + 1}-02-01"))  # the deadline is y+1-01-31


def year_closed(s: Scene) -> None:
    def close(s: Scene) -> None:
        s.today(f"{s.y + 1}-02-01")
        s.api.ok("POST", f"/v1/years/{s.y}/close", json={})
        assert s.api.ok("GET", f"/v1/years/{s.y}")["status"] == "closed"
    s.calendar.append(close)


def credit_blocked(s: Scene) -> None:
    s.bureau.append(lambda s: s.api.ok("PATCH", f"/v1/enterprises/{s.world.enterprise['id']}",
                                       json={"credit_blocked": True}))


def claimed_under_another_programme(s: Scene) -> None:
    s.bureau.append(lambda s: s.api.ok("POST", "/v1/other-subsidies", expect=201, json={
        "enterprise_id": s.invoice["enterprise_id"], "programme": "省级算力补贴",
        "invoice_number": s.invoice["invoice_number"], "amount_fen": 10_000}))


def provider_not_approved(s: Scene) -> None:
    s.other_year = True  # approved for year y-1 only
    s.bureau.append(lambda s: s.api.ok(
        "PUT", f"/v1/years/{s.y}/approved-providers/{s.world.provider['id']}",
        json={"approved": False}))


def related_parties(s: Scene) -> None:
    s.bureau.append(lambda s: s.api.ok("POST", "/v1/related-parties", expect=201, json={
        "enterprise_id": s.invoice["enterprise_id"], "provider_id": s.world.provider["id"],
        "reason": "同一控股股东"}))


def issued_before_eligible_from(s: Scene) -> None:
    s.policy["eligible_from"] = f"{s.y}-05-01"  # the invoice is issued on y-04-30


def named_voucher_revoked(s: Scene) -> None:
    s.name().state = "revoked"


def named_voucher_exhausted(s: Scene) -> None:
    s.name().state = "exhausted"


def named_voucher_not_yet_valid(s: Scene) -> None:
    s.name().state = "not_yet_valid"


def every_voucher_unusable(s: Scene) -> None:
    s.revoke_all = True


def nothing_left_on_the_invoice(s: Scene) -> None:
    s.paid = False


class Refusal(NamedTuple):
    rank: int  # its number in the docstring's list
    setup: Callable[[Scene], None]
    status: int
    code: str
    says: str  # a fragment of its detail, to tell refusals with one code apart

    @property
    def name(self) -> str:
        return self.setup.__name__

    def __str__(self) -> str:
        return f"{self.rank}.{self.name}"


CONDITIONS = [
    Refusal(1, invoice_of_another_enterprise, 404, "not_found", "no invoice"),
    Refusal(1, named_voucher_missing, 404, "not_found", "no voucher"),
    Refusal(2, named_voucher_of_another_enterprise, 409, "no_usable_voucher", "is not yours"),
    Refusal(2, named_voucher_of_another_year, 409, "no_usable_voucher",
            "a year the invoice's service period does not fall in"),
    Refusal(3, no_year_covers_the_service, 409, "invoice_not_eligible", "no budget year covers"),
    Refusal(4, deadline_passed, 409, "year_closed", "closed for redemptions"),
    Refusal(4, year_closed, 409, "year_closed", "closed for redemptions"),
    Refusal(5, credit_blocked, 409, "credit_blocked", "credit-blocked"),
    Refusal(6, claimed_under_another_programme, 409, "other_subsidy", "省级算力补贴"),
    Refusal(7, provider_not_approved, 409, "provider_not_approved", "is not approved for"),
    Refusal(8, related_parties, 409, "related_party", "related parties"),
    Refusal(9, issued_before_eligible_from, 409, "invoice_not_eligible", "dated before"),
    Refusal(10, named_voucher_revoked, 409, "no_usable_voucher", "is revoked"),
    Refusal(10, named_voucher_exhausted, 409, "no_usable_voucher", "is exhausted"),
    Refusal(10, named_voucher_not_yet_valid, 409, "no_usable_voucher", "is valid only from"),
    Refusal(10, every_voucher_unusable, 409, "no_usable_voucher", "no usable voucher for"),
    Refusal(11, nothing_left_on_the_invoice, 409, "nothing_to_redeem", "no eligible subsidy"),
]
BY_NAME = {c.name: c for c in CONDITIONS}
assert all(a.rank <= b.rank for a, b in zip(CONDITIONS, CONDITIONS[1:]))
PAIRS = [(a, b) for a, b in itertools.combinations(CONDITIONS, 2) if a.rank < b.rank]

# Pairs that cannot be set up at all: skipped, each with its reason.
_NO_STATE = "a voucher that does not exist has no state (every_voucher_unusable pairs with it)"
IMPOSSIBLE = {
    ("named_voucher_missing", "named_voucher_of_another_enterprise"):
        "the named voucher cannot both not exist and be another enterprise's",
    ("named_voucher_missing", "named_voucher_of_another_year"):
        "the named voucher cannot both not exist and belong to another year",
    ("named_voucher_missing", "named_voucher_revoked"): _NO_STATE,
    ("named_voucher_missing", "named_voucher_exhausted"): _NO_STATE,
    ("named_voucher_missing", "named_voucher_not_yet_valid"): _NO_STATE,
}
# Pairs that cannot be set up without an earlier condition holding too: that one must win.
_NAMED_OUTSIDE = ("when no budget year covers the service period, a named voucher's year is "
                  "one the period does not fall in: refusal 2 holds as well")
IMPLIES = {
    ("no_year_covers_the_service", "named_voucher_revoked"):
        ("named_voucher_of_another_year", _NAMED_OUTSIDE),
    ("no_year_covers_the_service", "named_voucher_exhausted"):
        ("named_voucher_of_another_year", _NAMED_OUTSIDE),
    ("no_year_covers_the_service", "named_voucher_not_yet_valid"):
        ("named_voucher_of_another_year", _NAMED_OUTSIDE),
}
_pair_names = {(a.name, b.name) for a, b in PAIRS}
assert set(IMPOSSIBLE) <= _pair_names and set(IMPLIES) <= _pair_names


def counts(engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in
                     ("redemption", "redemption_draw", "ledger_transfer", "audit_event"))


def check(api, today, y: int, provider: dict, conditions: tuple[Refusal, ...], wanted: Refusal,
          check_detail: bool) -> str | None:
    """Build one world with the conditions, redeem, and say what went wrong (None: nothing)."""
    scene = Scene(api, today, y, provider)
    for condition in conditions:
        condition.setup(scene)
    body = scene.build()
    before = counts(api.engine)
    r = api.client.post("/v1/redemptions", headers=scene.world.ent, json=body)
    problem = r.json()
    case = " + ".join(map(str, conditions))
    if (r.status_code, problem.get("code")) != (wanted.status, wanted.code):
        return (f"{case}: wanted {wanted.status} {wanted.code} ({wanted}), the service "
                f"answered {r.status_code} {problem.get('code')}: {problem.get('detail')}")
    if check_detail and wanted.says not in problem["detail"]:
        return f"{case}: wanted {wanted} ({wanted.says!r}), detail {problem['detail']!r}"
    if counts(api.engine) != before:
        return f"{case}: the refused redemption wrote something"
    return None


def cases_of(first: Refusal) -> list[tuple[tuple[Refusal, ...], Refusal, bool]]:
    """The condition alone, then with each later one: (conditions, the answer, check detail)."""
    cases = [((first,), first, True)]
    for a, b in PAIRS:
        if a is not first or (a.name, b.name) in IMPOSSIBLE:
            continue
        implied = IMPLIES.get((a.name, b.name))
        if implied:
            cases.append(((a, b), BY_NAME[implied[0]], True))
        else:
            cases.append(((a, b), a, a.code == b.code))
    return cases


@pytest.mark.parametrize("first", CONDITIONS, ids=str)
def test_earlier_refusal_wins(api, today, first):
    """`first` alone gives its refusal, and so it does with every later condition."""
    cases = cases_of(first)
    assert FIRST_YEAR + YEAR_STEP * len(cases) <= 2100
    provider: dict = {}
    failures = [failure for n, (conditions, wanted, detail) in enumerate(cases)
                if (failure := check(api, today, FIRST_YEAR + YEAR_STEP * n, provider,
                                     conditions, wanted, detail))]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("pair", [pytest.param(p, marks=pytest.mark.skip(
    reason=f"cannot coexist: {why}"), id="+".join(p)) for p, why in IMPOSSIBLE.items()])
def test_impossible_pairs_are_listed(pair):
    """Shown as skipped, with the reason, so that no pair of the list goes unmentioned."""


# --- holds (docs/holds.md): the same refusals, in the same order --------------------------------
#
# A hold (POST /v1/holds, in a deduction-mode year) is decided by the redemption's own rules, so
# the conditions that can apply to a quote must refuse it as they refuse a redemption. A hold
# always names its voucher and has no invoice yet, so refusals 1 (an invoice), 6 (claimed by
# invoice number), 9 (the quote is issued today), the unnamed 10 and 11 (an unpaid invoice) are
# not among them. Each condition is checked alone, detail included, and with the next condition
# of a later rank (pinned two at a time, the chain covering the list), nothing written.

HOLD_SAYS = {"named_voucher_of_another_enterprise": "not this enterprise's"}
HOLD_CONDITIONS = [c for c in CONDITIONS if c.name in {
    "named_voucher_of_another_enterprise", "named_voucher_of_another_year", "deadline_passed",
    "year_closed", "credit_blocked", "provider_not_approved", "related_parties",
    "named_voucher_revoked", "named_voucher_exhausted", "named_voucher_not_yet_valid"}]


def hold_cases(first: Refusal) -> list[tuple[tuple[Refusal, ...], Refusal]]:
    later = [c for c in HOLD_CONDITIONS if c.rank > first.rank]
    nxt = [c for c in later if c.rank == later[0].rank] if later else []
    return [((first,), first)] + [((first, b), first) for b in nxt
                                  if (first.name, b.name) not in IMPOSSIBLE]


def hold_counts(engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return counts(engine) + (conn.execute(text("SELECT count(*) FROM hold")).scalar(),)


@pytest.mark.parametrize("first", HOLD_CONDITIONS, ids=str)
def test_a_hold_refuses_in_the_redemptions_order(api, today, first):
    provider: dict = {}
    failures = []
    for n, (conditions, wanted) in enumerate(hold_cases(first)):
        scene = Scene(api, today, FIRST_YEAR + YEAR_STEP * n, provider,
                      policy={"settlement_mode": "deduction"})
        for condition in conditions:
            condition.setup(scene)
        body = scene.build()
        code = api.ok("GET", f"/v1/vouchers/{body.get('voucher_id') or scene.mine[0]}")["code"]
        before = hold_counts(api.engine)
        r = api.client.post("/v1/holds", headers=scene.world.prov, json={
            "voucher_code": code, "enterprise_uscc": scene.world.enterprise["uscc"],
            "year": scene.y, "service_start": f"{scene.y}-04-01",
            "service_end": f"{scene.y}-04-30",
            "lines": [{"category": "gpu", "amount_fen": 100_000}]})
        problem, case = r.json(), " + ".join(map(str, conditions))
        says = HOLD_SAYS.get(wanted.name, wanted.says)
        if (r.status_code, problem.get("code")) != (wanted.status, wanted.code):
            failures.append(f"{case}: wanted {wanted.code}, got {r.status_code} "
                            f"{problem.get('code')}: {problem.get('detail')}")
        elif len(conditions) == 1 and says not in problem["detail"]:
            failures.append(f"{case}: wanted {says!r}, detail {problem['detail']!r}")
        elif hold_counts(api.engine) != before:
            failures.append(f"{case}: the refused hold wrote something")
    assert not failures, "\n".join(failures)
