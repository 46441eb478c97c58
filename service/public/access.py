"""What the public reads, with no key (docs/open-data.md): the lines of paid settlement batches,
and of each only the fields the open-data feed lists. A line of a batch not yet paid (draft,
approved, in notice, rejected — or any other state a batch may gain), or a line an objection
withheld from its paid batch, is never readable; the feed starts from
`readable`, so no count or page can show one."""

from sqlalchemy import Select
from sqlmodel import select

from service.settlements.models import Settlement, SettlementLine

PUBLISHED_STATUS = "paid"


def readable() -> Select:
    """SELECT (line, batch) pairs of paid batches: what anyone may read, key or not."""
    return (select(SettlementLine, Settlement)
            .join(Settlement, Settlement.id == SettlementLine.settlement_id)
            .where(Settlement.status == PUBLISHED_STATUS,
                   # a line withheld at payment by an objection was never paid (docs/notice.md)
                   SettlementLine.withheld.is_(False)))
