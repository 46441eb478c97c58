"""Concurrent redemptions and settlement batches on PostgreSQL (PRODUCT.md §3.5–§3.7).

How the concurrency is made real: the app (built with `create_app(pg)`) is served by a real
uvicorn server on a free 127.0.0.1 port in a background thread, and every racing request is
sent from its own OS thread with its own `httpx.Client`, all released at once by a barrier.
uvicorn runs the (synchronous) endpoints in its worker thread pool, each with its own database
connection and transaction, so the requests genuinely overlap inside PostgreSQL. (The
in-process client, tests/inprocess.py, drives the app on the test's own thread; that is fine
for setting the scene and checking the result, which is all it is used for here, but
independent clients on their own connections to a real server are closer to production.)
SQLite serialises all writers at BEGIN, so these tests run on PostgreSQL only (the `pg`
fixture). One test injects sleeps in-process (monkeypatch) to force a specific interleaving.

Each test asserts exact amounts: nothing is spent twice, nothing is lost, refusals carry their
code, no request fails with a 5xx, and the ledger agrees with the entity tables afterwards.
"""

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from service.app import create_app
from tests.factories import Api
from tests.flows import invoice_body, line, make_world
from tests.inprocess import InProcessClient

pytestmark = pytest.mark.postgres


@contextmanager
def serve(app) -> Iterator[str]:
    """Serve the app with uvicorn in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def race(base_url: "str | Servers", calls: list[tuple[str, str, dict, dict | None]]
         ) -> list[httpx.Response]:
    """Send every (method, path, headers, json) call from its own thread, all at once, the
    calls dealt in turn to the servers; the responses come back in the order of `calls`."""
    barrier = threading.Barrier(len(calls))
    urls = base_url.urls if isinstance(base_url, Servers) else (base_url,)

    def one(numbered) -> httpx.Response:
        n, (method, path, headers, body) = numbered
        with httpx.Client(base_url=urls[n % len(urls)], timeout=60) as client:
            barrier.wait(timeout=30)
            return client.request(method, path, headers=headers, json=body)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, enumerate(calls)))


def no_5xx(responses: list[httpx.Response]) -> None:
    bad = [(r.status_code, r.text) for r in responses if r.status_code >= 500]
    assert not bad, bad


def codes(responses: list[httpx.Response]) -> Counter:
    return Counter(r.status_code if r.status_code < 400 else (r.status_code, r.json()["code"])
                   for r in responses)


class Servers(str):
    """Two live servers of two apps on one database, as two `voucher serve` workers are: each
    with its own write batcher, so racing requests meet both inside one batch (one server) and
    as concurrent transactions (two). Used as a str it is the first server's URL."""

    urls: tuple[str, ...]

    def __new__(cls, *urls: str) -> "Servers":
        self = super().__new__(cls, urls[0])
        self.urls = urls
        return self


@pytest.fixture
def scene(pg, today):
    """(api, servers): an in-process Api for setup and checks, and two live servers."""
    today("2026-06-15")
    app, other = create_app(pg), create_app(pg)
    with InProcessClient(app, raise_server_exceptions=False) as client, serve(app) as base_url, \
            serve(other) as other_url:
        yield Api(client, pg), Servers(base_url, other_url)


def ledger_balance(api: Api, kind: str, owner_id: str | None = None) -> int:
    params = {"year": 2026, "kind": kind, "limit": 500}
    if owner_id:
        params["owner_id"] = owner_id
    return sum(a["balance_fen"] for a in api.ok("GET", "/v1/ledger/accounts",
                                                 params=params)["items"])


