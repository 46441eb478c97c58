"""Objections to a published batch (公示, issue 24 §1, docs/notice.md).

Anyone may object, with no key, while the batch is in notice, under a real name and a phone
the bureau can call; an objection freezes only the lines it names (notices/freeze.py). The
bureau resolves each once: `dismissed` — a line no other objection holds is payable again
(a withheld line's redemptions return to `payable` for a later batch); `upheld` — the line's
redemptions are rejected the way a reviewer rejects a held redemption (risk/reviews.py) and
their invoices are barred from any further redemption.

Refusals of a submission, in this order: 404 `not_found` (no published batch), 409
`notice_closed` (after notice_ends_on, or the batch was paid), 422 `validation_error` naming
`line_ids` (a line the notice does not list), 429 `rate_limited` (service/ratelimit, counted
last, in the same transaction as the insert, so a refused request writes nothing)."""

from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from service.audit import service as audit
from service.kit import clock, ids
from service.kit.errors import DomainError, FieldError, NotFound, ValidationFailed
from service.kit.rows import one_readable
from service.ledger import service as ledger
from service.notices import freeze, public
from service.notices.models import BarredInvoice, Objection, ObjectionLine
from service.ratelimit.service import take
from service.redemptions.models import Redemption
from service.risk.reviews import reject_redemption
from service.settlements import access as settlement_access
from service.settlements import notice
from service.settlements.models import Settlement, SettlementLine

# At most this many objections per client address per hour (issue 24 §1).
OBJECTIONS_PER_HOUR = 5
RATE_BUCKET = "notice_objection"


class NoticeClosed(DomainError):
    status = 409
    code = "notice_closed"
    title = "The notice no longer receives objections"


class ObjectionResolved(DomainError):
    status = 409
    code = "objection_resolved"
    title = "The objection is already resolved"


def published(session: Session, settlement_id: str) -> Settlement:
    """The batch a public notice shows (settlements/access.readable_published), or 404."""
    return one_readable(session, settlement_access.readable_published().where(
        Settlement.id == settlement_id), f"no published notice {settlement_id}")


def submit(session: Session, *, settlement_id: str, line_ids: list[str], name: str, phone: str,
           organisation: str | None, content: str, client: str) -> Objection:
    settlement = published(session, settlement_id)
    today = clock.today()
    if not notice.is_open(settlement, today):
        raise NoticeClosed(f"the notice ran until {settlement.notice_ends_on}; objections are "
                           "received up to that day")
    listed = {x.line_id for x in public.shown_lines(session, settlement)}
    unknown = [i for i in line_ids if i not in listed]
    if unknown:
        raise ValidationFailed(
            f"line_ids: {', '.join(unknown[:5])} not in notice {settlement.id}",
            errors=[FieldError(field="line_ids", message=f"{i} is not a line of this notice")
                    for i in unknown[:20]])
    take(session, bucket=RATE_BUCKET, client=client, limit=OBJECTIONS_PER_HOUR, window_s=3600)
    objection = Objection(id=ids.new_id("obj"), settlement_id=settlement.id, name=name,
                          phone=phone, organisation=organisation, content=content,
                          received_at=clock.now())
    session.add(objection)
    session.flush()
    for line_id in dict.fromkeys(line_ids):
        session.add(ObjectionLine(objection_id=objection.id, line_id=line_id))
    # The audit trail names the lines, never the objector (their identity stays confidential).
    audit.record(session, action="objection.receive", object_type="objection",
                 object_id=objection.id,
                 summary={"settlement_id": settlement.id, "line_ids": list(dict.fromkeys(line_ids))})
    return objection


def get(session: Session, objection_id: str, *, for_update: bool = False) -> Objection:
    row = session.get(Objection, objection_id, with_for_update=for_update or None,
                      populate_existing=for_update)
    if row is None:
        raise NotFound(f"no objection {objection_id}")
    return row


def line_ids_of(session: Session, objection_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in objection_ids}
    if objection_ids:
        for objection_id, line_id in session.execute(
                select(ObjectionLine.objection_id, ObjectionLine.line_id)
                .where(ObjectionLine.objection_id.in_(objection_ids))
                .order_by(ObjectionLine.objection_id, ObjectionLine.line_id)):
            out[objection_id].append(line_id)
    return out


def to_public(session: Session, rows: list[Objection]) -> list[dict[str, Any]]:
    """Objections as the bureau reads them, identity included, with the lines each names."""
    lines = line_ids_of(session, [r.id for r in rows])
    return [{**r.model_dump(), "line_ids": lines[r.id]} for r in rows]


def resolve(session: Session, *, objection_id: str, outcome: str, reason: str,
            actor_id: str) -> Objection:
    objection = get(session, objection_id, for_update=True)
    if objection.status != "received":
        raise ObjectionResolved(f"objection {objection_id} is already {objection.status}")
    settlement = session.get(Settlement, objection.settlement_id, with_for_update=True)
    objection.status = outcome
    objection.resolved_at = clock.now()
    objection.resolution_reason = reason
    objection.resolved_by = actor_id
    session.add(objection)
    session.flush()
    named = line_ids_of(session, [objection.id])[objection.id]
    lines = list(session.exec(select(SettlementLine).where(SettlementLine.line_id.in_(named))
                              .order_by(SettlementLine.line_id)))
    states = freeze.states(session, named)
    effects = []
    for line in lines:
        if outcome == "upheld":
            effects.append(_reject_line(session, settlement, line, objection.id))
        elif states[line.line_id].cleared and line.withheld:
            effects.append(_release_line(session, line))
    audit.record(session, action=f"objection.{outcome}", object_type="objection",
                 object_id=objection.id,
                 summary={"settlement_id": settlement.id, "reason": reason, "lines": effects})
    return objection


def _redemptions_of(line: SettlementLine):
    r = Redemption.__table__.c
    return (r.settlement_id == line.settlement_id, r.beneficiary_type == line.beneficiary_type,
            r.beneficiary_id == line.beneficiary_id, r.status == "settling")


def _release_line(session: Session, line: SettlementLine) -> dict[str, Any]:
    """Every objection on a withheld line was dismissed: its redemptions are payable again and
    unclaimed, for a later batch (their amounts never left the payable account)."""
    released = session.execute(
        update(Redemption).where(*_redemptions_of(line))
        .values(settlement_id=None, status="payable")
        .execution_options(synchronize_session=False)).rowcount
    return {"line_id": line.line_id, "released_redemptions": released}


def _reject_line(session: Session, settlement: Settlement, line: SettlementLine,
                 objection_id: str) -> dict[str, Any]:
    """Upheld: each redemption of the line still unpaid is rejected as a reviewer rejects one
    (its draws back to the vouchers, from the beneficiary's payable account), and its invoice
    is barred from redemption."""
    ids_ = list(session.execute(select(Redemption.id, Redemption.invoice_id)
                                .where(*_redemptions_of(line)).order_by(Redemption.id)))
    restored = 0
    for redemption_id, _ in ids_:
        moved = reject_redemption(
            session, redemption_id, from_status="settling",
            source_account=lambda r: ledger.account_id(session, r.year, "payable",
                                                       r.beneficiary_type, r.beneficiary_id))
        restored += moved["restored_fen"]
    for invoice_id in sorted({invoice_id for _, invoice_id in ids_}):
        if session.get(BarredInvoice, invoice_id) is None:
            session.add(BarredInvoice(invoice_id=invoice_id, objection_id=objection_id))
    session.flush()
    return {"line_id": line.line_id, "rejected_redemptions": len(ids_), "restored_fen": restored,
            "batch_status": settlement.status}

