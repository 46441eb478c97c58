"""What the risk rules compare a redemption with: the facts of its parties and invoice and what
the year's earlier redemptions add up to (docs/risk.md). Filled by the redemption path for a
batch (service/risk/flags.py) and by the back-test for a year (service/risk/backtest.py)."""

from collections import defaultdict
from datetime import date, datetime
from typing import NamedTuple

from service.kit import clock
from service.risk import stats


class InvoiceInfo(NamedTuple):
    id: str
    invoice_number: str
    issued_on: date
    total_fen: int
    posted_on: date | None  # the Shanghai date it was posted


class Line(NamedTuple):
    line_no: int
    category: str
    unit: str
    unit_price_fen: int
    description: str


class Party(NamedTuple):
    id: str
    name: str
    uscc: str
    established_on: date | None
    raw: dict  # fact → as registered
    norm: dict  # fact → normalised


def aware(at: datetime | None) -> datetime | None:
    """A stored timestamp with its offset (SQLite gives back Shanghai wall time)."""
    return at.replace(tzinfo=clock.SHANGHAI) if at is not None and at.tzinfo is None else at


def local_day(at: datetime) -> date:
    """The Shanghai date of a stored timestamp (SQLite gives back Shanghai wall time)."""
    return (at if at.tzinfo is None else at.astimezone(clock.SHANGHAI)).date()



class Tally:
    """What the rules compare a redemption with (see the module docstring)."""

    def __init__(self) -> None:
        self.invoices: dict[str, InvoiceInfo] = {}
        self.lines: dict[str, list[Line]] = defaultdict(list)
        self.stats: dict[tuple[int, str, str], stats.Stat] = {}
        self.enterprises: dict[str, Party] = {}
        self.providers: dict[str, Party] = {}
        self.pair_total: dict[tuple, int] = defaultdict(int)  # (year, enterprise, provider)
        self.enterprise_total: dict[tuple, int] = defaultdict(int)  # (year, enterprise)
        self.pair_invoices: dict[tuple, dict[str, int]] = defaultdict(dict)  # → {invoice: net}
        # (year, provider) → {(fact, normalised): {enterprise ids that redeemed with it}}
        self.clients: dict[tuple, dict[tuple, set]] = defaultdict(lambda: defaultdict(set))
        self.posted: dict[tuple, int] = defaultdict(int)  # (provider, enterprise, day) → count
        self.clawbacks: dict[tuple, list[dict]] = defaultdict(list)  # (year, enterprise)

    def add(self, r: dict) -> None:
        """Count a redemption as an earlier one for what follows it."""
        year, e, p, net = r["year"], r["enterprise_id"], r["provider_id"], r["subsidy_fen"]
        self.pair_total[(year, e, p)] += net
        self.enterprise_total[(year, e)] += net
        pair = self.pair_invoices[(year, e, p)]
        pair[r["invoice_id"]] = pair.get(r["invoice_id"], 0) + net
        enterprise = self.enterprises.get(e)
        if enterprise is not None:
            for fact, value in enterprise.norm.items():
                self.clients[(year, p)][(fact, value)].add(e)

    def add_window(self, year: int, e: str, p: str, invoice_id: str, issued_on: date,
                   net: int) -> None:
        """An earlier redemption known only by its invoice (the batch path's window rows)."""
        pair = self.pair_invoices[(year, e, p)]
        pair[invoice_id] = pair.get(invoice_id, 0) + net
        if invoice_id not in self.invoices:
            self.invoices[invoice_id] = InvoiceInfo(invoice_id, "", issued_on, 0, None)
