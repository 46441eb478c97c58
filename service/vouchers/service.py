"""Applications and vouchers: issuing reserves from the pool under the enterprise cap (§3.3)."""

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, literal, update
from sqlmodel import Session, select

from service.kit import clock, ids
from service.alerts import service as alerts
from service.audit import service as audit
from service.auth.principal import Principal
from service.kit.errors import (
    ApplicationWindowClosed,
    CreditBlocked,
    EnterpriseCapExceeded,
    FieldError,
    InvalidState,
    PoolExhausted,
    ValidationFailed,
)
from service.holds import tally as hold_tally
from service.ledger import service as ledger
from service.registry.service import get_enterprise
from service.reviewchain import trail as chain
from service.kit.rows import insert_if_absent, one_readable
from service.vouchers import access
from service.vouchers.models import Application, EnterpriseYear, Voucher
from service.vouchers.schemas import ApplicationCreate
from service.years.models import BudgetYear
from service.years.service import get_year, require_open


# Stored statuses that read as expired once valid_until has passed (the year-close job stores
# "expired" later). display_status and display_status_sql are the one rule, in Python and SQL.
LAPSE_WITH_TIME = ("active", "exhausted")


def display_status(voucher: Any, today: date | None = None) -> str:
    """A voucher past its validity reads as expired even before the year-close job marks it."""
    today = today or clock.today()
    if voucher.status in LAPSE_WITH_TIME and voucher.valid_until < today:
        return "expired"
    return voucher.status


def display_status_sql(today: date) -> ColumnElement[str]:
    """display_status as a SQL expression, so that ?status= means what the response shows."""
    return case((and_(Voucher.status.in_(LAPSE_WITH_TIME), Voucher.valid_until < today),
                 literal("expired")), else_=Voucher.status)


def to_public(voucher: Voucher, held_fen: int = 0) -> dict:
    """`held_fen`: what the voucher's live holds reserve (holds/tally.py); `available_fen` is
    what a redemption or a new hold may draw: the balance less that."""
    data = voucher.model_dump()
    today = clock.today()
    data["status"] = display_status(voucher, today)
    data["held_fen"] = held_fen
    data["available_fen"] = voucher.balance_fen - held_fen
    data["redeemed_fen"] = voucher.face_fen - voucher.balance_fen - voucher.returned_fen
    data["days_left"] = max(0, (voucher.valid_until - today).days)
    return data


def to_public_page(session: Session, rows: list[Voucher]) -> list[dict]:
    held = hold_tally.held_by_voucher(session, [v.id for v in rows])
    return [to_public(v, held.get(v.id, 0)) for v in rows]


def reserved_for(session: Session, enterprise_id: str, year: int) -> int:
    row = session.get(EnterpriseYear, (enterprise_id, year))
    return row.reserved_fen if row else 0


def issue(session: Session, *, enterprise_id: str, year: int, face_fen: int,
          valid_until: date | None = None, application_id: str | None = None) -> Voucher:
    """Reserve face_fen from the pool and the enterprise's cap, and create the voucher.

    Both limits are enforced by conditional updates in the database (pool row first, then the
    enterprise-year row), so racing requests can meet a limit exactly but never pass it.
    """
    budget = get_year(session, year)
    require_open(budget)
    enterprise = get_enterprise(session, enterprise_id)
    if enterprise.credit_blocked:
        raise CreditBlocked(f"enterprise {enterprise.id} is credit-blocked: no new vouchers")
    valid_until = valid_until or budget.redemption_deadline
    if valid_until > budget.redemption_deadline:
        raise ValidationFailed("valid_until is after the year's redemption deadline", errors=[
            FieldError(field="valid_until",
                       message=f"must be on or before {budget.redemption_deadline}")])
    # A validity that has already ended is accepted (the voucher reads as expired and its
    # reservation returns to the pool on revocation or at year close): the deadline bounds
    # validity, the calendar does not refuse bookkeeping for a past year. docs/decisions.md.
    today = clock.today()
    if reserved_for(session, enterprise_id, year) + face_fen > budget.enterprise_cap_fen:
        raise _cap_error(session, budget, enterprise_id, face_fen)

    voucher_id = ids.new_id("vch")
    account = ledger.get_or_create_account(session, year, "voucher", "voucher", voucher_id)
    pool = ledger.get_or_create_account(session, year, "pool")
    ledger.post(session, year=year, debit=pool, credit=account, amount_fen=face_fen, kind="issue",
                reference=voucher_id,
                insufficient=lambda: PoolExhausted(
                    f"issuing {face_fen} fen would exceed the {year} pool"))
    alerts.check_thresholds(session, budget, ledger.balance(session, pool.id))
    insert_if_absent(session, EnterpriseYear, enterprise_id=enterprise_id, year=year,
                     reserved_fen=0)
    ey = EnterpriseYear.__table__.c
    reserved = session.execute(
        update(EnterpriseYear)
        .where(ey.enterprise_id == enterprise_id, ey.year == year,
               ey.reserved_fen + face_fen <= budget.enterprise_cap_fen)
        .values(reserved_fen=ey.reserved_fen + face_fen)
        .execution_options(synchronize_session=False)).rowcount
    if reserved != 1:
        raise _cap_error(session, budget, enterprise_id, face_fen)

    voucher = Voucher(id=voucher_id, code=ids.voucher_code(year), enterprise_id=enterprise_id,
                      year=year, face_fen=face_fen, balance_fen=face_fen, status="active",
                      valid_from=min(today, valid_until), valid_until=valid_until,
                      application_id=application_id, ledger_account_id=account.id)
    session.add(voucher)
    session.flush()
    audit.record(session, action="voucher.issue", object_type="voucher", object_id=voucher.id,
                 summary={"code": voucher.code, "enterprise_id": enterprise_id, "year": year,
                          "face_fen": face_fen, "valid_until": valid_until.isoformat(),
                          "application_id": application_id})
    return voucher


