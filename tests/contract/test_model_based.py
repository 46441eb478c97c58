"""Model-based test (TigerBeetle / Blnk style): Hypothesis drives random sequences of the real
API against a small in-test model, and after every step checks the invariants and that the
model and the service agree to the fen. A refused call must change nothing.

Runs on PostgreSQL with a bounded number of examples in CI; set MODEL_EXAMPLES (and optionally
MODEL_STEPS) for a longer run, e.g. MODEL_EXAMPLES=500 make test PYTEST_ARGS=-ktest_model.
"""

import itertools
import os
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from service.kit import clock
from service.app import create_app
from tests.conftest import reset_postgres
from tests.factories import Api
from tests.flows import invoice_body, line
from tests.inprocess import InProcessClient

POOL = 3_000_000
CAP = 1_200_000
EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "6"))
STEPS = int(os.environ.get("MODEL_STEPS", "20"))
_numbers = itertools.count(1)


@dataclass
class MVoucher:
    id: str
    enterprise: int
    face: int
    balance: int
    returned: int = 0
    status: str = "active"


@dataclass
class MRedemption:
    id: str
    invoice: str
    draws: list  # [voucher index, amount, restored]
    net: int
    settled: bool = False


@dataclass
class MInvoice:
    id: str
    enterprise: int
    gpu: int
    total: int
    paid: int = 0
    reversed: int = 0
    redemptions: list = field(default_factory=list)

    def eligible(self) -> int:
        net = self.total - self.reversed
        if self.total == 0 or net <= 0:
            return 0
        return self.gpu * 3000 * min(self.paid, net) // (10_000 * self.total)

    def redeemed(self, model) -> int:
        return sum(model.redemptions[r].net for r in self.redemptions)


