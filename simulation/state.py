"""The simulation's state: the planned parties and invoices (with what has happened to them so
far), the queue of the year's events, and the one way a step writes — an audited unit of work
through `service.uow.run_write`, the runner every HTTP write uses, at the simulated instant."""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.auth.principal import Principal
from service.ledger import service as ledger
from service.uow import run_write
from service.vouchers import service as vouchers
from service.years import service as years
from simulation.days import SimClock, workday

REQUEST_ID = "demo"


@dataclass
class PlannedEnterprise:
    idx: int
    uscc: str
    name: str
    district: str
    spend_fen: int  # annual compute purchases
    request_fen: int
    providers: list[int]
    redeem_day: int  # the day of the month its staff file redemptions
    id: str = ""
    has_voucher: bool = False
    applying: bool = False  # an application is planned or awaiting a decision
    blocked: bool = False
    stopped: bool = False  # project terminated: no more applications
    supplemented: bool = False
    waiting: list[int] = field(default_factory=list)  # invoices to redeem once a voucher comes


@dataclass
class PlannedProvider:
    idx: int
    uscc: str
    name: str
    specialty: str
    weight: float
    prices: dict[str, int]
    approval: str = "january"  # january | spring | never
    id: str = ""
    listed: bool = False  # on the year's approved list


@dataclass
class PlannedInvoice:
    idx: int
    provider: int
    enterprise: int
    issued_on: date
    service_start: date
    service_end: date
    lines: list[dict]
    contract_number: str | None
    posting_day: date
    number: str = ""
    code: str | None = None
    redeem: bool = True
    id: str = ""
    reversed: bool = False
    paid_fen: int = 0
    reversed_fen: int = 0
    redeemed_on: list[date] = field(default_factory=list)

    @property
    def total_fen(self) -> int:
        return sum(line["amount_fen"] for line in self.lines)


class Demo:
    """One simulated year: the plan, the event queue and the running figures."""

    def __init__(self, engine: Engine, *, seed: int, year: int, enterprises: int,
                 providers: int, invoices: int, now: datetime):
        self.engine = engine
        self.rng = random.Random(seed)
        self.seed = seed
        self.year = year
        self.n_enterprises = enterprises
        self.n_providers = providers
        self.n_invoices = invoices
        self.sim = SimClock(now)
        self.first_day = workday(date(year, 1, 2))
        self.last_day = min(date(year, 12, 31), now.date())  # up to today, or a whole past year
        self.queue: list[tuple] = []
        self.seq = 0
        self.bureau = Principal(key_id="demo-bureau", name="市数据局（演示数据）", role="admin")
        self.enterprises: list[PlannedEnterprise] = []
        self.providers: list[PlannedProvider] = []
        self.invoices: list[PlannedInvoice] = []
        self.related: set[tuple[int, int]] = set()
        self.claimed_contracts: set[str] = set()
        self.pending_redeem: set[int] = set()
        self.provider_waiting: dict[int, list[int]] = defaultdict(list)
        self.transactions = 0
        self.pool_fen = years.DEFAULT_POOL_FEN
        self.cap_fen = years.DEFAULT_CAP_FEN

    def tx(self, day: date, principal: Principal, fn: Callable[[Session], Any]) -> Any:
        self.sim.step(day)
        self.transactions += 1
        return run_write(self.engine, fn, principal=principal, request_id=REQUEST_ID)

    def at(self, day: date, priority: int, kind: str, actor: Any, payload: Any = None) -> None:
        if day > self.last_day:
            return
        self.seq += 1
        heapq.heappush(self.queue, (day, priority, self.seq, kind, actor, payload))

    def ent_principal(self, e: PlannedEnterprise) -> Principal:
        return Principal(key_id=f"demo-{e.id}"[:40], name=e.name, role="enterprise",
                         enterprise_id=e.id)

    def prv_principal(self, p: PlannedProvider) -> Principal:
        return Principal(key_id=f"demo-{p.id}"[:40], name=p.name, role="provider",
                         provider_id=p.id)

    def room(self, session: Session, enterprise_id: str) -> int:
        """What the bureau can still give an enterprise: the pool, within its cap left."""
        pool = ledger.get_or_create_account(session, self.year, "pool").balance_fen
        cap_left = self.cap_fen - vouchers.reserved_for(session, enterprise_id, self.year)
        return min(pool, cap_left)
