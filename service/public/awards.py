"""The open-data feed of awards (issue 24 §2, docs/open-data.md): one row per line of a paid
settlement batch — one beneficiary paid in one batch — in the spirit of the 360Giving core.

What each amount is, per line:

- `amount_awarded_fen`: the subsidy the line granted, its `gross_fen` — Σ over the line's
  redemptions of their subsidy less what red-letter reversals had taken back before the batch
  was made. Fixed when the batch is made.
- `amount_disbursed_fen`: what the bank paid for it, the line's `amount_fen` — the award less the
  beneficiary's earlier clawbacks netted against this payment (PRODUCT.md §3.6). Fixed too.
- `clawback_fen`: what was later recovered from the line's own redemptions — Σ of the clawbacks
  recorded against redemptions the batch paid (a reversal after settlement, §3.5). It grows when
  a reversal records one, and `last_modified` moves to that moment.

Refusals: none of its own; the route answers 429 (rate limit) and 422 (malformed query)."""

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import select

from service.kit.timestamps import in_shanghai
from service.public import access
from service.redemptions.models import Clawback, Redemption
from service.registry.models import Enterprise
from service.settlements.models import Settlement, SettlementLine

# The feed's fields, in order: the JSON keys and the CSV header. Nothing else is ever written.
FIELDS = ("identifier", "title", "currency", "amount_awarded_fen", "amount_disbursed_fen",
          "clawback_fen", "award_date", "recipient_org_id", "recipient_name",
          "recipient_district", "beneficiary_type", "funding_org_name", "programme",
          "settlement_id", "last_modified")
CURRENCY = "CNY"
# A row's identifier: its batch's id and its beneficiary's id ("stl_…-ent_…" or "stl_…-prv_…");
# the list is ordered by it and its cursor names the last one.
IDENTIFIER_SHAPE = r"stl_[0-9A-Za-z]{1,36}-(ent|prv)_[0-9A-Za-z]{1,36}"


@dataclass(frozen=True)
class Publisher:
    """What the settings say about who publishes (service/kit/config.py)."""

    funding_org_name: str
    programme: str


def identifier_column() -> ColumnElement[str]:
    return (SettlementLine.settlement_id + "-" + SettlementLine.beneficiary_id).label("identifier")


def statement(year: int) -> Select:
    """The feed's rows of `year` (the batches' budget year), from access.readable: columns only,
    so a bank field is never even read."""
    line = SettlementLine.__table__.c
    clawed = _clawbacks(year)
    return (access.readable().with_only_columns(
        identifier_column(), line.settlement_id, line.beneficiary_type, line.beneficiary_id,
        line.beneficiary_name, line.beneficiary_uscc, line.gross_fen, line.amount_fen,
        Settlement.year, Settlement.approved_at, Settlement.paid_at, Enterprise.district,
        clawed.c.clawback_fen, clawed.c.clawed_at)
        .outerjoin(Enterprise, and_(line.beneficiary_type == "enterprise",
                                    Enterprise.id == line.beneficiary_id))
        .outerjoin(clawed, and_(clawed.c.settlement_id == line.settlement_id,
                                clawed.c.beneficiary_type == line.beneficiary_type,
                                clawed.c.beneficiary_id == line.beneficiary_id))
        .where(Settlement.year == year))


def _clawbacks(year: int):
    """Per (batch, beneficiary): Σ of the clawbacks on the redemptions the batch paid, and when
    the last was recorded. A redemption names its batch; a line that leaves a batch takes its
    redemptions, and their clawbacks, with it."""
    return (select(Redemption.settlement_id, Clawback.beneficiary_type, Clawback.beneficiary_id,
                   func.sum(Clawback.amount_fen).label("clawback_fen"),
                   func.max(Clawback.created_at).label("clawed_at"))
            .join(Redemption, Redemption.id == Clawback.redemption_id)
            .where(Clawback.year == year, Redemption.settlement_id.is_not(None))
            .group_by(Redemption.settlement_id, Clawback.beneficiary_type,
                      Clawback.beneficiary_id)
            .subquery())


def to_award(row: Any, publisher: Publisher) -> dict[str, Any]:
    """One feed row of a statement() row: exactly FIELDS."""
    programme = f"{publisher.programme} {row.year}"
    paid_at = in_shanghai(row.paid_at)
    decided = in_shanghai(row.approved_at) if row.approved_at is not None else paid_at
    modified = paid_at if row.clawed_at is None else max(paid_at, in_shanghai(row.clawed_at))
    return {
        "identifier": row.identifier,
        "title": f"{programme}: {row.beneficiary_name}",
        "currency": CURRENCY,
        "amount_awarded_fen": int(row.gross_fen),
        "amount_disbursed_fen": int(row.amount_fen),
        "clawback_fen": int(row.clawback_fen or 0),
        "award_date": decided.date().isoformat(),
        "recipient_org_id": row.beneficiary_uscc,
        "recipient_name": row.beneficiary_name,
        "recipient_district": row.district if row.beneficiary_type == "enterprise" else None,
        "beneficiary_type": row.beneficiary_type,
        "funding_org_name": publisher.funding_org_name,
        "programme": programme,
        "settlement_id": row.settlement_id,
        "last_modified": modified.isoformat(),
    }


def to_json(page: dict[str, Any]) -> bytes:
    return json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def to_csv(awards: Iterable[dict[str, Any]]) -> bytes:
    """The page as CSV, UTF-8 with a BOM (for Excel), a header row of FIELDS; an empty cell for
    a null (a provider's district)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for award in awards:
        writer.writerow(["" if award[f] is None else award[f] for f in FIELDS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def etag(body: bytes) -> str:
    """A strong validator of the exact bytes sent: the same page of the same data, the same tag."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 §13.1.2: a weak comparison against each listed tag, or `*`."""
    if not if_none_match:
        return False
    listed = [t.strip() for t in if_none_match.split(",")]
    return "*" in listed or tag in (t.removeprefix("W/") for t in listed)

