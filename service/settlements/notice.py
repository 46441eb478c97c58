"""公示 before payment (issue 24 §1, docs/notice.md): the window an approved batch is published
for, counted in working days on its own budget year's calendar, and the refusal to pay before
the window has passed. The errors of the notice are declared here, once."""

from datetime import date
from typing import Any

from service.kit.errors import DomainError
from service.settlements.models import Settlement
from service.years.models import BudgetYear
from service.years.service import add_working_days


class NoticeRequired(DomainError):
    status = 409
    code = "notice_required"
    title = "The batch must be published (公示) before it is paid"


class NoticePeriod(DomainError):
    """Paying within the notice window; the problem names `notice_ends_on`."""

    status = 409
    code = "notice_period"
    title = "The batch is still in its notice period"

    def __init__(self, detail: str, *, notice_ends_on: date):
        super().__init__(detail)
        self.notice_ends_on = notice_ends_on

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "notice_ends_on": self.notice_ends_on.isoformat()}


class NoticeNotUsed(DomainError):
    status = 409
    code = "notice_not_used"
    title = "The batch's year has no notice step"


def window(year: BudgetYear, today: date) -> tuple[date, date]:
    """(notice_starts_on, notice_ends_on): the next working day after today, and the last of
    the year's notice_working_days working days."""
    n = year.notice_working_days
    return add_working_days(year, today, 1), add_working_days(year, today, n)


def require_payable(settlement: Settlement, year: BudgetYear, today: date) -> None:
    """Refuse to pay an approved batch that the year's notice has not yet let through: never
    published while the year asks for notice, or still inside its window (the day after
    notice_ends_on is the first it may be paid)."""
    if settlement.status == "approved" and year.notice_working_days > 0:
        raise NoticeRequired(
            f"budget year {year.year} publishes a batch for {year.notice_working_days} working "
            f"days before payment: POST /v1/settlements/{settlement.id}/publish first")
    if settlement.status == "in_notice" and today <= settlement.notice_ends_on:
        raise NoticePeriod(
            f"the batch is in notice until {settlement.notice_ends_on}; it may be paid from "
            "the day after", notice_ends_on=settlement.notice_ends_on)


def is_open(settlement: Settlement, today: date) -> bool:
    """Objections are received while the batch is in notice up to notice_ends_on."""
    return settlement.status == "in_notice" and today <= settlement.notice_ends_on
