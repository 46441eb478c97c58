"""`voucher demo`: fill an empty database with a realistic simulated budget year (PRODUCT.md §6).

Everything goes through the same service functions the API calls, one transaction per logical
step (a registry import, an application, the bureau's review of the day's applications, a
provider's invoice batch, a provider's weekly payment run, an enterprise's monthly redemption
session, a settlement step), each an audited unit of work through `service.uow.run_write`, the
runner every HTTP write uses. The principals are the bureau (admin) and each provider and
enterprise (bound to their own id); no API keys are created.

The simulation walks the business calendar from the first working day of January up to today
(the current year, the default) or to 31 December (a past year; a year after today is refused),
so nothing it writes is dated after today and the console's "data as of" is true. While it
runs, `service.clock.now` returns the simulated instant (restored afterwards; never later than
the real now), so application windows, voucher validity, redemption deadlines and every
created_at timestamp follow the simulated months. Business dates the services take as arguments
(issue dates, service periods, payment dates, settlement cutoffs) are passed explicitly.

What the year looks like:
- the default policy (20 million yuan pool, 30 %, 2 million yuan cap, reimbursement mode);
- Dalian enterprises and institutions with valid USCCs, most applying in Q1, a few approved
  for less than requested, a few rejected, a few vouchers issued directly by the bureau,
  supplementary applications from enterprises that use up their voucher (approved as far as the
  pool and the enterprise cap allow), and a few late applications still waiting for review;
- compute providers on the approved list (one added in spring, one never approved), a few
  related-party pairs and claims under other programmes (就高不重复) whose invoices are never
  subsidised;
- invoices rising month by month to a Q4 peak (today's month only for the days so far), mostly
  GPU/NPU/accelerator lines with some storage, network, security and CPU lines, prepaid and
  postpaid, quarterly packages, a few service periods crossing into or out of the year, a few
  legacy VAT invoices;
- payments recorded in weekly runs (most in full, some partially, a few never), redemptions
  after payment, red-letter reversals before payment, before settlement and after settlement
  (clawbacks), one credit block with its vouchers revoked and one voucher revoked when a project
  stopped;
- forty days before the end the bureau lowers the review threshold (to 30), so some of the
  last redemptions are held for review and the review queue has open cases;
- two settlement batches: cutoff 30 June, approved and paid; and the last month end that leaves
  a week before the end (30 November for a run on 7 December or a past year), created and still
  waiting in the review chain.

The run is deterministic for a seed: the same seed and year give the same figures (ids and
voucher codes are random, as the service makes them). It refuses a database that already holds
a budget year, an enterprise or a provider; a run that fails half-way leaves what it wrote, so
start again from a fresh database. Because it replaces the process-wide clock while it runs,
do not run it inside a process that is serving requests.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service import clock
from service.audit.models import AuditEvent
from service.auth.principal import Principal
from service.db import run_transaction
from service.uow import run_write
from service.errors import DomainError, NothingToRedeem
from service.invoices import service as invoices_service
from service.invoices.models import Invoice, InvoiceLine, InvoicePayment, InvoiceReversal
from service.invoices.schemas import MAX_BATCH, InvoiceCreate, PaymentCreate, ReversalCreate
from service.ledger import service as ledger
from service.ledger.models import LedgerAccount
from service.redemptions import service as redemptions
from service.redemptions.models import Clawback, Redemption
from service.registry import service as registry
from service.registry.models import (
    ApprovedProvider,
    Enterprise,
    OtherSubsidy,
    Provider,
    RelatedParty,
)
from service.registry.schemas import (
    EnterpriseCreate,
    EnterpriseUpdate,
    OtherSubsidyCreate,
    ProviderCreate,
    RelatedPartyCreate,
)
from service.settlements import service as settlements
from service.settlements.models import Settlement
from service.uscc import with_check_char
from service.vouchers import service as vouchers
from service.vouchers.models import Application, Voucher
from service.vouchers.schemas import ApplicationCreate
from service.years import service as years
from service.years.models import BudgetYear
from service.years.schemas import YearCreate, YearUpdate


class DatabaseNotEmpty(DomainError):
    status = 409
    code = "database_not_empty"
    title = "The demo only fills an empty database"


YUAN = 100
WAN = 10_000 * YUAN  # 万元
MIN_VOUCHER_FEN = 1 * WAN
REQUEST_ID = "demo"
# The review threshold the bureau sets for the last weeks, so a few redemptions are held.
REVIEW_THRESHOLD_LATE = 30

# --- word lists ------------------------------------------------------------------------------

# District → administrative division code (the 3rd–8th characters of a USCC), with a weight:
# the high-tech zone and the central districts hold most of the digital economy.
DISTRICTS = [
    ("高新园区", "210231", 30), ("甘井子区", "210211", 16), ("中山区", "210202", 12),
    ("沙河口区", "210204", 10), ("西岗区", "210203", 8), ("金州区", "210213", 10),
    ("旅顺口区", "210212", 4), ("普兰店区", "210214", 3), ("瓦房店市", "210281", 3),
    ("庄河市", "210283", 2), ("长海县", "210224", 1),
]
CORES = ["海创", "星河", "云帆", "智海", "华信", "远洋", "博瑞", "天图", "辰光", "启明", "泰达",
         "恒远", "瀚海", "鲲鹏", "澜舟", "港湾", "蓝鲸", "极光", "曜石", "北辰", "新港", "滨城",
         "金石", "银帆", "融科", "凌云", "深蓝", "卓越", "和信", "聚能", "知行", "睿思", "长兴",
         "碧海", "临港", "航远", "明德", "星海", "东港", "老虎滩", "金沙", "棒棰", "渤海", "黄海",
         "辽东", "连城", "滨海", "海韵", "远景", "弘毅", "鼎盛", "众联", "同创", "中科", "华晟",
         "宏图", "锦程", "九章", "天元", "经纬"]
INDUSTRIES = ["智能科技", "信息技术", "数据科技", "软件", "生物科技", "智能制造", "机器人",
              "自动驾驶", "医疗科技", "海洋科技", "新材料", "航运科技", "金融信息服务",
              "数字科技", "网络科技", "人工智能", "精细化工", "船舶设计", "智慧物流", "文化传媒",
              "能源科技", "半导体", "工业互联网", "遥感信息"]
INSTITUTES = ["人工智能研究院", "智能计算研究所", "海洋信息研究院", "先进制造研究院",
              "生物医药研究院", "化工过程研究所", "工业软件研究院", "数字经济研究中心"]
PROVIDER_FORMS = ["大连{core}算力科技有限公司", "{core}云计算（大连）有限公司",
                  "大连{core}智算中心有限公司", "大连{core}数据中心有限公司",
                  "{core}智能算力（辽宁）有限公司", "大连{core}超算科技有限公司"]
PROJECT_DOMAINS = ["工业视觉质检大模型训练", "港口集装箱智能调度", "海洋牧场环境感知",
                   "化工过程优化仿真", "智能网联汽车感知模型", "医学影像辅助诊断",
                   "金融风控大模型微调", "船舶设计CFD仿真", "新药分子筛选", "城市交通信号优化",
                   "智慧农业病虫害识别", "多语种客服大模型", "遥感影像解译", "材料基因组计算",
                   "数字人直播内容生成", "工业机器人强化学习", "气象数值预报后处理",
                   "文旅多模态内容生成", "电力负荷预测", "智能制造数字孪生"]

# (category, description, unit, lowest unit price, highest unit price) in fen.
CATALOGUE = {
    "gpu": [("gpu", "NVIDIA A800 GPU 训练算力", "卡时", 900, 1400),
            ("gpu", "NVIDIA H800 GPU 训练算力", "卡时", 1800, 2600),
            ("gpu", "NVIDIA L20 GPU 推理算力", "卡时", 350, 600),
            ("gpu", "8卡 A800 GPU 云服务器（包月）", "台·月", 6_500_000, 9_000_000)],
    "npu": [("npu", "昇腾910B NPU 训练算力", "卡时", 700, 1100),
            ("npu", "昇腾310P NPU 推理算力", "卡时", 150, 300),
            ("npu", "昇腾 AI 训练集群节点（包月）", "节点·月", 4_500_000, 7_000_000)],
    "accelerator": [("accelerator", "寒武纪 MLU370 推理加速", "卡时", 250, 450),
                    ("accelerator", "海光 DCU 加速计算", "卡时", 500, 800),
                    ("accelerator", "FPGA 加速实例", "实例·月", 300_000, 800_000)],
}
EXTRAS = [  # (probability, lowest share, highest share, line)
    (0.35, 0.04, 0.12, ("storage", "高性能并行文件存储", "TB·月", 30_000, 60_000)),
    (0.12, 0.01, 0.04, ("storage", "对象存储", "TB·月", 8_000, 15_000)),
    (0.20, 0.01, 0.05, ("network", "数据中心专线带宽", "Mbps·月", 5_000, 12_000)),
    (0.06, 0.01, 0.03, ("network", "公网出口流量", "GB", 50, 90)),
    (0.05, 0.02, 0.05, ("security", "云安全防护服务", "月", 200_000, 500_000)),
    (0.05, 0.03, 0.08, ("cpu", "通用计算 CPU 云主机", "核·月", 4_000, 9_000)),
]
SPECIALTIES = [("gpu", 50), ("npu", 35), ("accelerator", 15)]

# Invoice count by month (Feb: Spring Festival), rising to a Q4 peak; and amount drift.
MONTH_VOLUME = [5, 3, 6, 7, 7, 8, 8, 8, 9, 10, 12, 14]
MONTH_AMOUNT = [0.85, 0.8, 0.9, 0.9, 0.95, 1.0, 1.0, 1.0, 1.05, 1.1, 1.15, 1.2]
# When enterprises first apply: mostly in the first quarter, none in the last two months.
APPLY_MONTH = [30, 20, 18, 10, 7, 5, 4, 3, 2, 1, 0, 0]
REJECT_REASONS = ["项目不属于智能算力应用范畴", "申报材料不完整，算力采购合同缺失",
                  "项目已获其他财政资金支持"]
REVERSAL_REASONS = ["服务量核减", "计费差错更正", "合同变更退费"]
# Where each party is paid (a batch cannot be approved for a beneficiary without an account).
BANKS = ["中国工商银行大连分行", "中国建设银行大连分行", "中国银行大连分行",
         "中国农业银行大连分行", "交通银行大连分行", "招商银行大连分行", "大连银行"]


def _bank_facts(kind: int, idx: int) -> dict[str, str]:
    """A party's own account from its place in the plan (1 enterprise, 2 provider): drawing it
    from the seeded random stream would change the rest of the simulated year."""
    return {"bank_name": BANKS[idx % len(BANKS)], "bank_account": f"3400{kind}{idx:014d}"}

# Priorities within one simulated day.
P_SETUP, P_BUREAU, P_APPLY, P_DECIDE, P_POST, P_PAY, P_REVERSE, P_REDEEM, P_SETTLE = range(9)


# --- the plan --------------------------------------------------------------------------------

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


def _month_end(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _workday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _workday_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _on_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _org_code(rng: random.Random) -> str:
    """A GB 11714 organisation code: 8 digits and its mod-11 check character."""
    body = [rng.randrange(10) for _ in range(8)]
    check = 11 - sum(v * w for v, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return "".join(map(str, body)) + {10: "X", 11: "0"}.get(check, str(check))


class _SimClock:
    """Replaces clock.now: the simulated day, advancing a little with every transaction."""

    def __init__(self, ceiling: datetime) -> None:
        self.at = datetime(2000, 1, 1, tzinfo=clock.SHANGHAI)
        self.ceiling = ceiling  # the real now: nothing simulated happens after it

    def now(self) -> datetime:
        return self.at

    def step(self, day: date) -> None:
        opening = datetime.combine(day, time(9, 0), tzinfo=clock.SHANGHAI)
        closing = datetime.combine(day, time(20, 0), tzinfo=clock.SHANGHAI)
        if day == self.ceiling.date():  # today: the morning so far, or the night before it
            opening = min(opening, self.ceiling - timedelta(minutes=30))
            closing = min(closing, self.ceiling - timedelta(minutes=5))
        if self.at < opening:
            self.at = opening
        elif self.at + timedelta(seconds=20) < closing:
            self.at += timedelta(seconds=20)
        else:  # a very busy day: keep the instants ordered without leaving the day
            self.at += timedelta(milliseconds=1)


class _Demo:
    def __init__(self, engine: Engine, *, seed: int, year: int, enterprises: int,
                 providers: int, invoices: int, now: datetime):
        self.engine = engine
        self.rng = random.Random(seed)
        self.seed = seed
        self.year = year
        self.n_enterprises = enterprises
        self.n_providers = providers
        self.n_invoices = invoices
        self.sim = _SimClock(now)
        self.first_day = _workday(date(year, 1, 2))
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

    # --- running steps --------------------------------------------------------------------

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

    # --- planning -------------------------------------------------------------------------

    def plan(self) -> None:
        self._plan_parties()
        self._plan_invoices()
        self._plan_calendar()

    def _unique_uscc(self, taken: set[str], prefix: str, division: str) -> str:
        while True:
            code = with_check_char(prefix + division + self._org_code())
            if code not in taken:
                taken.add(code)
                return code

    def _org_code(self) -> str:
        return _org_code(self.rng)

    def _plan_parties(self) -> None:
        rng = self.rng
        taken_uscc: set[str] = set()
        taken_names: set[str] = set()

        def unique_name(make: Callable[[], str]) -> str:
            for _ in range(200):
                name = make()
                if name not in taken_names:
                    taken_names.add(name)
                    return name
            n = 2
            base = make()
            while f"{base}（{n}）" in taken_names:
                n += 1
            taken_names.add(f"{base}（{n}）")
            return f"{base}（{n}）"

        for i in range(self.n_providers):
            name = unique_name(lambda: rng.choice(PROVIDER_FORMS).format(core=rng.choice(CORES)))
            specialty = rng.choices([s for s, _ in SPECIALTIES], [w for _, w in SPECIALTIES])[0]
            prices = {}
            for items in CATALOGUE.values():
                for _cat, desc, _unit, low, high in items:
                    prices[desc] = rng.randint(low, high)
            for _p, _lo, _hi, (_cat, desc, _unit, low, high) in EXTRAS:
                prices[desc] = rng.randint(low, high)
            self.providers.append(PlannedProvider(
                idx=i, uscc=self._unique_uscc(taken_uscc, "91", "210231"), name=name,
                specialty=specialty, weight=min(rng.paretovariate(1.1), 20.0), prices=prices))
        if self.n_providers >= 4:
            self.providers[-1].approval = "spring"
        if self.n_providers >= 8:
            self.providers[-2].approval = "never"
            self.providers[-2].weight = 0.3  # a small local reseller

        sizes = [min(rng.paretovariate(1.2), 60.0) for _ in range(self.n_enterprises)]
        demand = 0.85 * self.pool_fen * min(1.0, self.n_enterprises / 300)
        total_size = sum(sizes)
        provider_weights = [p.weight for p in self.providers]
        for i, size in enumerate(sizes):
            district, division, _ = rng.choices(DISTRICTS, [w for *_, w in DISTRICTS])[0]
            if rng.random() < 0.08:
                prefix = "12"
                name = unique_name(lambda: f"大连{rng.choice(CORES)}{rng.choice(INSTITUTES)}")
            else:
                prefix = "91"
                suffix = "股份有限公司" if rng.random() < 0.15 else "有限公司"
                name = unique_name(lambda suffix=suffix: f"大连{rng.choice(CORES)}"
                                                         f"{rng.choice(INDUSTRIES)}{suffix}")
            request = int(demand * size / total_size)
            request = max(MIN_VOUCHER_FEN, min(self.cap_fen, request // (1000 * YUAN) * 1000
                                               * YUAN))
            spend = int(request / 0.3 * rng.uniform(0.9, 1.6))
            k = rng.choices([1, 2, 3], [50, 35, 15])[0]
            chosen: list[int] = []
            while len(chosen) < min(k, self.n_providers):
                p = rng.choices(range(self.n_providers), provider_weights)[0]
                if p not in chosen:
                    chosen.append(p)
            self.enterprises.append(PlannedEnterprise(
                idx=i, uscc=self._unique_uscc(taken_uscc, prefix, division), name=name,
                district=district, spend_fen=spend, request_fen=request, providers=chosen,
                redeem_day=rng.randint(3, 26)))

    def _lines(self, provider: PlannedProvider, amount: int) -> list[dict]:
        rng = self.rng
        extras = []
        share_left = 1.0
        for probability, low, high, line in EXTRAS:
            if rng.random() < probability:
                share = rng.uniform(low, high)
                extras.append((line, amount * share))
                share_left -= share
        compute = [(rng.choice(CATALOGUE[provider.specialty]), amount * share_left)]
        if rng.random() < 0.25:  # a second compute product, sometimes of another kind
            other = rng.choices(list(CATALOGUE), [6, 3, 1])[0]
            second = rng.choice(CATALOGUE[other])
            split = rng.uniform(0.15, 0.45)
            compute = [(compute[0][0], amount * share_left * (1 - split)),
                       (second, amount * share_left * split)]
        lines = []
        for (category, desc, unit, _low, _high), target in compute + extras:
            price = provider.prices[desc]
            if price > target:
                if category not in CATALOGUE:
                    continue  # a service dearer than this bill's share: not on this invoice
                # A monthly package dearer than the spend: billed by the hour instead.
                _c, desc, unit, _l, _h = min(CATALOGUE[category],
                                             key=lambda c: provider.prices[c[1]])
                price = provider.prices[desc]
            quantity = max(1, round(target / price))
            lines.append({"category": category, "description": desc, "quantity": quantity,
                          "unit": unit, "unit_price_fen": price, "amount_fen": quantity * price})
        return lines

    def _plan_invoices(self) -> None:
        rng, y = self.rng, self.year
        if not self.n_invoices or not self.enterprises or not self.providers:
            return
        weights = [(e.spend_fen / WAN) ** 0.7 for e in self.enterprises]
        owners = rng.choices(range(self.n_enterprises), weights, k=self.n_invoices)
        today = self.last_day  # the month of today gets its share for the days so far
        months = rng.choices(range(1, today.month + 1), [
            MONTH_VOLUME[m - 1] * (today.day / _month_end(y, m).day if m == today.month else 1)
            for m in range(1, today.month + 1)], k=self.n_invoices)
        count = defaultdict(int)
        for owner in owners:
            count[owner] += 1
        for idx, (owner, month) in enumerate(zip(owners, months, strict=True)):
            e = self.enterprises[owner]
            provider_idx = rng.choices(e.providers, [7, 2, 1][:len(e.providers)])[0]
            provider = self.providers[provider_idx]
            start, end = date(y, month, 1), _month_end(y, month)
            kind = rng.random()
            length = 1
            if kind < 0.40:
                issued = start  # prepaid
            elif kind < 0.92:
                issued = end  # postpaid
            elif kind < 0.97:
                length = 3  # quarterly package, prepaid
                last = _add_months(start, 2)
                end = _month_end(last.year, last.month)
                issued = start
            else:
                start = date(y, month, rng.randint(2, 20))  # started mid-month
                issued = end
            if start > today:  # a service that has not started yet: one from the 1st
                start = date(y, month, 1)
            if issued > today:  # a bill not yet due: billed in advance instead
                issued = start
            amount = (e.spend_fen / count[owner] * rng.uniform(0.5, 1.5)
                      * MONTH_AMOUNT[month - 1] * length)
            amount = max(2_000 * YUAN, amount)
            contract = (None if rng.random() < 0.1 else
                        f"DL-{y}-{provider.idx + 1:03d}-{owner + 1:04d}")
            self.invoices.append(PlannedInvoice(
                idx=idx, provider=provider_idx, enterprise=owner, issued_on=issued,
                service_start=start, service_end=end, lines=self._lines(provider, amount),
                contract_number=contract, posting_day=issued,
                redeem=rng.random() < 0.93))
        # A few service periods crossing the year boundary, either way (prepaid packages).
        crossing = max(2, self.n_invoices // 100)
        early = [inv for inv in self.invoices if inv.service_start.month == 1]
        late = [inv for inv in self.invoices if inv.service_start.month >= 11
                and inv.service_end.year == y]
        for inv in rng.sample(early, min(len(early), crossing // 2)):
            inv.service_start = date(y - 1, rng.choice([11, 12]), 1)
            inv.issued_on = inv.service_start
            inv.service_end = date(y, 1, 31)
        for inv in rng.sample(late, min(len(late), crossing - crossing // 2)):
            inv.service_start = date(y, inv.service_start.month, 1)
            inv.issued_on = inv.service_start
            inv.service_end = _month_end(y + 1, rng.choice([1, 2, 3]))
        for inv in self.invoices:  # month-end invoices go out with the next day's batch
            month_end = inv.issued_on == _month_end(inv.issued_on.year, inv.issued_on.month)
            inv.posting_day = max(self.first_day, min(self.last_day, inv.issued_on + timedelta(
                days=1 if month_end else 0)))
        # Numbers follow each provider's issuing order; a few are legacy VAT invoices.
        per_provider = defaultdict(int)
        for inv in sorted(self.invoices, key=lambda i: (i.issued_on, i.idx)):
            per_provider[inv.provider] += 1
            n = per_provider[inv.provider]
            yy = inv.issued_on.year % 100
            if rng.random() < 0.05:
                inv.code = f"2102{yy:02d}11{inv.provider + 1:03d}1"
                inv.number = f"{n:08d}"
            else:
                inv.number = f"{yy:02d}212{inv.provider + 1:03d}{n:012d}"

    def _plan_calendar(self) -> None:
        rng, y = self.rng, self.year
        self.at(self.first_day, P_SETUP, "setup", "bureau")
        # Enterprises apply (or the bureau issues directly to a key project).
        for e in self.enterprises:
            r = rng.random()
            month = rng.choices(range(1, 13), APPLY_MONTH)[0]
            day = _workday(max(self.first_day + timedelta(days=1),
                               date(y, month, rng.randint(1, 28))))
            if r < 0.03 and day <= self.last_day:
                e.applying = True
                self.at(day, P_DECIDE, "direct_issue", "bureau", e.idx)
            elif r < 0.93 and day <= self.last_day:
                e.applying = True
                self.at(day, P_APPLY, "apply", ("ent", e.idx), self._application(e, e.request_fen))
            else:  # applies in the last days: the application still waits for review
                e.applying = True
                late = _workday_before(self.last_day - timedelta(days=rng.randint(0, 4)))
                plan = self._application(e, e.request_fen)
                plan["delay"] = 7 + plan["delay"]  # decided after today
                self.at(max(self.first_day + timedelta(days=1), late), P_APPLY, "apply",
                        ("ent", e.idx), plan)
        # Provider postings, then payments in weekly runs.
        for inv in self.invoices:
            self.at(inv.posting_day, P_POST, "post", ("prv", inv.provider), inv.idx)
            total = inv.total_fen
            delay = rng.randint(0, 12) if inv.issued_on == inv.service_start else \
                rng.randint(5, 45)
            paid_on = inv.issued_on + timedelta(days=delay)
            r = rng.random()
            if r < 0.03:
                continue  # disputed: never paid
            if r < 0.15:
                first = max(YUAN, int(total * rng.uniform(0.3, 0.8)) // YUAN * YUAN)
                self._payment(inv, paid_on, first)
                if rng.random() < 0.6:
                    self._payment(inv, paid_on + timedelta(days=rng.randint(20, 90)),
                                  total - first)
            else:
                self._payment(inv, paid_on, total)
        # A spring addition to the approved list; red-letter reversals; credit actions.
        for p in self.providers:
            if p.approval == "spring":
                self.at(_workday(date(y, 4, 15)), P_BUREAU, "approve_provider", "bureau", p.idx)
        n_rev = max(3, self.n_invoices // 200) if self.n_invoices else 0
        after = max(1, round(n_rev * 0.4))
        before = max(1, round(n_rev * 0.4))
        for kind, count, low, high in (("after", after, date(y, 8, 3), date(y, 10, 30)),
                                       ("before", before, date(y, 7, 20), date(y, 11, 25)),
                                       ("unpaid", n_rev - after - before, date(y, 2, 1),
                                        date(y, 11, 25))):
            for _ in range(max(0, count)):
                day = _workday(low + timedelta(days=rng.randint(0, (high - low).days)))
                full = rng.random() < 0.25
                fraction = 1.0 if full else rng.uniform(0.1, 0.5)
                self.at(day, P_REVERSE, "reverse", "slot", (kind, fraction, rng.random()))
        if self.n_enterprises >= 10:
            self.at(_workday(date(y, 9, 15)), P_BUREAU, "credit_block", "bureau", rng.random())
            self.at(_workday(date(y, 10, 20)), P_BUREAU, "stop_project", "bureau", rng.random())
        # Before the last weeks, the bureau holds more redemptions for review (risk flags).
        tighten = _workday_before(self.last_day - timedelta(days=40))
        if tighten > self.first_day + timedelta(days=7):
            self.at(tighten, P_BUREAU, "tighten_review", "bureau")
        self._plan_settlements()

    def _plan_settlements(self) -> None:
        """A mid-year batch, approved and paid, and the batch of the last month end that
        leaves a week for it: created, and still in review today."""
        rng, y = self.rng, self.year
        ends = [_month_end(y, m) for m in range(7, 13)]
        last = [end for end in ends if _workday(end + timedelta(days=6)) <= self.last_day]
        for cutoff in sorted({date(y, 6, 30), *last[-1:]}):
            create = _workday(cutoff + timedelta(days=6))
            approve = _workday(create + timedelta(days=2))
            pay = _workday(approve + timedelta(days=5))
            in_review = bool(last) and cutoff == last[-1]
            ref = f"DLCZ{y}{pay.month:02d}{pay.day:02d}{rng.randint(1000, 9999)}"
            self.at(create, P_SETTLE, "settle", "bureau",
                    (cutoff, None, None, None) if in_review else (cutoff, approve, pay, ref))

    def _application(self, e: PlannedEnterprise, requested: int) -> dict:
        rng = self.rng
        domain = rng.choice(PROJECT_DOMAINS)
        r = rng.random()
        outcome = ("reject", rng.choice(REJECT_REASONS)) if r < 0.04 else \
            ("approve", rng.uniform(0.6, 0.9)) if r < 0.22 else ("approve", 1.0)
        return {"requested": requested, "project": f"{domain}项目",
                "purpose": f"采购智能算力开展{domain}，预计年度算力采购约"
                           f"{max(1, e.spend_fen // WAN)}万元",
                "outcome": outcome, "delay": rng.randint(2, 10)}

    def _payment(self, inv: PlannedInvoice, paid_on: date, amount: int) -> None:
        if amount <= 0 or paid_on > self.last_day:
            return
        record = max(_on_weekday(paid_on, 4), inv.posting_day)  # Friday runs
        self.at(min(record, self.last_day), P_PAY, "pay", ("prv", inv.provider),
                (inv.idx, paid_on, amount))

    # --- executing ------------------------------------------------------------------------

    GROUPED = ("post", "pay", "redeem", "decide")

    def run(self) -> None:
        self.plan()
        while self.queue:
            day = self.queue[0][0]
            todays = []
            while self.queue and self.queue[0][0] == day:
                todays.append(heapq.heappop(self.queue))
            # One transaction per provider batch, payment run or redemption session; every
            # other event is a step of its own. Steps run in priority, then planning, order.
            groups: dict[tuple, tuple[int, list]] = {}
            for _day, priority, seq, kind, actor, payload in todays:
                key = (priority, kind, actor) if kind in self.GROUPED else \
                    (priority, kind, actor, seq)
                groups.setdefault(key, (seq, []))[1].append(payload)
            for key, (_seq, payloads) in sorted(groups.items(), key=lambda g: (g[0][0], g[1][0])):
                kind, actor = key[1], key[2]
                handler = getattr(self, f"_do_{kind}")
                handler(day, actor, payloads if kind in self.GROUPED else payloads[0])

    def _do_setup(self, day: date, _actor, _payload) -> None:
        y = self.year

        def setup(session: Session) -> None:
            budget = years.create_year(session, YearCreate(year=y))
            self.pool_fen, self.cap_fen = budget.pool_fen, budget.enterprise_cap_fen
            for p in self.providers:
                p.id = registry.create_provider(
                    session, ProviderCreate(uscc=p.uscc, name=p.name,
                                            **_bank_facts(2, p.idx))).id
                if p.approval == "january":
                    registry.set_approval(session, y, p.id, True)
        self.tx(day, self.bureau, setup)
        for p in self.providers:
            p.listed = p.approval == "january"
        for start in range(0, len(self.enterprises), 100):  # the registry import, in parts
            self.tx(day, self.bureau, self._register(self.enterprises[start:start + 100]))
        self.at(_workday(day + timedelta(days=1)), P_SETUP, "exclusions", "bureau")

    @staticmethod
    def _register(chunk: list[PlannedEnterprise]) -> Callable[[Session], None]:
        def register(session: Session) -> None:
            for e in chunk:
                e.id = registry.create_enterprise(session, EnterpriseCreate(
                    uscc=e.uscc, name=e.name, district=e.district,
                    **_bank_facts(1, e.idx))).id
        return register

    def _do_exclusions(self, day: date, _actor, _payload) -> None:
        """Related-party pairs and other-programme claims, registered with the registry."""
        rng = self.rng
        if self.n_enterprises < 10 or not self.invoices:
            return
        used = sorted({(inv.enterprise, inv.provider) for inv in self.invoices})
        contracts = sorted({(inv.enterprise, inv.contract_number) for inv in self.invoices
                            if inv.contract_number})
        pairs = rng.sample(used, min(len(used), max(1, self.n_enterprises // 150)))
        claims = rng.sample(contracts, min(len(contracts), max(1, self.n_enterprises // 100)))
        amounts = [rng.randint(5, 50) * WAN for _ in claims]

        def register(session: Session) -> None:
            for e_idx, p_idx in pairs:
                registry.create_related_party(session, RelatedPartyCreate(
                    enterprise_id=self.enterprises[e_idx].id,
                    provider_id=self.providers[p_idx].id,
                    reason="服务商为企业的控股子公司（关联交易）"))
            for (e_idx, contract), amount in zip(claims, amounts, strict=True):
                registry.create_other_subsidy(session, OtherSubsidyCreate(
                    enterprise_id=self.enterprises[e_idx].id, programme="辽宁省算力券（省级）",
                    contract_number=contract, amount_fen=amount))
        self.tx(day, self.bureau, register)
        self.related.update(pairs)
        self.claimed_contracts.update(contract for _e, contract in claims)

    def _do_approve_provider(self, day: date, _actor, p_idx: int) -> None:
        p = self.providers[p_idx]
        self.tx(day, self.bureau, lambda s: registry.set_approval(s, self.year, p.id, True))
        p.listed = True
        for inv_idx in self.provider_waiting.pop(p_idx, []):
            self._schedule_redeem(day, inv_idx)

    def _do_apply(self, day: date, actor, plan: dict) -> None:
        e = self.enterprises[actor[1]]
        if e.blocked:
            e.applying = False
            return
        principal = self.ent_principal(e)
        data = ApplicationCreate(year=self.year, requested_fen=plan["requested"],
                                 project_name=plan["project"], purpose=plan["purpose"])
        app_id = self.tx(day, principal,
                         lambda s: vouchers.apply(s, principal=principal, data=data).id)
        self.at(_workday(day + timedelta(days=plan["delay"])), P_DECIDE, "decide", "bureau",
                (e.idx, app_id, plan["outcome"]))

    def _room(self, session: Session, enterprise_id: str) -> int:
        pool = ledger.get_or_create_account(session, self.year, "pool").balance_fen
        cap_left = self.cap_fen - vouchers.reserved_for(session, enterprise_id, self.year)
        return min(pool, cap_left)

    def _do_decide(self, day: date, _actor, payloads: list[tuple]) -> None:
        """The day's review session: each application approved (perhaps for less) or rejected."""

        def decide(session: Session) -> list[int | None]:
            return [self._decide(session, *payload) for payload in payloads]
        amounts = self.tx(day, self.bureau, decide)
        for (e_idx, _app, _outcome), amount in zip(payloads, amounts, strict=True):
            self._voucher_arrived(day, self.enterprises[e_idx], amount)

    def _decide(self, session: Session, e_idx: int, app_id: str,
                outcome: tuple[str, Any]) -> int | None:
        e = self.enterprises[e_idx]
        verdict, detail = outcome
        reason = None
        if e.blocked:
            reason = "申请单位已被列入信用惩戒名单"
        elif verdict == "reject":
            reason = detail
        else:
            requested = vouchers.get_application(session, app_id, self.bureau).requested_fen
            amount = int(requested * detail) // (1000 * YUAN) * 1000 * YUAN
            amount = min(requested, max(MIN_VOUCHER_FEN, amount), self._room(session, e.id))
            if amount < MIN_VOUCHER_FEN:
                reason = "本年度算力券额度已用完或已达单户年度上限"
        if reason:
            vouchers.reject(session, application_id=app_id, principal=self.bureau, reason=reason)
            return None
        vouchers.approve(session, application_id=app_id, principal=self.bureau,
                         approved_fen=amount)
        return amount

    def _do_direct_issue(self, day: date, _actor, e_idx: int) -> None:
        e = self.enterprises[e_idx]

        def issue(session: Session) -> int | None:
            amount = min(e.request_fen, self._room(session, e.id))
            if amount < MIN_VOUCHER_FEN:
                return None
            vouchers.issue(session, enterprise_id=e.id, year=self.year, face_fen=amount)
            return amount
        self._voucher_arrived(day, e, self.tx(day, self.bureau, issue))

    def _voucher_arrived(self, day: date, e: PlannedEnterprise, amount: int | None) -> None:
        e.applying = False
        if not amount:
            e.waiting.clear()  # nothing to redeem with: those invoices stay unsubsidised
            return
        e.has_voucher = True
        waiting, e.waiting = e.waiting, []
        for inv_idx in waiting:
            self._schedule_redeem(day, inv_idx)

    def _do_post(self, day: date, actor, payloads: list[int]) -> None:
        principal = self.prv_principal(self.providers[actor[1]])
        for start in range(0, len(payloads), MAX_BATCH):
            chunk = [self.invoices[i] for i in payloads[start:start + MAX_BATCH]]
            posted = self.tx(day, principal, self._poster(principal, chunk))
            for inv, invoice_id in zip(chunk, posted, strict=True):
                inv.id = invoice_id

    def _poster(self, principal: Principal,
                chunk: list[PlannedInvoice]) -> Callable[[Session], list[str]]:
        items = [InvoiceCreate(
            invoice_number=inv.number, invoice_code=inv.code,
            enterprise_uscc=self.enterprises[inv.enterprise].uscc, issued_on=inv.issued_on,
            service_start=inv.service_start, service_end=inv.service_end,
            contract_number=inv.contract_number, total_fen=inv.total_fen,
            tax_fen=inv.total_fen * 6 // 106, lines=inv.lines) for inv in chunk]

        def post(session: Session) -> list[str]:
            return [row["id"] for row in invoices_service.post_invoices(
                session, principal=principal, items=items)]
        return post

    def _do_pay(self, day: date, actor, payloads: list[tuple]) -> None:
        principal = self.prv_principal(self.providers[actor[1]])
        runs = []  # never more than what is still owed after red-letter reversals
        for inv_idx, paid_on, amount in payloads:
            inv = self.invoices[inv_idx]
            amount = min(amount, inv.total_fen - inv.reversed_fen - inv.paid_fen)
            if amount > 0:
                runs.append((inv, PaymentCreate(amount_fen=amount, paid_on=paid_on)))
        if not runs:
            return

        def pay(session: Session) -> None:
            for inv, data in runs:
                invoices_service.record_payment(session, invoice_id=inv.id, principal=principal,
                                                data=data)
        self.tx(day, principal, pay)
        for inv, data in runs:
            inv.paid_fen += data.amount_fen
            if inv.paid_fen >= inv.total_fen - inv.reversed_fen or self.rng.random() < 0.5:
                self._want_redeem(day, inv)

    def _excluded(self, inv: PlannedInvoice) -> bool:
        """Invoices the service would refuse: the demo's enterprises know better than to try."""
        return ((inv.enterprise, inv.provider) in self.related
                or inv.contract_number in self.claimed_contracts
                or self.providers[inv.provider].approval == "never")

    def _want_redeem(self, day: date, inv: PlannedInvoice) -> None:
        e = self.enterprises[inv.enterprise]
        if not inv.redeem or e.blocked or self._excluded(inv):
            return
        if e.has_voucher:
            self._schedule_redeem(day, inv.idx)
        elif e.applying and inv.idx not in e.waiting:
            e.waiting.append(inv.idx)

    def _schedule_redeem(self, day: date, inv_idx: int) -> None:
        if inv_idx in self.pending_redeem:
            return
        inv = self.invoices[inv_idx]
        e = self.enterprises[inv.enterprise]
        when = day + timedelta(days=self.rng.randint(1, 5))
        if when.day > e.redeem_day:
            when = _add_months(when, 1)
        when = _workday(when.replace(day=e.redeem_day))
        if when <= self.last_day:
            self.pending_redeem.add(inv_idx)
            self.at(when, P_REDEEM, "redeem", ("ent", e.idx), inv_idx)

    def _do_redeem(self, day: date, actor, payloads: list[int]) -> None:
        e = self.enterprises[actor[1]]
        principal = self.ent_principal(e)
        self.pending_redeem.difference_update(payloads)
        if e.blocked:
            return

        def redeem(session: Session) -> tuple[list, list, list, int]:
            usable = vouchers.usable_vouchers(session, enterprise_id=e.id, year=self.year,
                                              today=day)
            done, no_voucher, unapproved = [], [], []
            for inv_idx in payloads:
                inv = self.invoices[inv_idx]
                if self._excluded(inv):
                    continue
                if not self.providers[inv.provider].listed:
                    unapproved.append(inv_idx)  # tried again once the provider is listed
                    continue
                if not usable:
                    no_voucher.append(inv_idx)
                    continue
                try:
                    with session.begin_nested():
                        redemptions.redeem(session, principal=principal, invoice_id=inv.id)
                except NothingToRedeem:
                    continue  # e.g. reversed in full after it was paid
                done.append(inv_idx)
                usable = vouchers.usable_vouchers(session, enterprise_id=e.id, year=self.year,
                                                  today=day)
            room = self._room(session, e.id) if not usable else 0
            return done, no_voucher, unapproved, room
        done, no_voucher, unapproved, room = self.tx(day, principal, redeem)
        for inv_idx in unapproved:
            self.provider_waiting[self.invoices[inv_idx].provider].append(inv_idx)
        for inv_idx in done:
            self.invoices[inv_idx].redeemed_on.append(day)
        if no_voucher:
            e.has_voucher = False
            e.waiting.extend(i for i in no_voucher if i not in e.waiting)
            # Used up: apply once more for the rest of the year while the pool lasts.
            if (not e.supplemented and not e.stopped and room >= MIN_VOUCHER_FEN
                    and day <= date(self.year, 11, 15)):
                e.supplemented = e.applying = True
                want = int(e.request_fen * self.rng.uniform(0.5, 1.0))
                want = max(MIN_VOUCHER_FEN, min(room, want) // (1000 * YUAN) * 1000 * YUAN)
                self.at(_workday(day + timedelta(days=self.rng.randint(3, 12))), P_APPLY,
                        "apply", ("ent", e.idx), self._application(e, want))
            else:
                e.waiting.clear()

    def _do_reverse(self, day: date, _actor, payload: tuple) -> None:
        kind, fraction, pick = payload
        cutoff1 = date(self.year, 6, 30)
        if kind == "after":  # settled and paid in the first batch: a clawback follows
            candidates = [i for i in self.invoices if i.redeemed_on and not i.reversed
                          and max(i.redeemed_on) <= cutoff1]
        elif kind == "before":  # redeemed recently, not yet in a batch: vouchers get it back
            candidates = [i for i in self.invoices if i.redeemed_on and not i.reversed
                          and min(i.redeemed_on) > cutoff1
                          and (day - max(i.redeemed_on)).days <= 60]
        else:  # a wrong invoice corrected before it was paid
            candidates = [i for i in self.invoices if i.id and not i.paid_fen and not i.reversed
                          and i.posting_day < day]
        if not candidates:
            return
        inv = candidates[int(pick * len(candidates))]
        inv.reversed = True
        p = self.providers[inv.provider]
        principal = self.prv_principal(p)
        number = f"{day.year % 100:02d}218{p.idx + 1:03d}{inv.idx + 1:012d}"

        net = inv.total_fen - inv.reversed_fen
        data = ReversalCreate(
            invoice_number=number, issued_on=day,
            amount_fen=net if fraction >= 1 else max(1, int(net * fraction)),
            reason="发票信息有误，全额红冲" if fraction >= 1 else
            REVERSAL_REASONS[inv.idx % len(REVERSAL_REASONS)])
        self.tx(day, principal, lambda s: invoices_service.reverse(
            s, invoice_id=inv.id, principal=principal, data=data))
        inv.reversed_fen += data.amount_fen

    def _pick_enterprise(self, pick: float) -> PlannedEnterprise | None:
        candidates = [e for e in self.enterprises if e.has_voucher and not e.stopped]
        return candidates[int(pick * len(candidates))] if candidates else None

    def _revoke_all(self, session: Session, e: PlannedEnterprise, reason: str) -> None:
        for voucher in session.exec(select(Voucher).where(
                Voucher.enterprise_id == e.id, Voucher.year == self.year,
                Voucher.status.in_(("active", "exhausted"))).order_by(Voucher.created_at)).all():
            vouchers.revoke(session, voucher_id=voucher.id, principal=self.bureau, reason=reason)

    def _do_credit_block(self, day: date, _actor, pick: float) -> None:
        e = self._pick_enterprise(pick)
        if e is None:
            return
        reason = "列入失信被执行人名单（信用中国）"

        def block(session: Session) -> None:
            registry.update_enterprise(session, e.id, EnterpriseUpdate(credit_blocked=True,
                                                                       reason=reason))
            self._revoke_all(session, e, reason)
        self.tx(day, self.bureau, block)
        e.blocked, e.has_voucher, e.stopped = True, False, True
        e.waiting.clear()

    def _do_stop_project(self, day: date, _actor, pick: float) -> None:
        e = self._pick_enterprise(pick)
        if e is None:
            return
        self.tx(day, self.bureau, lambda s: self._revoke_all(
            s, e, "项目终止，企业申请注销剩余算力券"))
        e.has_voucher, e.stopped = False, True
        e.waiting.clear()

    def _do_settle(self, day: date, _actor, payload: tuple) -> None:
        cutoff, approve_on, pay_on, reference = payload
        instant = datetime.combine(cutoff, time(23, 59, 59), tzinfo=clock.SHANGHAI)

        def create(session: Session) -> str | None:
            if not session.exec(select(func.count()).select_from(Redemption).where(
                    Redemption.year == self.year, Redemption.status == "payable",
                    Redemption.settlement_id.is_(None),
                    Redemption.created_at <= instant)).one():
                return None  # nothing payable yet (a very small demo)
            return settlements.create(session, year=self.year, cutoff=instant).id
        settlement_id = self.tx(day, self.bureau, create)
        if settlement_id is not None and approve_on is not None:
            self.at(approve_on, P_SETTLE, "settle_approve", "bureau", settlement_id)
            self.at(pay_on, P_SETTLE, "settle_pay", "bureau", (settlement_id, reference))

    def _do_tighten_review(self, day: date, _actor, _payload) -> None:
        self.tx(day, self.bureau, lambda s: years.update_year(
            s, self.year, YearUpdate(review_threshold=REVIEW_THRESHOLD_LATE)))

    def _do_settle_approve(self, day: date, _actor, settlement_id: str) -> None:
        self.tx(day, self.bureau, lambda s: settlements.approve(s, settlement_id=settlement_id))

    def _do_settle_pay(self, day: date, _actor, payload: tuple) -> None:
        settlement_id, reference = payload
        self.tx(day, self.bureau, lambda s: settlements.pay(
            s, settlement_id=settlement_id, bank_reference=reference))


# --- entry points ----------------------------------------------------------------------------

def default_year(today: date | None = None) -> int:
    """The year whose vouchers can still be redeemed today: the current one (its redemption
    deadline, 31 January next year, is ahead)."""
    return (today or clock.today()).year


def _require_empty(engine: Engine) -> None:
    def check(session: Session) -> dict[str, int]:
        return {name: int(session.exec(select(func.count()).select_from(model)).one())
                for name, model in (("budget year(s)", BudgetYear),
                                    ("enterprise(s)", Enterprise), ("provider(s)", Provider))}
    found = {k: v for k, v in run_transaction(engine, check).items() if v}
    if found:
        raise DatabaseNotEmpty("the demo only fills an empty database, and this one already has "
                               + ", ".join(f"{v} {k}" for k, v in found.items())
                               + "; point DATABASE_URL at a new database and migrate it first")


def run_demo(engine: Engine, *, seed: int = 2026, year: int | None = None,
             enterprises: int = 300, providers: int = 30, invoices: int = 3000) -> dict:
    """Fill an empty, migrated database with one simulated budget year; return a summary."""
    if enterprises < 1 or providers < 1 or invoices < 0:
        raise ValueError("the demo needs at least one enterprise and one provider")
    year = year if year is not None else default_year()
    if not 2001 <= year <= 2099:
        raise ValueError("year must be between 2001 and 2099")
    _require_empty(engine)
    now = clock.now()
    if year > now.year:
        raise ValueError(f"the demo simulates up to today ({now.date()}); {year} is ahead")
    demo = _Demo(engine, seed=seed, year=year, enterprises=enterprises, providers=providers,
                 invoices=invoices, now=now)
    real_now = clock.now
    clock.now = demo.sim.now
    try:
        demo.run()
    finally:
        clock.now = real_now
    result = summary(engine, year)
    result["seed"] = seed
    result["transactions"] = demo.transactions
    return result


def summary(engine: Engine, year: int) -> dict:
    """Counts and budget figures of one year, the budget read from the ledger accounts."""

    def read(session: Session) -> dict:
        def count(model, *where) -> int:
            return int(session.exec(select(func.count()).select_from(model).where(*where)).one())

        def by_status(model) -> dict[str, int]:
            rows = session.exec(select(model.status, func.count()).where(model.year == year)
                                .group_by(model.status)).all()
            return {status: int(n) for status, n in sorted(rows)}

        balances: dict[str, int] = defaultdict(int)
        for kind, balance in session.exec(
                select(LedgerAccount.kind,
                       func.sum(LedgerAccount.credits_posted_fen - LedgerAccount.debits_posted_fen))
                .where(LedgerAccount.year == year).group_by(LedgerAccount.kind)).all():
            balances[kind] = int(balance or 0)
        pool_fen = -balances["funding"]
        batches = session.exec(select(Settlement).where(Settlement.year == year)
                               .order_by(Settlement.cutoff)).all()
        return {
            "year": year,
            "enterprises": count(Enterprise),
            "credit_blocked": count(Enterprise, Enterprise.credit_blocked.is_(True)),
            "providers": count(Provider),
            "approved_providers": count(ApprovedProvider, ApprovedProvider.year == year),
            "related_parties": count(RelatedParty),
            "other_subsidies": count(OtherSubsidy),
            "applications": by_status(Application),
            "vouchers": by_status(Voucher),
            "invoices": count(Invoice),
            "invoice_lines": count(InvoiceLine),
            "invoiced_fen": int(session.exec(select(func.coalesce(func.sum(Invoice.total_fen), 0))
                                             ).one()),
            "payments": count(InvoicePayment),
            "reversals": count(InvoiceReversal),
            "redemptions": by_status(Redemption),
            "clawbacks": count(Clawback, Clawback.year == year),
            "settlements": [{"cutoff": s.cutoff.date().isoformat(), "status": s.status,
                             "total_fen": s.total_fen} for s in batches],
            "audit_events": count(AuditEvent),
            "budget": {
                "pool_fen": pool_fen,
                "available_fen": balances["pool"],
                "issued_fen": pool_fen - balances["pool"],  # net of balances returned
                "outstanding_fen": balances["voucher"],
                "redeemed_fen": (balances["payable"] + balances["held"] + balances["paid"]
                                 + balances["receivable"]),  # held: redeemed, under review
                "payable_fen": balances["payable"],
                "paid_fen": balances["paid"],
                "clawed_back_fen": balances["clawed_back"],
                "clawback_owed_fen": -balances["receivable"],
            },
        }
    return run_transaction(engine, read)
