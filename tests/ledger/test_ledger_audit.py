"""The ledger (positive transfers, balances that never go negative — twice protected) and the
hash-chained audit log (PRODUCT.md §3.7, §3.8)."""

import itertools

import pytest
from sqlalchemy.exc import IntegrityError

from service.kit.db import run_transaction
from service.ledger import service as ledger
from service.ledger.service import InsufficientBalance
from tests.conftest import sql


@pytest.fixture
def issued(api):
    api.year(2026, pool_fen=10_000_000)
    ent = api.enterprise()
    v1 = api.voucher(ent["id"], 3_000_000)
    v2 = api.voucher(api.enterprise()["id"], 2_000_000)
    api.ok("POST", f"/v1/vouchers/{v2['id']}/revoke")
    return api, v1, v2


def _accounts(api) -> dict[str, dict]:
    return {a["code"]: a for a in api.ok("GET", "/v1/ledger/accounts",
                                         params={"limit": 500})["items"]}


def test_every_transfer_is_positive_and_balances_match(issued):
    api, v1, v2 = issued
    transfers = api.ok("GET", "/v1/ledger/transfers", params={"limit": 500})["items"]
    assert [(t["kind"], t["amount_fen"]) for t in transfers] == [
        ("fund", 10_000_000), ("issue", 3_000_000), ("issue", 2_000_000), ("revoke", 2_000_000)]
    assert all(t["amount_fen"] > 0 and t["debit_account_id"] != t["credit_account_id"]
               for t in transfers)
    accounts = _accounts(api)
    assert accounts["2026:pool"]["balance_fen"] == 10_000_000 - 3_000_000
    assert accounts["2026:funding"]["balance_fen"] == -10_000_000
    assert accounts[f"2026:voucher:voucher:{v1['id']}"]["balance_fen"] == 3_000_000
    assert accounts[f"2026:voucher:voucher:{v2['id']}"]["balance_fen"] == 0
    # Double entry: every fen is somewhere.
    assert sum(a["balance_fen"] for a in accounts.values()) == 0
    for a in accounts.values():
        assert a["balance_fen"] == a["credits_posted_fen"] - a["debits_posted_fen"]
    assert sum(t["amount_fen"] for t in transfers) == sum(
        a["debits_posted_fen"] for a in accounts.values())


def test_ledger_filters(issued):
    api, v1, _ = issued
    account = _accounts(api)[f"2026:voucher:voucher:{v1['id']}"]
    by_account = api.ok("GET", "/v1/ledger/transfers", params={"account_id": account["id"]})
    assert [t["kind"] for t in by_account["items"]] == ["issue"]
    by_ref = api.ok("GET", "/v1/ledger/transfers", params={"reference": v1["id"]})
    assert [t["amount_fen"] for t in by_ref["items"]] == [3_000_000]
    owned = api.ok("GET", "/v1/ledger/accounts", params={"owner_id": v1["id"]})["items"]
    assert [a["id"] for a in owned] == [account["id"]]
    assert api.ok("GET", "/v1/ledger/transfers", params={"year": 2027})["items"] == []
    page = api.ok("GET", "/v1/ledger/transfers", params={"limit": 3})
    rest = api.ok("GET", "/v1/ledger/transfers", params={"cursor": page["next_cursor"]})
    assert len(page["items"]) == 3
    assert [t["kind"] for t in rest["items"]] == ["revoke"]


@pytest.mark.parametrize("amount", [0, -1])
def test_post_refuses_a_non_positive_amount(issued, amount):
    api, *_ = issued
    with pytest.raises(ValueError):
        run_transaction(api.engine, lambda s: ledger.post(
            s, year=2026, debit=ledger.get_or_create_account(s, 2026, "pool"),
            credit=ledger.get_or_create_account(s, 2026, "funding"),
            amount_fen=amount, kind="test", reference="t"))


def test_post_refuses_to_overdraw_a_guarded_account(issued):
    api, *_ = issued
    before = sql(api.engine, "SELECT COUNT(*) FROM ledger_transfer").scalar()
    with pytest.raises(InsufficientBalance):
        run_transaction(api.engine, lambda s: ledger.post(
            s, year=2026, debit=ledger.get_or_create_account(s, 2026, "pool"),
            credit=ledger.get_or_create_account(s, 2026, "funding"),
            amount_fen=7_000_001, kind="test", reference="t"))
    assert sql(api.engine, "SELECT COUNT(*) FROM ledger_transfer").scalar() == before
    assert _accounts(api)["2026:pool"]["balance_fen"] == 7_000_000
    # Exactly the balance is allowed.
    run_transaction(api.engine, lambda s: ledger.post(
        s, year=2026, debit=ledger.get_or_create_account(s, 2026, "pool"),
        credit=ledger.get_or_create_account(s, 2026, "funding"),
        amount_fen=7_000_000, kind="test", reference="t"))
    assert _accounts(api)["2026:pool"]["balance_fen"] == 0


