"""What the public reads of a published batch (公示, docs/notice.md): exactly the fields listed
in issue 24 §1, built field by field so nothing else can slip in — never a bank account, a
contact, a key id, an internal note, a reviewer's name or an objection."""

from datetime import date
from typing import Any

from sqlmodel import Session, select

from service.registry.models import Enterprise
from service.settlements import notice
from service.settlements.models import Settlement, SettlementLine
from service.settlements.service import lines_of

TITLE = "{year}年度算力券补贴资金拨付公示"


def status_of(settlement: Settlement, today: date) -> str:
    """`in_notice` while objections are received, `closed` after notice_ends_on or once paid."""
    return "in_notice" if notice.is_open(settlement, today) else "closed"


def shown_lines(session: Session, settlement: Settlement) -> list[SettlementLine]:
    """The batch's lines as published; a line withheld at payment has left the batch."""
    return [line for line in lines_of(session, settlement.id) if not line.withheld]


def notice_of(session: Session, settlement: Settlement, today: date) -> dict[str, Any]:
    lines = shown_lines(session, settlement)
    districts = _districts(session, [x.beneficiary_id for x in lines
                                     if x.beneficiary_type == "enterprise"])
    return {
        "id": settlement.id, "year": settlement.year,
        "title": TITLE.format(year=settlement.year),
        "published_on": settlement.published_on,
        "notice_starts_on": settlement.notice_starts_on,
        "notice_ends_on": settlement.notice_ends_on,
        "status": status_of(settlement, today),
        "total_fen": sum(x.amount_fen for x in lines),
        "lines": [{"line_id": x.line_id, "recipient_name": x.beneficiary_name,
                   "recipient_uscc": x.beneficiary_uscc,
                   "district": districts.get(x.beneficiary_id)
                   if x.beneficiary_type == "enterprise" else None,
                   "beneficiary_type": x.beneficiary_type, "amount_fen": x.amount_fen}
                  for x in lines]}


def _districts(session: Session, enterprise_ids: list[str]) -> dict[str, str | None]:
    if not enterprise_ids:
        return {}
    return dict(session.execute(select(Enterprise.id, Enterprise.district).where(
        Enterprise.id.in_(enterprise_ids))).all())
