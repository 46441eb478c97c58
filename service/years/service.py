"""Budget years and their policy (PRODUCT.md §3.1)."""

from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from service.audit import service as audit
from service.auth.principal import Principal
from service.kit.errors import (
    AlreadyExists,
    FieldError,
    NotFound,
    PolicyLocked,
    ValidationFailed,
    YearClosed,
)
from service.ledger import service as ledger
from service.risk import policy as risk_policy
from service.reviewchain import placement
from service.vouchers.models import Voucher
from service.years.models import DEFAULT_ELIGIBLE, BudgetYear, PolicyVersion
from service.years import calendar
from service.years.schemas import Calendar, YearCreate, YearUpdate

DEFAULT_POOL_FEN = 2_000_000_000  # 20 million yuan
DEFAULT_RATE_BP = 3000
DEFAULT_CAP_FEN = 200_000_000  # 2 million yuan
DEFAULT_ALERT_THRESHOLDS_BP = [8000, 9500]
DEFAULT_REVIEW_LEVELS = ["city"]
# Process rules, not money rules: they may change after the first voucher (audited, and
# applying to what has not yet passed the changed part).
CHANGEABLE_WHEN_LOCKED = ("alert_thresholds_bp", "review_levels")
POLICY_FIELDS = ("pool_fen", "rate_bp", "category_rates_bp", "enterprise_cap_fen",
                 "eligible_categories", "settlement_mode", "application_opens_on",
                 "application_closes_on", "eligible_from", "redemption_deadline",
                 "alert_thresholds_bp", "review_levels")
# After the first voucher, only these may change, and only in the widening direction.
WIDENING = {"application_opens_on": -1, "application_closes_on": 1, "redemption_deadline": 1}
# The risk settings (docs/risk.md) stay changeable after the first voucher, like the alerts.
RISK_FIELDS = ("risk_rules", "review_threshold", "second_review_threshold")
POLICY_FIELDS += RISK_FIELDS
CHANGEABLE_WHEN_LOCKED += RISK_FIELDS
# The notice (docs/notice.md) is a process rule too: it applies to batches approved after it.
POLICY_FIELDS += ("notice_working_days",)
CHANGEABLE_WHEN_LOCKED += ("notice_working_days",)


def defaults(year: int) -> dict[str, Any]:
    return {
        "pool_fen": DEFAULT_POOL_FEN, "rate_bp": DEFAULT_RATE_BP, "category_rates_bp": {},
        "enterprise_cap_fen": DEFAULT_CAP_FEN, "eligible_categories": list(DEFAULT_ELIGIBLE),
        "settlement_mode": "reimbursement", "application_opens_on": date(year, 1, 1),
        # An invoice whose service crosses into this year was issued the year before, and its
        # in-year days qualify (PRODUCT.md §5a example 2), so the default reaches back a year.
        "application_closes_on": date(year, 12, 31), "eligible_from": date(year - 1, 1, 1),
        "redemption_deadline": date(year + 1, 1, 31),
        "alert_thresholds_bp": list(DEFAULT_ALERT_THRESHOLDS_BP),
        "review_levels": list(DEFAULT_REVIEW_LEVELS),
        "risk_rules": risk_policy.effective({}),
        "review_threshold": risk_policy.DEFAULT_REVIEW_THRESHOLD,
        "second_review_threshold": risk_policy.DEFAULT_SECOND_REVIEW_THRESHOLD,
        "notice_working_days": 0,
    }


def policy_of(year: BudgetYear) -> dict[str, Any]:
    return {f: getattr(year, f) for f in POLICY_FIELDS}


