"""The batched write path (service/uow.py, docs/write-path.md): several writes in one
transaction, each answered on its own, the accepted ones exactly once in the ledger and the
audit chain, the refused ones leaving nothing behind."""

from sqlalchemy import text

from service import uow
from service.auth.principal import Principal
from service.kit.errors import DomainError, NotFound
from service.redemptions.redeem import RedeemRequest, redeem_group
from service.vouchers.models import Voucher
from tests.flows import line, make_world


def count(engine, table: str, where: str = "1=1", **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar()


def enterprise_principal(world) -> Principal:
    return Principal(key_id="key-ent", name="enterprise", role="enterprise",
                     enterprise_id=world.enterprise["id"])


def redemption(world, invoice_id: str, key: str | None = None, voucher_id: str | None = None):
    principal = enterprise_principal(world)
    return uow.Write(principal=principal, group=redeem_group,
                     args=RedeemRequest(invoice_id, voucher_id), status_code=201,
                     idempotency=uow.Idempotency(principal.key_id, key, f"hash-{invoice_id}")
                     if key else None,
                     locks=uow.Locks((principal.enterprise_id,), (invoice_id,)))


def test_a_batch_answers_each_write_and_writes_only_the_accepted(api, engine, today):
    today("2026-06-15")
    world = make_world(api)
    voucher = world.voucher(100_000)
    a = world.invoice([line("gpu", 200_000)])  # 60_000 eligible
    b = world.invoice([line("gpu", 100_000)])  # 30_000 eligible
    c = world.invoice([line("gpu", 300_000)])  # 90_000 eligible, 10_000 left on the voucher
    unpaid = world.invoice([line("gpu", 100_000)], paid=False)
    events_before = count(engine, "audit_event")

    def plain_refused(session):
        session.execute(text("UPDATE voucher SET balance_fen = 0"))  # must be rolled back
        raise NotFound("no such thing")

    plain_ok = uow.Write(principal=enterprise_principal(world), fn=lambda s: {"ok": True})
    writes = [
        redemption(world, a["id"], key="k-a"),
        redemption(world, a["id"], key="k-a-again"),  # same invoice: nothing left after the first
        uow.Write(principal=enterprise_principal(world), fn=plain_refused),
        redemption(world, unpaid["id"], key="k-unpaid"),
        redemption(world, b["id"]),
        redemption(world, "inv_nope"),
        redemption(world, c["id"]),  # gets what is left on the voucher: 10_000
        redemption(world, c["id"]),  # the voucher is exhausted now
        plain_ok,
    ]
    outcomes = uow.execute(engine, writes)

    def code(o):
        return o.code if isinstance(o, DomainError) else o.status_code
    assert [code(o) for o in outcomes] == [201, "nothing_to_redeem", "not_found",
                                           "nothing_to_redeem", 201, "not_found", 201,
                                           "no_usable_voucher", 200]
    assert [outcomes[i].body["subsidy_fen"] for i in (0, 4, 6)] == [60_000, 30_000, 10_000]
    assert outcomes[6].body["draws"] == [{"voucher_id": voucher["id"], "amount_fen": 10_000,
                                          "restored_fen": 0}]
    assert outcomes[8].body == {"ok": True}
    # The accepted three, exactly once each: redemption rows, transfers, audit events.
    assert count(engine, "redemption") == 3
    assert count(engine, "ledger_transfer", "kind = 'redeem'") == 3
    assert count(engine, "audit_event") == events_before + 3
    assert count(engine, "audit_event", "action = 'redemption.create'") == 3
    assert world.get_voucher(voucher["id"])["balance_fen"] == 0  # the refused UPDATE undone
    # Keyed writes are remembered: the accepted answer and the refusals.
    with engine.connect() as conn:
        stored = dict(conn.execute(text(
            "SELECT key, status_code FROM idempotency_record ORDER BY key")).all())
    assert stored == {"k-a": 201, "k-a-again": 409, "k-unpaid": 409}
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True
    rec = api.ok("GET", "/v1/years/2026/reconciliation")
    assert rec["ok"], [c for c in rec["checks"] if not c["ok"]]


def test_a_key_sent_twice_in_one_batch_is_applied_once(api, engine, today):
    today("2026-06-15")
    world = make_world(api)
    world.voucher(1_000_000)
    a = world.invoice([line("gpu", 100_000)])
    first, again = uow.execute(engine, [redemption(world, a["id"], key="same"),
                                        redemption(world, a["id"], key="same")])
    assert (first.status_code, first.replayed) == (201, False)
    assert (again.status_code, again.replayed, again.body) == (201, True, first.body)
    assert count(engine, "redemption") == 1
    replay = uow.execute(engine, [redemption(world, a["id"], key="same")])[0]
    assert (replay.replayed, replay.body["id"]) == (True, first.body["id"])


def test_a_refused_batch_member_leaves_the_tally_of_the_others_exact(api, engine, today):
    """Two requests draw on one voucher in one batch; the second sees the first's draw."""
    today("2026-06-15")
    world = make_world(api)
    voucher = world.voucher(50_001)
    a, b = (world.invoice([line("gpu", 100_000)]) for _ in range(2))  # 30_000 each
    first, second = uow.execute(engine, [redemption(world, a["id"], voucher_id=voucher["id"]),
                                         redemption(world, b["id"], voucher_id=voucher["id"])])
    assert (first.body["subsidy_fen"], second.body["subsidy_fen"]) == (30_000, 20_001)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT balance_fen, status FROM voucher WHERE id = :v"),
                           {"v": voucher["id"]}).one()
    assert tuple(row) == (0, "exhausted")
    assert Voucher.__tablename__ == "voucher"