@pytest.mark.parametrize("amount", [0, -100])
def test_database_refuses_a_non_positive_transfer(issued, amount):
    api, *_ = issued
    pool, funding = (sql(api.engine, "SELECT id FROM ledger_account WHERE code = :c",
                         c=c).scalar() for c in ("2026:pool", "2026:funding"))
    with pytest.raises(IntegrityError):
        sql(api.engine, "INSERT INTO ledger_transfer (id, year, debit_account_id, "
                        "credit_account_id, amount_fen, kind, reference, created_at) "
                        "VALUES ('trf_bad', 2026, :d, :c, :a, 'test', 't', CURRENT_TIMESTAMP)",
            d=pool, c=funding, a=amount)
    assert sql(api.engine, "SELECT COUNT(*) FROM ledger_transfer WHERE id = 'trf_bad'").scalar() \
        == 0


def test_database_refuses_a_transfer_to_the_same_account(issued):
    api, *_ = issued
    pool = sql(api.engine, "SELECT id FROM ledger_account WHERE code = '2026:pool'").scalar()
    with pytest.raises(IntegrityError):
        sql(api.engine, "INSERT INTO ledger_transfer (id, year, debit_account_id, "
                        "credit_account_id, amount_fen, kind, reference, created_at) "
                        "VALUES ('trf_bad', 2026, :a, :a, 1, 'test', 't', CURRENT_TIMESTAMP)",
            a=pool)


@pytest.mark.parametrize("code", ["2026:pool", "VOUCHER"])
def test_database_refuses_a_negative_balance(issued, code):
    api, v1, _ = issued
    code = f"2026:voucher:voucher:{v1['id']}" if code == "VOUCHER" else code
    with pytest.raises(IntegrityError):
        sql(api.engine, "UPDATE ledger_account SET debits_posted_fen = credits_posted_fen + 1 "
                        "WHERE code = :c", c=code)
    # One fen short of negative is fine (and is put back).
    sql(api.engine, "UPDATE ledger_account SET debits_posted_fen = credits_posted_fen "
                    "WHERE code = :c", c=code)
    assert _accounts(api)[code]["balance_fen"] == 0


def test_database_refuses_negative_voucher_and_cap_counters(issued):
    api, v1, _ = issued
    with pytest.raises(IntegrityError):
        sql(api.engine, "UPDATE voucher SET balance_fen = -1 WHERE id = :id", id=v1["id"])
    with pytest.raises(IntegrityError):
        sql(api.engine, "UPDATE voucher SET balance_fen = face_fen + 1 WHERE id = :id",
            id=v1["id"])
    with pytest.raises(IntegrityError):
        sql(api.engine, "UPDATE enterprise_year SET reserved_fen = -1")


# --- audit ------------------------------------------------------------------------------------


def test_audit_events_record_who_did_what(issued):
    api, v1, _ = issued
    events = api.ok("GET", "/v1/audit-events", params={"limit": 500})["items"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["action"] for e in events] == [
        "api_key.create", "year.create", "enterprise.create", "voucher.issue", "enterprise.create",
        "voucher.issue", "voucher.revoke"]
    issue = next(e for e in events if e["object_id"] == v1["id"])
    assert issue["actor_name"] == "test admin"
    assert issue["object_type"] == "voucher"
    assert issue["request_id"]
    assert issue["at"].endswith("+08:00")
    assert events[0]["prev_hash"] == "0" * 64
    for before, after in itertools.pairwise(events):
        assert after["prev_hash"] == before["hash"]


def test_request_id_is_echoed_and_recorded(api):
    r = api.client.post("/v1/years", json={"year": 2026},
                        headers={**api.admin, "X-Request-ID": "req-abc.123"})
    assert r.headers["x-request-id"] == "req-abc.123"
    [event] = api.ok("GET", "/v1/audit-events", params={"action": "year.create"})["items"]
    assert event["request_id"] == "req-abc.123"


def test_a_refused_request_writes_no_event(api):
    api.year(2026)
    before = sql(api.engine, "SELECT COUNT(*) FROM audit_event").scalar()
    r = api.client.post("/v1/years", json={"year": 2026}, headers=api.admin)
    assert r.status_code == 409
    assert sql(api.engine, "SELECT COUNT(*) FROM audit_event").scalar() == before