def _cap_error(session: Session, budget: BudgetYear, enterprise_id: str, face_fen: int):
    left = budget.enterprise_cap_fen - reserved_for(session, enterprise_id, budget.year)
    return EnterpriseCapExceeded(
        f"issuing {face_fen} fen would exceed the enterprise's {budget.year} cap of "
        f"{budget.enterprise_cap_fen} fen ({max(left, 0)} fen left)")


def get_voucher(session: Session, voucher_id: str, principal: Principal, *,
                for_update: bool = False) -> Voucher:
    return one_readable(session, access.readable(principal).where(Voucher.id == voucher_id),
                        f"no voucher {voucher_id}", for_update=for_update)


def return_balance(session: Session, voucher: Voucher, *, kind: str, amount_fen: int | None = None,
                   reference: str | None = None) -> int:
    """Give (part of) a voucher's unspent balance back to the pool and the enterprise's cap."""
    amount = voucher.balance_fen if amount_fen is None else amount_fen
    if amount <= 0:
        return 0
    pool = ledger.get_or_create_account(session, voucher.year, "pool")
    ledger.post(session, year=voucher.year, debit=voucher.ledger_account_id, credit=pool,
                amount_fen=amount, kind=kind, reference=reference or voucher.id)
    ey = EnterpriseYear.__table__.c
    session.execute(update(EnterpriseYear)
                    .where(ey.enterprise_id == voucher.enterprise_id, ey.year == voucher.year)
                    .values(reserved_fen=ey.reserved_fen - amount)
                    .execution_options(synchronize_session=False))
    voucher.balance_fen -= amount
    voucher.returned_fen += amount
    session.add(voucher)
    return amount


def revoke(session: Session, *, voucher_id: str, principal: Principal,
           reason: str | None = None) -> Voucher:
    voucher = get_voucher(session, voucher_id, principal, for_update=True)
    if voucher.status in ("revoked", "expired"):
        raise InvalidState(f"voucher {voucher.code} is already {voucher.status}")
    require_open(get_year(session, voucher.year))
    # Its pending holds first, so the whole balance is the voucher's to return (docs/holds.md).
    hold_tally.void_pending(session, voucher_ids=[voucher.id],
                            reason=f"voucher revoked{': ' + reason if reason else ''}")
    returned = return_balance(session, voucher, kind="revoke")
    voucher.status = "revoked"
    voucher.revoked_at = clock.now()
    voucher.revoke_reason = reason
    session.add(voucher)
    audit.record(session, action="voucher.revoke", object_type="voucher", object_id=voucher.id,
                 summary={"returned_fen": returned, "reason": reason})
    return voucher


# --- applications --------------------------------------------------------------------------