def _check_policy(policy: dict[str, Any]) -> None:
    errors = []
    for category, bp in policy["category_rates_bp"].items():
        if not 0 <= bp <= 10_000:
            errors.append(FieldError(field=f"category_rates_bp.{category}",
                                     message="a rate is 0..10000 basis points"))
    if policy["application_opens_on"] > policy["application_closes_on"]:
        errors.append(FieldError(field="application_closes_on",
                                 message="must not be before application_opens_on"))
    if policy["eligible_from"] > policy["redemption_deadline"]:
        errors.append(FieldError(field="redemption_deadline",
                                 message="must not be before eligible_from"))
    if any(not 0 < t <= 10_000 for t in policy["alert_thresholds_bp"]):
        errors.append(FieldError(field="alert_thresholds_bp", message="each is 1..10000 bp"))
    if errors:
        raise ValidationFailed("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def _json_policy(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in policy.items()}


def create_year(session: Session, data: YearCreate, *, by: Principal | None) -> BudgetYear:
    """A new budget year, funded and its accounts opened; `by` is who creates it (its first
    policy version names them)."""
    if session.get(BudgetYear, data.year) is not None:
        raise AlreadyExists(f"budget year {data.year} already exists")
    policy = defaults(data.year)
    policy.update(data.model_dump(exclude_unset=True, exclude={"year"}, exclude_none=True))
    policy["risk_rules"] = risk_policy.merged({}, policy["risk_rules"])
    policy["eligible_categories"] = list(dict.fromkeys(policy["eligible_categories"]))
    _check_policy(policy)
    year = BudgetYear(year=data.year, **policy)
    session.add(year)
    session.flush()
    session.add(PolicyVersion(year=year.year, version=1, policy=_json_policy(policy),
                              created_by=by.key_id if by else None))
    funding = ledger.get_or_create_account(session, year.year, "funding")
    pool = ledger.get_or_create_account(session, year.year, "pool")
    for kind in ("paid", "clawed_back"):
        ledger.get_or_create_account(session, year.year, kind)
    if year.pool_fen > 0:
        ledger.post(session, year=year.year, debit=funding, credit=pool, amount_fen=year.pool_fen,
                    kind="fund", reference=f"year:{year.year}")
    audit.record(session, action="year.create", object_type="budget_year",
                 object_id=str(year.year), summary=_json_policy(policy))
    return year


def get_year(session: Session, year: int, *, for_update: bool = False) -> BudgetYear:
    row = session.get(BudgetYear, year, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"budget year {year} does not exist")
    return row


def require_open(year: BudgetYear) -> None:
    if year.status == "closed":
        raise YearClosed(f"budget year {year.year} is closed")


def is_locked(session: Session, year: int) -> bool:
    return session.exec(select(func.count()).select_from(Voucher)
                        .where(Voucher.year == year)).one() > 0


def update_year(session: Session, year_number: int, data: YearUpdate, *,
                by: Principal | None) -> BudgetYear:
    year = get_year(session, year_number, for_update=True)
    require_open(year)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    current = policy_of(year)
    current["risk_rules"] = risk_policy.effective(current["risk_rules"])
    if "risk_rules" in changes:
        changes["risk_rules"] = risk_policy.merged(current["risk_rules"], changes["risk_rules"])
    changes = {k: v for k, v in changes.items() if v != current[k]}
    if not changes:
        return year
    if is_locked(session, year.year):
        for field, value in changes.items():
            direction = WIDENING.get(field)
            widens = direction is not None and (value - current[field]).days * direction > 0
            if field not in CHANGEABLE_WHEN_LOCKED and not widens:
                raise PolicyLocked(
                    f"vouchers of {year.year} have been issued: {field} can no longer change "
                    "(only the application window and the redemption deadline may be widened)")
    new_policy = {**current, **changes}
    _check_policy(new_policy)
    if "pool_fen" in changes:
        delta = changes["pool_fen"] - year.pool_fen
        funding = ledger.get_or_create_account(session, year.year, "funding")
        pool = ledger.get_or_create_account(session, year.year, "pool")
        if delta > 0:
            ledger.post(session, year=year.year, debit=funding, credit=pool, amount_fen=delta,
                        kind="fund", reference=f"year:{year.year}")
        elif delta < 0:
            ledger.post(session, year=year.year, debit=pool, credit=funding, amount_fen=-delta,
                        kind="defund", reference=f"year:{year.year}")
    for field, value in changes.items():
        setattr(year, field, value)
    year.policy_version += 1
    if "review_levels" in changes:
        placement.replace_waiting(session, year.year, list(changes["review_levels"]),
                        version=year.policy_version)
    session.add(year)
    session.add(PolicyVersion(year=year.year, version=year.policy_version,
                              policy=_json_policy(new_policy), created_by=by.key_id if by else None))
    audit.record(session, action="year.update", object_type="budget_year",
                 object_id=str(year.year),
                 summary={"version": year.policy_version,
                          "changes": _json_policy(changes),
                          "before": _json_policy({k: current[k] for k in changes})})
    return year


def set_calendar(session: Session, year_number: int, data: Calendar) -> BudgetYear:
    """Replace the year's calendar (audited). A date may not be both a holiday and a workday.
    A closed year keeps its calendar: its batches may still be in notice."""
    year = get_year(session, year_number, for_update=True)
    holidays, workdays = sorted(set(data.holidays)), sorted(set(data.workdays))
    both = sorted(set(holidays) & set(workdays))
    if both:
        raise ValidationFailed(
            f"workdays: {both[0]} is also listed as a holiday",
            errors=[FieldError(field="workdays", message=f"{d} is also listed in holidays")
                    for d in both])
    before = calendar_of(year)
    year.holidays = [d.isoformat() for d in holidays]
    year.workdays = [d.isoformat() for d in workdays]
    session.add(year)
    audit.record(session, action="year.calendar", object_type="budget_year",
                 object_id=str(year.year),
                 summary={"holidays": year.holidays, "workdays": year.workdays,
                          "before": {k: [d.isoformat() for d in v] for k, v in before.items()}})
    return year


def calendar_of(year: BudgetYear) -> dict[str, list[date]]:
    """The year's calendar as dates: {holidays, workdays}."""
    return {"holidays": [date.fromisoformat(d) for d in year.holidays or []],
            "workdays": [date.fromisoformat(d) for d in year.workdays or []]}


def add_working_days(year: BudgetYear, day: date, n: int) -> date:
    """The n-th working day after `day` on the year's calendar (years/calendar.py)."""
    return calendar.add_working_days(day, n, **calendar_of(year))


def to_public(session: Session, year: BudgetYear) -> dict[str, Any]:
    data = year.model_dump()
    data["policy_locked"] = is_locked(session, year.year)
    data["risk_rules"] = risk_policy.effective(year.risk_rules)
    return data


def rate_for(year: BudgetYear, category: str) -> int:
    """Basis points for a line category, or 0 when the category is not eligible this year."""
    if category not in year.eligible_categories:
        return 0
    return int(year.category_rates_bp.get(category, year.rate_bp))