def test_an_unsealed_audit_event_refuses_to_commit(engine):
    import pytest
    from sqlmodel import Session

    from service.audit import service as audit

    with Session(engine) as session, pytest.raises(RuntimeError, match="not sealed"):
        audit.record(session, action="x", object_type="y", object_id="z")
        session.commit()


def payment(world, invoice_id: str, amount_fen: int, provider_key_id: str = "key-prv"):
    from datetime import date

    from service.invoices.schemas import PaymentCreate
    from service.invoices.service import PaymentRequest, pay_group

    principal = Principal(key_id=provider_key_id, name="provider", role="provider",
                          provider_id=world.provider["id"])
    return uow.Write(principal=principal, group=pay_group, status_code=201,
                     args=PaymentRequest(invoice_id, PaymentCreate(
                         amount_fen=amount_fen, paid_on=date(2026, 5, 10))),
                     locks=uow.Locks(invoice_ids=(invoice_id,)))


def test_payments_of_one_invoice_in_one_batch_are_checked_in_turn(api, engine, today):
    """Each payment sees the ones before it in the batch: the third would take paid_fen above
    the net total and is refused alone; each answer is the invoice as its payment left it."""
    today("2026-06-15")
    world = make_world(api)
    invoice = world.invoice([line("gpu", 100_000)], paid=False)
    other = make_world(api, year=2027)  # another provider: the invoice is not theirs
    first, second, third, stranger, fourth = uow.execute(engine, [
        payment(world, invoice["id"], 40_000), payment(world, invoice["id"], 59_999),
        payment(world, invoice["id"], 2), payment(other, invoice["id"], 1),
        payment(world, invoice["id"], 1)])
    assert (first.body["paid_fen"], second.body["paid_fen"]) == (40_000, 99_999)
    assert first.body["eligible_subsidy_fen"] == 12_000  # 30 % of what was paid by then
    assert (third.code, stranger.code) == ("payment_exceeds_total", "not_found")
    assert fourth.body["paid_fen"] == 100_000
    assert world.get_invoice(invoice["id"])["paid_fen"] == 100_000
    assert count(engine, "invoice_payment") == 3
    assert count(engine, "audit_event", "action = 'invoice.payment'") == 3
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True


def test_a_batched_payment_releases_a_pending_deduction_redemption(api, engine, today):
    """Deduction mode: the provider is owed the subsidy once the enterprise paid the rest."""
    today("2026-06-15")
    world = make_world(api, settlement_mode="deduction")
    world.voucher(1_000_000)
    invoice = world.invoice([line("gpu", 1_000_000)], paid=False)
    world.pay(invoice["id"], 699_999)
    pending = world.redeem(invoice["id"])
    assert (pending["subsidy_fen"], pending["status"]) == (300_000, "pending")
    answer, = uow.execute(engine, [payment(world, invoice["id"], 1)])
    assert answer.body["paid_fen"] == 700_000
    assert api.ok("GET", f"/v1/redemptions/{pending['id']}")["status"] == "payable"