class VoucherMachine(RuleBasedStateMachine):
    engine = None  # set by the test

    @initialize()
    def setup(self):
        reset_postgres(self.engine)
        self.client = InProcessClient(create_app(self.engine), raise_server_exceptions=False)
        self.api = Api(self.client, self.engine)
        self.api.year(2026, pool_fen=POOL, enterprise_cap_fen=CAP)
        self.enterprises = [self.api.enterprise() for _ in range(2)]
        self.ent_keys = [self.api.enterprise_key(e["id"]) for e in self.enterprises]
        self.providers = [self.api.provider() for _ in range(2)]
        for p in self.providers:
            self.api.approve_provider(p["id"])
        self.prov_keys = [self.api.provider_key(p["id"]) for p in self.providers]
        self.vouchers: list[MVoucher] = []
        self.invoices: list[MInvoice] = []
        self.redemptions: dict[str, MRedemption] = {}
        self.payable = 0
        self.paid = 0
        self.owed = 0
        self.closed = False

    # --- helpers -------------------------------------------------------------------------

    def balances(self) -> dict:
        with self.engine.connect() as conn:
            return dict(conn.execute(text(
                "SELECT code, credits_posted_fen - debits_posted_fen FROM ledger_account")).all())

    def call(self, method, path, headers, body=None):
        before = self.balances()
        r = self.client.request(method, path, headers=headers, json=body)
        assert r.status_code < 500, r.text
        if r.status_code >= 400:
            assert self.balances() == before, f"refused {path} changed balances"
        return r

    def reserved(self, enterprise: int) -> int:
        return sum(v.face - v.returned for v in self.vouchers if v.enterprise == enterprise)

    # --- rules ---------------------------------------------------------------------------

    @rule(enterprise=st.integers(0, 1), face=st.integers(1, 900_000))
    def issue(self, enterprise, face):
        r = self.call("POST", "/v1/vouchers", self.api.admin,
                      {"enterprise_id": self.enterprises[enterprise]["id"], "year": 2026,
                       "face_fen": face})
        net_issued = sum(v.face - v.returned for v in self.vouchers)
        if self.closed:
            assert r.json()["code"] == "year_closed"
        elif self.reserved(enterprise) + face > CAP:
            assert r.json()["code"] == "enterprise_cap_exceeded"
        elif net_issued + face > POOL:
            assert r.json()["code"] == "pool_exhausted"
        else:
            assert r.status_code == 201, r.text
            self.vouchers.append(MVoucher(r.json()["id"], enterprise, face, face))

    @precondition(lambda self: self.vouchers)
    @rule(data=st.data())
    def revoke(self, data):
        v = data.draw(st.sampled_from(self.vouchers))
        r = self.call("POST", f"/v1/vouchers/{v.id}/revoke", self.api.admin, {})
        if self.closed:
            assert r.status_code == 409
        elif v.status == "revoked":
            assert r.json()["code"] == "invalid_state"
        else:
            assert r.status_code == 200, r.text
            v.returned += v.balance
            v.balance = 0
            v.status = "revoked"

    @rule(enterprise=st.integers(0, 1), provider=st.integers(0, 1),
          gpu=st.integers(0, 3_000_000), storage=st.integers(0, 200_000),
          paid_share=st.sampled_from([0, 1, 2, 4]))
    def post_invoice(self, enterprise, provider, gpu, storage, paid_share):
        lines = [line("gpu", gpu)] + ([line("storage", storage)] if storage else [])
        body = invoice_body(self.enterprises[enterprise]["uscc"], lines)
        r = self.call("POST", "/v1/invoices", self.prov_keys[provider], body)
        if self.closed:
            assert r.json()["code"] == "year_closed"
            return
        assert r.status_code == 201, r.text
        inv = MInvoice(r.json()["id"], enterprise, gpu, gpu + storage)
        inv.provider = provider
        self.invoices.append(inv)
        amount = inv.total * paid_share // 4
        if amount:
            self._pay(inv, amount)

    def _pay(self, inv: MInvoice, amount: int):
        r = self.call("POST", f"/v1/invoices/{inv.id}/payments", self.prov_keys[inv.provider],
                      {"amount_fen": amount, "paid_on": "2026-05-01"})
        if inv.paid + amount > inv.total - inv.reversed:
            assert r.json()["code"] == "payment_exceeds_total"
        else:
            assert r.status_code == 201, r.text
            inv.paid += amount
            assert r.json()["eligible_subsidy_fen"] == inv.eligible()

    @precondition(lambda self: self.invoices)
    @rule(data=st.data(), share=st.integers(1, 4))
    def pay(self, data, share):
        inv = data.draw(st.sampled_from(self.invoices))
        self._pay(inv, max(1, (inv.total - inv.reversed - inv.paid) * share // 4))

    @precondition(lambda self: self.invoices)
    @rule(data=st.data(), share=st.integers(1, 4))
    def reverse(self, data, share):
        inv = data.draw(st.sampled_from(self.invoices))
        amount = max(1, (inv.total - inv.reversed) * share // 4)
        r = self.call("POST", f"/v1/invoices/{inv.id}/reversals", self.prov_keys[inv.provider],
                      {"invoice_number": f"9{next(_numbers):019d}", "issued_on": "2026-06-01",
                       "amount_fen": amount, "reason": "调整"})
        if amount > inv.total - inv.reversed:
            assert r.json()["code"] == "reversal_exceeds_total"
            return
        assert r.status_code == 201, r.text
        inv.reversed += amount
        excess = inv.redeemed(self) - inv.eligible()
        for rid in reversed(inv.redemptions):
            if excess <= 0:
                break
            red = self.redemptions[rid]
            take = min(excess, red.net)
            if take == 0:
                continue
            red.net -= take
            excess -= take
            if red.settled:  # owed back by the beneficiary; the vouchers get it back too
                self.owed += take
            else:
                self.payable -= take
            left = take
            for draw in reversed(red.draws):
                part = min(left, draw[1] - draw[2])
                draw[2] += part
                v = self.vouchers[draw[0]]
                v.balance += part
                if v.status in ("revoked", "expired"):
                    v.balance -= part
                    v.returned += part
                elif v.status == "exhausted":
                    v.status = "active"
                left -= part
        assert r.json()["eligible_subsidy_fen"] == inv.eligible()

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def redeem(self, data):
        inv = data.draw(st.sampled_from(self.invoices))
        r = self.call("POST", "/v1/redemptions", self.ent_keys[inv.enterprise],
                      {"invoice_id": inv.id})
        usable = [i for i, v in enumerate(self.vouchers)
                  if v.enterprise == inv.enterprise and v.status == "active" and v.balance > 0]
        remaining = inv.eligible() - inv.redeemed(self)
        if self.closed:
            assert r.json()["code"] == "year_closed"
        elif not usable:
            assert r.json()["code"] == "no_usable_voucher"
        elif remaining <= 0:
            assert r.json()["code"] == "nothing_to_redeem"
        else:
            assert r.status_code == 201, r.text
            body = r.json()
            draws, left = [], remaining
            for i in usable:
                if left == 0:
                    break
                amount = min(left, self.vouchers[i].balance)
                self.vouchers[i].balance -= amount
                if self.vouchers[i].balance == 0:
                    self.vouchers[i].status = "exhausted"
                draws.append([i, amount, 0])
                left -= amount
            assert [(d["voucher_id"], d["amount_fen"]) for d in body["draws"]] == [
                (self.vouchers[i].id, a) for i, a, _ in draws]
            assert body["subsidy_fen"] == remaining - left
            self.redemptions[body["id"]] = MRedemption(body["id"], inv.id, draws,
                                                       remaining - left)
            inv.redemptions.append(body["id"])
            self.payable += remaining - left

    @rule()
    def settle_and_pay(self):
        r = self.call("POST", "/v1/settlements", self.api.admin, {"year": 2026})
        unsettled = [red for red in self.redemptions.values() if not red.settled and red.net > 0]
        if not unsettled:
            assert r.json()["code"] == "nothing_to_settle"
            return
        assert r.status_code == 201, r.text
        gross_by_ent = {}
        for red in self.redemptions.values():
            if not red.settled:
                ent = next(i.enterprise for i in self.invoices if i.id == red.invoice)
                gross_by_ent[ent] = gross_by_ent.get(ent, 0) + red.net
        batch = r.json()
        assert sum(line_["gross_fen"] for line_ in batch["lines"]) == sum(gross_by_ent.values())
        self.call("POST", f"/v1/settlements/{batch['id']}/approve", self.api.admin)
        paid = self.call("POST", f"/v1/settlements/{batch['id']}/pay", self.api.admin,
                         {"bank_reference": "BANK-1"}).json()
        recovered = sum(line_["clawback_fen"] for line_ in paid["lines"])
        assert recovered <= self.owed
        for red in self.redemptions.values():
            red.settled = True
        self.payable -= sum(gross_by_ent.values())
        self.paid += paid["total_fen"]
        self.owed -= recovered
        assert paid["total_fen"] == sum(gross_by_ent.values()) - recovered

    @precondition(lambda self: self.vouchers and not self.closed)
    @rule(reclaim_bp=st.sampled_from([2500, 5000, 10_000]))
    def reclaim(self, reclaim_bp):
        r = self.call("POST", "/v1/years/2026/reclaim", self.api.admin,
                      {"issued_before": "2026-12-31", "max_used_bp": 5000,
                       "reclaim_bp": reclaim_bp, "apply": True})
        assert r.status_code == 200, r.text
        for v in self.vouchers:
            used = v.face - v.balance - v.returned
            if v.status == "active" and v.balance > 0 and used * 10_000 < 5000 * v.face:
                amount = v.balance * reclaim_bp // 10_000
                v.balance -= amount
                v.returned += amount
                if v.balance == 0:
                    v.status = "exhausted"

    @precondition(lambda self: not self.closed)
    @rule()
    def close(self):
        r = self.call("POST", "/v1/years/2026/close", self.api.admin,
                      {"force": True, "reason": "model"})
        assert r.status_code == 200, r.text
        for v in self.vouchers:
            if v.status in ("active", "exhausted"):
                v.returned += v.balance
                v.balance = 0
                v.status = "expired"
        self.closed = True

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def service_agrees_with_model(self):
        if not hasattr(self, "api"):
            return
        rec = self.api.ok("GET", "/v1/years/2026/reconciliation")
        assert rec["ok"], [c for c in rec["checks"] if not c["ok"]]
        b = self.api.ok("GET", "/v1/years/2026/budget")
        issued = sum(v.face for v in self.vouchers)
        returned = sum(v.returned for v in self.vouchers)
        assert (b["issued_fen"], b["returned_fen"]) == (issued, returned)
        assert b["available_fen"] == POOL - issued + returned >= 0
        assert b["outstanding_fen"] == sum(v.balance for v in self.vouchers)
        assert b["payable_fen"] == self.payable
        assert b["paid_fen"] == self.paid
        assert b["clawback_outstanding_fen"] == self.owed
        for e in range(2):
            assert self.reserved(e) <= CAP
        for v in self.vouchers:
            got = self.api.ok("GET", f"/v1/vouchers/{v.id}")
            assert (got["balance_fen"], got["returned_fen"]) == (v.balance, v.returned), v
        for inv in self.invoices:
            assert inv.redeemed(self) <= inv.eligible() or inv.redeemed(self) == 0


@pytest.mark.postgres
def test_model_based(pg, monkeypatch):
    from datetime import date, datetime, time

    day = date(2026, 6, 15)
    monkeypatch.setattr(clock, "now", lambda: datetime.combine(day, time(12), clock.SHANGHAI))
    VoucherMachine.engine = pg
    run_state_machine_as_test(VoucherMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
        suppress_health_check=list(HealthCheck)))
