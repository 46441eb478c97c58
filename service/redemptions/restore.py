"""Undoing what a redemption drew (PRODUCT.md §3.5): how much of an invoice stands redeemed,
whether a deduction-mode enterprise has paid its share, and the one give-back — the drawn amount
back to the vouchers, last drawn first. Used by the reversal take-back, the clawback and the
review's rejection; the what-if replay gives back in the same order (`give_back_parts`)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from service.kit import clock
from service.ledger import service as ledger
from service.redemptions.models import Redemption, RedemptionDraw
from service.vouchers import service as vouchers
from service.vouchers.models import Voucher


def enterprise_share_paid(paid_fen: int, net_total_fen: int, redeemed_fen: int) -> bool:
    """Deduction mode: the provider is owed the subsidy once the enterprise paid the rest of
    the bill (the net total less every subsidy redeemed on it, this one included)."""
    return paid_fen >= net_total_fen - redeemed_fen


def redeemed_net(session: Session, invoice_id: str, year: int | None = None) -> int:
    stmt = select(func.coalesce(func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen), 0)
                  ).where(Redemption.invoice_id == invoice_id)
    if year is not None:
        stmt = stmt.where(Redemption.year == year)
    return int(session.exec(stmt).one())


def share_paid(session: Session, invoice: Any, redeeming_fen: int = 0) -> bool:
    """Deduction mode: the provider is owed the subsidy once the enterprise paid the rest.
    `redeeming_fen`: a redemption of this invoice that is being written and not yet counted."""
    return enterprise_share_paid(invoice.paid_fen, invoice.total_fen - invoice.reversed_fen,
                                 redeemed_net(session, invoice.id) + redeeming_fen)


def give_back_parts(outstanding: Sequence[int], amount: int) -> list[tuple[int, int]]:
    """Where `amount` goes back among a redemption's draws (what each still holds, in draw
    order): (draw index, part) pairs, last drawn first. A pure function: the write path and the
    what-if replay share it. What does not fit is left out (the caller checks the sum)."""
    parts = []
    for i in range(len(outstanding) - 1, -1, -1):
        if amount == 0:
            break
        part = min(amount, outstanding[i])
        if part > 0:
            parts.append((i, part))
            amount -= part
    return parts


def give_back_to_vouchers(session: Session, redemption: Redemption, amount: int, *,
                           source_account_id: str, kind: str, reference: str) -> list[dict]:
    """Credit `amount` of the redemption back to the vouchers it drew on, last drawn first,
    from the source account (the payable before settlement, the clawed-back account after).
    A voucher that is no longer usable — revoked, or expired (stored or by date) — passes what
    it gets straight on to the pool and the enterprise's cap. Returns what went where. The one
    way a redemption's draws are undone: the unsettled take-back and the clawback share it."""
    draws = session.exec(select(RedemptionDraw).where(
        RedemptionDraw.redemption_id == redemption.id).order_by(RedemptionDraw.draw_no)).all()
    today = clock.today()
    given: list[dict] = []
    parts = give_back_parts([d.amount_fen - d.restored_fen for d in draws], amount)
    assert sum(part for _, part in parts) == amount, \
        f"redemption {redemption.id}: {amount} fen do not fit back into its draws"
    for i, part in parts:
        draw = draws[i]
        # Lock and re-read: a redemption of another invoice may have drawn on this voucher
        # since the reversal locked the vouchers it knew about (a stale read loses that draw).
        voucher = session.get(Voucher, draw.voucher_id, with_for_update=True,
                              populate_existing=True)
        ledger.post(session, year=redemption.year, debit=source_account_id,
                    credit=voucher.ledger_account_id, amount_fen=part, kind=kind,
                    reference=reference)
        draw.restored_fen += part
        voucher.balance_fen += part
        status = vouchers.display_status(voucher, today)
        if status in ("revoked", "expired"):
            session.add_all([draw, voucher])
            session.flush()
            vouchers.return_balance(session, voucher, kind=f"{status}_return", amount_fen=part,
                                    reference=reference)
        elif voucher.status == "exhausted":
            voucher.status = "active"
        session.add_all([draw, voucher])
        given.append({"voucher_id": voucher.id, "amount_fen": part,
                      "to_pool": status in ("revoked", "expired")})
    return given