def test_audit_pagination(issued):
    api, *_ = issued
    total = sql(api.engine, "SELECT COUNT(*) FROM audit_event").scalar()
    seen, cursor = [], None
    while True:
        page = api.ok("GET", "/v1/audit-events", params={"limit": 2} | (
            {"cursor": cursor} if cursor else {}))
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, total + 1))


def _verify(api) -> dict:
    return api.ok("GET", "/v1/audit-events/verify")


def test_chain_verifies(issued):
    api, *_ = issued
    total = sql(api.engine, "SELECT COUNT(*) FROM audit_event").scalar()
    assert _verify(api) == {"ok": True, "checked": total, "first_broken_seq": None,
                            "first_broken_id": None, "problem": None}


def test_empty_chain_verifies(api):
    # api's own key is created outside a request, but still audited.
    assert _verify(api)["ok"] is True


def _issue_event(api, voucher_id: str) -> tuple[int, str]:
    row = sql(api.engine, "SELECT seq, id FROM audit_event WHERE object_id = :id "
                          "AND action = 'voucher.issue'", id=voucher_id).one()
    return row[0], row[1]


@pytest.mark.parametrize("column, value", [("object_id", "someone-else"),
                                           ("actor_name", "nobody"), ("role", "auditor"),
                                           ("hash", "f" * 64)])
def test_an_edited_event_is_the_first_broken_seq(issued, column, value):
    api, v1, _ = issued
    seq, event_id = _issue_event(api, v1["id"])
    sql(api.engine, f"UPDATE audit_event SET {column} = :v WHERE seq = :seq", v=value, seq=seq)
    assert _verify(api) == {"ok": False, "checked": seq - 1, "first_broken_seq": seq,
                            "first_broken_id": event_id,
                            "problem": "hash does not match the event's content"}


def test_an_edited_summary_is_detected(issued):
    api, v1, _ = issued
    seq, _ = _issue_event(api, v1["id"])
    sql(api.engine, "UPDATE audit_event SET summary = :s WHERE seq = :seq",
        s='{"face_fen": 1}', seq=seq)
    result = _verify(api)
    assert (result["ok"], result["first_broken_seq"]) == (False, seq)


def test_a_relinked_event_is_detected(issued):
    api, v1, _ = issued
    seq, event_id = _issue_event(api, v1["id"])
    sql(api.engine, "UPDATE audit_event SET prev_hash = :v WHERE seq = :seq", v="0" * 64,
        seq=seq)
    assert _verify(api) == {"ok": False, "checked": seq - 1, "first_broken_seq": seq,
                            "first_broken_id": event_id,
                            "problem": "prev_hash does not match the previous event's hash"}


def test_a_forged_rehash_breaks_the_next_link(issued):
    """Editing an event and recomputing its hash still breaks the chain at its successor."""
    from sqlmodel import Session

    from service.audit.models import AuditEvent
    from service.audit.service import event_hash

    api, v1, _ = issued
    seq, _ = _issue_event(api, v1["id"])
    with Session(api.engine) as session:
        event = session.get(AuditEvent, seq)
        event.object_id = "someone-else"
        forged = event_hash(event.prev_hash, event)
    sql(api.engine, "UPDATE audit_event SET object_id = 'someone-else', hash = :h "
                    "WHERE seq = :seq", h=forged, seq=seq)
    next_id = sql(api.engine, "SELECT id FROM audit_event WHERE seq = :seq",
                  seq=seq + 1).scalar()
    assert _verify(api) == {"ok": False, "checked": seq, "first_broken_seq": seq + 1,
                            "first_broken_id": next_id,
                            "problem": "prev_hash does not match the previous event's hash"}


def test_a_deleted_event_is_a_sequence_gap(issued):
    api, v1, _ = issued
    seq, _ = _issue_event(api, v1["id"])
    sql(api.engine, "DELETE FROM audit_event WHERE seq = :seq", seq=seq)
    result = _verify(api)
    assert result["ok"] is False
    assert result["first_broken_seq"] == seq + 1
    assert result["checked"] == seq - 1
    assert result["problem"] == f"sequence gap: expected {seq}, found {seq + 1}"


def test_deleting_the_newest_events_is_detected(issued):
    api, *_ = issued
    last = sql(api.engine, "SELECT MAX(seq) FROM audit_event").scalar()
    sql(api.engine, "DELETE FROM audit_event WHERE seq = :seq", seq=last)
    result = _verify(api)
    assert result["ok"] is False
    assert result["first_broken_seq"] == last
    assert result["problem"] == "events after the last one found are missing (chain head is ahead)"