def all_pages(api: Api, path: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = api.ok("GET", path, params={**params, "limit": 500,
                                           **({"cursor": cursor} if cursor else {})})
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def assert_books_agree(api: Api) -> None:
    """Reconciliation recomputes everything from the transfers; the audit chain is intact."""
    rec = api.ok("GET", "/v1/years/2026/reconciliation")
    failed = [c for c in rec["checks"] if not c["ok"]]
    assert rec["ok"] and not failed, failed
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True


def paid_invoices(world, amounts: list[int], enterprise: dict | None = None,
                  prov: dict | None = None) -> list[dict]:
    uscc = (enterprise or world.enterprise)["uscc"]
    bodies = [invoice_body(uscc, [line("gpu", a)]) for a in amounts]
    out = world.api.ok("POST", "/v1/invoices/batch", headers=prov or world.prov,
                       json={"invoices": bodies}, expect=201)["items"]
    return [world.api.ok("POST", f"/v1/invoices/{inv['id']}/payments",
                         headers=prov or world.prov, expect=201,
                         json={"amount_fen": inv["total_fen"], "paid_on": "2026-05-10"})
            for inv in out]


# --- (a) many invoices, one voucher ------------------------------------------------------------


def test_fifty_redemptions_draw_one_voucher_without_overdraft(scene):
    api, base_url = scene
    world = make_world(api)
    voucher = world.voucher(1_000_000)
    invoices = paid_invoices(world, [100_000] * 50)  # 30_000 eligible each: 1_500_000 wanted
    assert {i["eligible_subsidy_fen"] for i in invoices} == {30_000}
    calls = [("POST", "/v1/redemptions", world.ent,
              {"invoice_id": inv["id"], **({"voucher_id": voucher["id"]} if n % 2 else {})})
             for n, inv in enumerate(invoices)]
    responses = race(base_url, calls)
    no_5xx(responses)
    won = [r.json() for r in responses if r.status_code == 201]
    assert codes(responses) == Counter({201: 34, (409, "no_usable_voucher"): 16})
    # 33 full redemptions and one that took the last 10_000: exactly the face value
    assert sorted(r["subsidy_fen"] for r in won) == [10_000] + [30_000] * 33
    assert sum(r["subsidy_fen"] for r in won) == 1_000_000
    for r in won:
        assert r["draws"] == [{"voucher_id": voucher["id"], "amount_fen": r["subsidy_fen"],
                               "restored_fen": 0}]
    assert len({r["invoice_id"] for r in won}) == 34
    after = world.get_voucher(voucher["id"])
    assert (after["balance_fen"], after["status"]) == (0, "exhausted")
    assert after["face_fen"] - after["balance_fen"] == sum(r["subsidy_fen"] for r in won)
    assert ledger_balance(api, "voucher", voucher["id"]) == after["balance_fen"]
    assert ledger_balance(api, "payable") == 1_000_000
    # the entity tables say the same: one redemption per winning invoice, none for the rest
    stored = all_pages(api, "/v1/redemptions", year=2026)
    assert sorted((r["invoice_id"], r["subsidy_fen"]) for r in stored) == sorted(
        (r["invoice_id"], r["subsidy_fen"]) for r in won)
    by_invoice = {r["invoice_id"]: r["subsidy_fen"] for r in won}
    for inv in invoices:
        got = api.ok("GET", f"/v1/invoices/{inv['id']}")
        assert got["redeemed_fen"] == by_invoice.get(inv["id"], 0)
    assert_books_agree(api)


# --- (b) one invoice, racing redemptions -------------------------------------------------------


@pytest.mark.parametrize("vouchers", ["one_shared_voucher", "a_named_voucher_each"])
def test_racing_redemptions_of_one_invoice_redeem_it_once(scene, vouchers):
    api, base_url = scene
    world = make_world(api)
    racers = 4
    pool = ([world.voucher(50_000_000)] if vouchers == "one_shared_voucher"
            else [world.voucher(10_000_000) for _ in range(racers)])
    # 10 invoices, each raced by 4 requests at the same instant (40 requests in all)
    invoices = paid_invoices(world, [123_457 + n for n in range(10)])
    eligible = {inv["id"]: inv["eligible_subsidy_fen"] for inv in invoices}
    assert eligible[invoices[0]["id"]] == 37_037  # 123_457 × 30% rounded down
    calls = []
    for inv in invoices:
        for k in range(racers):
            body = {"invoice_id": inv["id"]}
            if vouchers == "a_named_voucher_each":
                body["voucher_id"] = pool[k]["id"]
            calls.append(("POST", "/v1/redemptions", world.ent, body))
    responses = race(base_url, calls)
    no_5xx(responses)
    assert codes(responses) == Counter({201: 10, (409, "nothing_to_redeem"): 30})
    won = [r.json() for r in responses if r.status_code == 201]
    got: Counter = Counter()
    for r in won:
        got[r["invoice_id"]] += r["subsidy_fen"]
    assert dict(got) == eligible  # every invoice redeemed exactly once, in full, no excess
    spent = sum(v["face_fen"] - world.get_voucher(v["id"])["balance_fen"] for v in pool)
    assert spent == sum(eligible.values())
    for v in pool:
        assert ledger_balance(api, "voucher", v["id"]) == world.get_voucher(v["id"])["balance_fen"]
    for inv in invoices:
        after = api.ok("GET", f"/v1/invoices/{inv['id']}")
        assert (after["redeemed_fen"], after["redeemable_fen"]) == (eligible[inv["id"]], 0)
    assert ledger_balance(api, "payable") == sum(eligible.values())
    assert_books_agree(api)


def test_redemptions_racing_payments_and_reversals_never_exceed_eligibility(scene):
    """Payments raise, red-letter reversals lower what is eligible while redemptions draw on it:
    whatever the interleaving, no invoice ends up redeemed above its eligible subsidy and every
    fen drawn from a voucher is either payable or back on the voucher."""
    api, base_url = scene
    world = make_world(api)
    voucher = world.voucher(50_000_000)
    bodies = [invoice_body(world.enterprise["uscc"], [line("gpu", 1_000_000)])
              for _ in range(8)]
    invoices = api.ok("POST", "/v1/invoices/batch", headers=world.prov,
                      json={"invoices": bodies}, expect=201)["items"]
    for inv in invoices:
        world.pay(inv["id"], 400_000)  # 120_000 eligible now
    calls = []
    for n, inv in enumerate(invoices):
        calls += [("POST", "/v1/redemptions", world.ent, {"invoice_id": inv["id"]}),
                  ("POST", "/v1/redemptions", world.ent, {"invoice_id": inv["id"]}),
                  ("POST", f"/v1/invoices/{inv['id']}/payments", world.prov,
                   {"amount_fen": 600_000, "paid_on": "2026-05-20"}),
                  ("POST", f"/v1/invoices/{inv['id']}/reversals", world.prov,
                   {"invoice_number": f"2699{n:016d}", "issued_on": "2026-06-01",
                    "amount_fen": 300_000, "reason": "服务量调整"})]
    responses = race(base_url, calls)
    no_5xx(responses)
    for n in range(len(invoices)):
        redeems, payment, reversal = responses[4 * n:4 * n + 2], *responses[4 * n + 2:4 * n + 4]
        assert reversal.status_code == 201, reversal.text
        # the payment fits only if it lands before the reversal shrinks the net total to 700_000
        if payment.status_code != 201:
            assert (payment.status_code, payment.json()["code"]) == (409,
                                                                     "payment_exceeds_total")
        for r in redeems:
            assert r.status_code == 201 or (r.status_code, r.json()["code"]) == (
                409, "nothing_to_redeem"), r.text
    redemptions = all_pages(api, "/v1/redemptions", year=2026)
    net_by_invoice: Counter = Counter()
    for r in redemptions:
        net_by_invoice[r["invoice_id"]] += r["net_subsidy_fen"]
    drawn = restored = 0
    for r in redemptions:
        for d in r["draws"]:
            drawn += d["amount_fen"]
            restored += d["restored_fen"]
    for inv in invoices:
        after = api.ok("GET", f"/v1/invoices/{inv['id']}")
        assert after["reversed_fen"] == 300_000
        assert after["paid_fen"] in (400_000, 1_000_000)
        expected = (210_000 if after["paid_fen"] == 1_000_000 else 120_000)  # min(paid, net)
        assert after["eligible_subsidy_fen"] == expected
        assert after["redeemed_fen"] == net_by_invoice[inv["id"]]
        assert 0 < after["redeemed_fen"] <= expected
    v = world.get_voucher(voucher["id"])
    assert v["face_fen"] - v["balance_fen"] == drawn - restored == sum(net_by_invoice.values())
    assert ledger_balance(api, "voucher", voucher["id"]) == v["balance_fen"]
    assert ledger_balance(api, "payable") == sum(net_by_invoice.values())
    assert_books_agree(api)


# --- (c) settlement batches --------------------------------------------------------------------


def payable_redemptions(api: Api, world, per_enterprise: int) -> list[dict]:
    """per_enterprise payable redemptions for world's enterprise and for a second one."""
    second = api.enterprise()
    second_key = api.enterprise_key(second["id"])
    out = []
    for enterprise, key in ((world.enterprise, world.ent), (second, second_key)):
        api.voucher(enterprise["id"], 10_000_000)
        for inv in (paid_invoices(world, [100_000 + 1_000 * k
                                                      for k in range(per_enterprise)],
                                              enterprise=enterprise)):
            out.append(api.ok("POST", "/v1/redemptions", headers=key, expect=201,
                              json={"invoice_id": inv["id"]}))
    return out


def test_concurrent_settlement_batches_claim_each_redemption_once(scene):
    api, base_url = scene
    world = make_world(api)
    made = payable_redemptions(api, world, 20)
    total = sum(r["subsidy_fen"] for r in made)
    assert len(made) == 40 and total == 2 * sum(30_000 + 300 * k for k in range(20))
    assert ledger_balance(api, "payable") == total
    responses = race(base_url, [("POST", "/v1/settlements", api.admin, {"year": 2026})] * 8)
    no_5xx(responses)
    assert codes(responses) == Counter({201: 1, (409, "nothing_to_settle"): 7})
    batch = next(r.json() for r in responses if r.status_code == 201)
    assert batch["total_fen"] == total
    per_enterprise = Counter()
    for r in made:
        per_enterprise[r["beneficiary_id"]] += r["subsidy_fen"]
    assert sorted((ln["beneficiary_id"], ln["redemption_count"], ln["amount_fen"])
                  for ln in batch["lines"]) == sorted((b, 20, amt)
                                                      for b, amt in per_enterprise.items())
    stored = all_pages(api, "/v1/redemptions", year=2026)
    assert len(stored) == 40
    assert {(r["settlement_id"], r["status"]) for r in stored} == {(batch["id"], "settling")}
    assert [b["id"] for b in all_pages(api, "/v1/settlements", year=2026)] == [batch["id"]]
    # nothing paid yet: everything is still payable in the ledger, and it is all in the batch
    assert ledger_balance(api, "payable") == total
    api.ok("POST", f"/v1/settlements/{batch['id']}/approve")
    api.ok("POST", f"/v1/settlements/{batch['id']}/pay", json={"bank_reference": "BOC-1"})
    assert ledger_balance(api, "payable") == 0
    assert ledger_balance(api, "paid") == total
    assert {r["status"] for r in all_pages(api, "/v1/redemptions", year=2026)} == {"paid"}
    assert_books_agree(api)


def test_settlements_racing_new_redemptions_lose_nothing(scene):
    """Batches are created while redemptions are still being made: every redemption ends up in
    exactly one batch or still payable, and batches, redemptions and ledger agree."""
    api, base_url = scene
    world = make_world(api)
    made = payable_redemptions(api, world, 10)
    world.voucher(10_000_000)
    fresh = paid_invoices(world, [200_000 + 1_000 * k for k in range(24)])
    calls = [("POST", "/v1/redemptions", world.ent, {"invoice_id": inv["id"]}) for inv in fresh]
    for n in range(8):
        calls.insert(3 * n, ("POST", "/v1/settlements", api.admin, {"year": 2026}))
    responses = race(base_url, calls)
    no_5xx(responses)
    settled = [r for r, c in zip(responses, calls) if c[1] == "/v1/settlements"]
    redeemed = [r for r, c in zip(responses, calls) if c[1] == "/v1/redemptions"]
    assert Counter(r.status_code for r in redeemed) == Counter({201: 24})
    assert all(r.status_code == 201 or (r.status_code, r.json()["code"]) == (
        409, "nothing_to_settle") for r in settled), [r.text for r in settled]
    batches = [r.json() for r in settled if r.status_code == 201]
    assert batches  # at least the 20 redemptions made beforehand were payable
    stored = all_pages(api, "/v1/redemptions", year=2026)
    everything = made + [r.json() for r in redeemed]
    assert sorted(r["id"] for r in stored) == sorted(r["id"] for r in everything)
    in_batch: Counter = Counter()
    for r in stored:
        if r["settlement_id"] is None:
            assert r["status"] == "payable"
        else:
            assert r["status"] == "settling"
            in_batch[r["settlement_id"]] += r["subsidy_fen"]
    assert {b["id"]: b["total_fen"] for b in batches} == dict(in_batch)
    for r in made:  # made before the race began: the first batch took every one of them
        assert next(s for s in stored if s["id"] == r["id"])["settlement_id"] is not None
    total = sum(r["subsidy_fen"] for r in stored)
    assert sum(in_batch.values()) + sum(r["subsidy_fen"] for r in stored
                                        if r["settlement_id"] is None) == total
    assert ledger_balance(api, "payable") == total
    assert_books_agree(api)


def test_reversals_taking_back_subsidy_race_redemptions_on_the_same_voucher(scene):
    """A red-letter reversal that lands just after a redemption of its invoice gives subsidy
    back to the voucher while other invoices' redemptions are drawing on that same voucher:
    the voucher row must end equal to its ledger account (no lost update either way)."""
    api, base_url = scene
    world = make_world(api)
    voucher = world.voucher(50_000_000)
    raced = paid_invoices(world, [1_000_000] * 16)  # 300_000 eligible each
    others = paid_invoices(world, [100_000] * 16)  # 30_000 each
    calls = []
    for n, inv in enumerate(raced):
        calls += [("POST", "/v1/redemptions", world.ent, {"invoice_id": inv["id"]}),
                  ("POST", f"/v1/invoices/{inv['id']}/reversals", world.prov,
                   {"invoice_number": f"2698{n:016d}", "issued_on": "2026-06-01",
                    "amount_fen": 500_000, "reason": "退费"}),
                  ("POST", "/v1/redemptions", world.ent, {"invoice_id": others[n]["id"]})]
    responses = race(base_url, calls)
    no_5xx(responses)
    assert Counter(r.status_code for r in responses) == Counter({201: 48}), codes(responses)
    redemptions = all_pages(api, "/v1/redemptions", year=2026)
    by_invoice: Counter = Counter()
    for r in redemptions:
        by_invoice[r["invoice_id"]] += r["net_subsidy_fen"]
    # after the reversal each raced invoice is worth 150_000, however the two interleaved
    assert {by_invoice[inv["id"]] for inv in raced} == {150_000}
    assert {by_invoice[inv["id"]] for inv in others} == {30_000}
    total = 16 * 150_000 + 16 * 30_000
    v = world.get_voucher(voucher["id"])
    assert v["face_fen"] - v["balance_fen"] == total
    assert ledger_balance(api, "voucher", voucher["id"]) == v["balance_fen"]
    assert ledger_balance(api, "payable") == total
    assert_books_agree(api)


def test_take_back_does_not_overwrite_a_concurrent_draw_on_the_voucher(scene, monkeypatch):
    """Deterministic interleaving (pauses injected in-process, the servers run in this process):

    1. a reversal of invoice A locks the vouchers drawn on A (none yet) and waits;
    2. a redemption of A, sent once the reversal waits, draws 300_000 from voucher V and commits;
    3. a redemption of invoice B, sent once A's is answered, draws 30_000 from V and pauses
       before committing;
    4. the reversal resumes as B pauses, locks A and gives 150_000 back to V.

    Each step waits for the one before (events, not fixed delays: under load a redemption
    sent 0.1 s after the reversal could reach the server after the reversal's pause).

    V must end at face − 150_000 − 30_000 both in its row and in its ledger account: the
    give-back must not be computed from a balance read before step 3 committed."""
    from service.redemptions import redeem as redeeming
    from service.redemptions import service as redemptions

    api, base_url = scene
    world = make_world(api)
    voucher = world.voucher(50_000_000)
    a, b = paid_invoices(world, [1_000_000, 100_000])
    real_lock, real_audit = redemptions.lock_vouchers_drawn_on, redeeming.audit
    reversal_waits, a_answered, b_paused = threading.Event(), threading.Event(), threading.Event()

    def slow_lock(session, invoice_id):
        real_lock(session, invoice_id)
        if invoice_id == a["id"]:
            reversal_waits.set()
            assert b_paused.wait(timeout=30), "the redemption of B never reached its pause"

    class SlowAudit:
        def __getattr__(self, name):
            return getattr(real_audit, name)

        def record(self, session, **kwargs):
            real_audit.record(session, **kwargs)
            if kwargs.get("summary", {}).get("invoice_id") == b["id"]:
                b_paused.set()
                time.sleep(1.2)  # the reversal resumes while this draw is uncommitted

    monkeypatch.setattr(redemptions, "lock_vouchers_drawn_on", slow_lock)
    monkeypatch.setattr(redeeming, "audit", SlowAudit())

    def send(method, path, headers, body, after: threading.Event | None = None):
        # The reversal on one server, the redemptions on the other: two processes' batches.
        if after is not None:
            assert after.wait(timeout=30), f"{path}: the step before never came"
        url = base_url.urls[0 if "reversals" in path else 1]
        with httpx.Client(base_url=url, timeout=60) as client:
            response = client.request(method, path, headers=headers, json=body)
        if body.get("invoice_id") == a["id"]:
            a_answered.set()
        return response

    with ThreadPoolExecutor(max_workers=3) as pool:
        reversal = pool.submit(send, "POST", f"/v1/invoices/{a['id']}/reversals", world.prov,
                               {"invoice_number": "26970000000000000001",
                                "issued_on": "2026-06-01", "amount_fen": 500_000,
                                "reason": "退费"})
        redeem_a = pool.submit(send, "POST", "/v1/redemptions", world.ent,
                               {"invoice_id": a["id"]}, reversal_waits)
        redeem_b = pool.submit(send, "POST", "/v1/redemptions", world.ent,
                               {"invoice_id": b["id"]}, a_answered)
        responses = [reversal.result(), redeem_a.result(), redeem_b.result()]
    no_5xx(responses)
    assert [r.status_code for r in responses] == [201, 201, 201], [r.text for r in responses]
    assert responses[1].json()["subsidy_fen"] == 300_000  # it ran before the reversal
    assert responses[2].json()["subsidy_fen"] == 30_000
    assert responses[0].json()["redeemed_fen"] == 150_000  # 150_000 taken back
    v = world.get_voucher(voucher["id"])
    assert v["balance_fen"] == 50_000_000 - 150_000 - 30_000
    assert ledger_balance(api, "voucher", voucher["id"]) == v["balance_fen"]
    assert_books_agree(api)


# --- (d) the last fen of the cap and of the voucher --------------------------------------------


def test_thirty_two_threads_race_for_the_last_fen_of_the_cap_and_the_voucher(scene):
    """The enterprise's one voucher is issued exactly at its cap for the year (face = cap), and
    32 threads each redeem their own invoice through the two batchers: the 32 × 33_333 wanted
    exceed the voucher and do not divide it, so 30 get 33_333, exactly one gets the 10 fen
    left, and the last is refused. Not one fen more is issued to the enterprise afterwards."""
    api, base_url = scene
    cap = 1_000_000
    world = make_world(api, enterprise_cap_fen=cap)
    voucher = world.voucher(cap)
    invoices = paid_invoices(world, [111_110] * 32)  # 33_333 eligible each: 1_066_656 wanted
    assert {i["eligible_subsidy_fen"] for i in invoices} == {33_333}
    calls = [("POST", "/v1/redemptions", world.ent,
              {"invoice_id": inv["id"], **({"voucher_id": voucher["id"]} if n % 2 else {})})
             for n, inv in enumerate(invoices)]
    responses = race(base_url, calls)
    no_5xx(responses)
    assert codes(responses) == Counter({201: 31, (409, "no_usable_voucher"): 1})
    won = [r.json() for r in responses if r.status_code == 201]
    assert sorted(r["subsidy_fen"] for r in won) == [10] + [33_333] * 30
    assert sum(r["subsidy_fen"] for r in won) == cap
    assert [r["subsidy_fen"] for r in won].count(10) == 1
    assert len({r["invoice_id"] for r in won}) == 31
    for r in won:
        assert r["draws"] == [{"voucher_id": voucher["id"], "amount_fen": r["subsidy_fen"],
                               "restored_fen": 0}]
    after = world.get_voucher(voucher["id"])
    assert (after["face_fen"], after["balance_fen"], after["status"]) == (cap, 0, "exhausted")
    assert ledger_balance(api, "voucher", voucher["id"]) == 0
    assert ledger_balance(api, "payable") == cap
    stored = all_pages(api, "/v1/redemptions", year=2026)
    assert sorted((r["invoice_id"], r["subsidy_fen"]) for r in stored) == sorted(
        (r["invoice_id"], r["subsidy_fen"]) for r in won)
    by_invoice = {r["invoice_id"]: r["subsidy_fen"] for r in won}
    for inv in invoices:
        got = api.ok("GET", f"/v1/invoices/{inv['id']}")
        assert got["redeemed_fen"] == by_invoice.get(inv["id"], 0)
    # the cap was reserved whole when the voucher was issued: one more fen is refused
    refused = api.client.post("/v1/vouchers", headers=api.admin, json={
        "enterprise_id": world.enterprise["id"], "year": 2026, "face_fen": 1})
    assert (refused.status_code, refused.json()["code"]) == (409, "enterprise_cap_exceeded")
    assert_books_agree(api)