def apply(session: Session, *, principal: Principal, data: ApplicationCreate) -> Application:
    budget = get_year(session, data.year)
    require_open(budget)
    enterprise = get_enterprise(session, principal.enterprise_id)
    if enterprise.credit_blocked:
        raise CreditBlocked("a credit-blocked enterprise may not apply for vouchers")
    today = clock.today()
    if not budget.application_opens_on <= today <= budget.application_closes_on:
        raise ApplicationWindowClosed(
            f"applications for {budget.year} are accepted from {budget.application_opens_on} "
            f"to {budget.application_closes_on}")
    application = Application(id=ids.new_id("app"), enterprise_id=enterprise.id,
                              year=data.year, requested_fen=data.requested_fen,
                              project_name=data.project_name, purpose=data.purpose,
                              review_level=budget.review_levels[0])
    session.add(application)
    session.flush()
    audit.record(session, action="application.submit", object_type="application",
                 object_id=application.id, summary=data.model_dump())
    return application


def get_application(session: Session, application_id: str, principal: Principal, *,
                    for_update: bool = False) -> Application:
    return one_readable(session, access.readable_applications(principal).where(
        Application.id == application_id), f"no application {application_id}",
        for_update=for_update)


def approve(session: Session, *, application_id: str, principal: Principal,
            approved_fen: int | None = None, valid_until: date | None = None,
            review_reason: str | None = None) -> Application:
    application = get_application(session, application_id, principal, for_update=True)
    if application.status != "submitted":
        raise InvalidState(f"application is already {application.status}")
    level = chain.require_final(session, "application", application)
    amount = approved_fen if approved_fen is not None else application.requested_fen
    if amount > application.requested_fen:
        raise ValidationFailed("approved_fen may not exceed the requested amount", errors=[
            FieldError(field="approved_fen",
                       message=f"at most the requested {application.requested_fen}")])
    voucher = issue(session, enterprise_id=application.enterprise_id, year=application.year,
                    face_fen=amount, valid_until=valid_until, application_id=application.id)
    application.status = "approved"
    application.approved_fen = amount
    application.voucher_id = voucher.id
    application.decided_at = clock.now()
    review = chain.finish(session, "application", application, level=level,
                          decision="approve", reason=review_reason, principal=principal)
    audit.record(session, action="application.approve", object_type="application",
                 object_id=application.id,
                 summary={"approved_fen": amount, "requested_fen": application.requested_fen,
                          "voucher_id": voucher.id, **review})
    return application


def reject(session: Session, *, application_id: str, principal: Principal,
           reason: str) -> Application:
    application = get_application(session, application_id, principal, for_update=True)
    if application.status != "submitted":
        raise InvalidState(f"application is already {application.status}")
    level = chain.waiting_level(session, application)
    application.status = "rejected"
    application.reason = reason
    application.decided_at = clock.now()
    review = chain.finish(session, "application", application, level=level,
                          decision="reject", reason=reason, principal=principal)
    audit.record(session, action="application.reject", object_type="application",
                 object_id=application.id, summary={"reason": reason, **review})
    return application


def application_public(session: Session, application: Application) -> dict:
    data = application.model_dump()
    voucher = session.get(Voucher, application.voucher_id) if application.voucher_id else None
    data["voucher"] = to_public(voucher) if voucher else None
    data["reviews"] = chain.reviews_of(session, "application", application.id)
    data["review_levels"] = chain.levels_of(session, application.year)
    return data


def unusable_reason(voucher: Any, today: date, year: int | None = None) -> str | None:
    """Why a voucher cannot be drawn on today — "expired", "revoked", "other_year" (not the
    budget year asked for), "exhausted" or "not_yet_valid" — or None when it can: the one
    definition of a usable voucher (the redemption rules, the portals and the demo use it).
    `voucher` is a Voucher or any row with its status, year, balance_fen and validity."""
    status = display_status(voucher, today)
    if status in ("expired", "revoked"):
        return status
    if year is not None and voucher.year != year:
        return "other_year"
    if status == "exhausted" or voucher.balance_fen <= 0:
        return "exhausted"
    if voucher.valid_from > today:
        return "not_yet_valid"
    return None


def draw_order(voucher: Any) -> tuple:
    """The order a redemption draws on an enterprise's usable vouchers: earliest expiry first,
    then oldest."""
    return voucher.valid_until, voucher.created_at, voucher.id


def usable_vouchers(session: Session, *, enterprise_id: str, year: int,
                    today: date) -> list[Voucher]:
    """The enterprise's vouchers a redemption for `year` may draw on, in draw order."""
    # populate_existing: a redemption writes balances with Core statements, so vouchers this
    # session loaded earlier must be read again, not taken from its identity map.
    mine = session.exec(select(Voucher).where(Voucher.enterprise_id == enterprise_id,
                                              Voucher.year == year)
                        .execution_options(populate_existing=True)).all()
    return sorted((v for v in mine if unusable_reason(v, today, year) is None), key=draw_order)
