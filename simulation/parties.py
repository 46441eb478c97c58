"""The bureau's registry work in the simulated year: the budget year and the providers on the
first day, the enterprises imported in parts, related-party pairs and other-programme claims
the next working day, a provider approved in spring, and two enterprises whose vouchers are
revoked — one put on the credit blacklist, one whose project stopped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlmodel import Session, select

from service.registry import service as registry
from service.registry.schemas import (
    EnterpriseCreate,
    EnterpriseUpdate,
    OtherSubsidyCreate,
    ProviderCreate,
    RelatedPartyCreate,
)
from service.vouchers import service as vouchers
from service.vouchers.models import Voucher
from service.years import service as years
from service.years.schemas import YearCreate
from simulation.catalogue import WAN, bank_facts
from simulation.days import P_SETUP, workday
from simulation.redemptions import schedule_redeem
from simulation.state import Demo, PlannedEnterprise


def do_setup(demo: Demo, day: date, _actor, _payload) -> None:
    y = demo.year

    def setup(session: Session) -> None:
        budget = years.create_year(session, YearCreate(year=y), by=demo.bureau)
        demo.pool_fen, demo.cap_fen = budget.pool_fen, budget.enterprise_cap_fen
        for p in demo.providers:
            p.id = registry.create_provider(
                session, ProviderCreate(uscc=p.uscc, name=p.name,
                                        **bank_facts(2, p.idx))).id
            if p.approval == "january":
                registry.set_approval(session, y, p.id, True)
    demo.tx(day, demo.bureau, setup)
    for p in demo.providers:
        p.listed = p.approval == "january"
    for start in range(0, len(demo.enterprises), 100):  # the registry import, in parts
        demo.tx(day, demo.bureau, _register(demo.enterprises[start:start + 100]))
    demo.at(workday(day + timedelta(days=1)), P_SETUP, "exclusions", "bureau")


def _register(chunk: list[PlannedEnterprise]) -> Callable[[Session], None]:
    def register(session: Session) -> None:
        for e in chunk:
            e.id = registry.create_enterprise(session, EnterpriseCreate(
                uscc=e.uscc, name=e.name, district=e.district,
                **bank_facts(1, e.idx))).id
    return register


def do_exclusions(demo: Demo, day: date, _actor, _payload) -> None:
    """Related-party pairs and other-programme claims, registered with the registry."""
    rng = demo.rng
    if demo.n_enterprises < 10 or not demo.invoices:
        return
    used = sorted({(inv.enterprise, inv.provider) for inv in demo.invoices})
    contracts = sorted({(inv.enterprise, inv.contract_number) for inv in demo.invoices
                        if inv.contract_number})
    pairs = rng.sample(used, min(len(used), max(1, demo.n_enterprises // 150)))
    claims = rng.sample(contracts, min(len(contracts), max(1, demo.n_enterprises // 100)))
    amounts = [rng.randint(5, 50) * WAN for _ in claims]

    def register(session: Session) -> None:
        for e_idx, p_idx in pairs:
            registry.create_related_party(session, RelatedPartyCreate(
                enterprise_id=demo.enterprises[e_idx].id,
                provider_id=demo.providers[p_idx].id,
                reason="服务商为企业的控股子公司（关联交易）"))
        for (e_idx, contract), amount in zip(claims, amounts, strict=True):
            registry.create_other_subsidy(session, OtherSubsidyCreate(
                enterprise_id=demo.enterprises[e_idx].id, programme="辽宁省算力券（省级）",
                contract_number=contract, amount_fen=amount))
    demo.tx(day, demo.bureau, register)
    demo.related.update(pairs)
    demo.claimed_contracts.update(contract for _e, contract in claims)


def do_approve_provider(demo: Demo, day: date, _actor, p_idx: int) -> None:
    p = demo.providers[p_idx]
    demo.tx(day, demo.bureau, lambda s: registry.set_approval(s, demo.year, p.id, True))
    p.listed = True
    for inv_idx in demo.provider_waiting.pop(p_idx, []):
        schedule_redeem(demo, day, inv_idx)


def _pick_enterprise(demo: Demo, pick: float) -> PlannedEnterprise | None:
    candidates = [e for e in demo.enterprises if e.has_voucher and not e.stopped]
    return candidates[int(pick * len(candidates))] if candidates else None


def _revoke_all(demo: Demo, session: Session, e: PlannedEnterprise, reason: str) -> None:
    for voucher in session.exec(select(Voucher).where(
            Voucher.enterprise_id == e.id, Voucher.year == demo.year,
            Voucher.status.in_(("active", "exhausted"))).order_by(Voucher.created_at)).all():
        vouchers.revoke(session, voucher_id=voucher.id, principal=demo.bureau, reason=reason)


def do_credit_block(demo: Demo, day: date, _actor, pick: float) -> None:
    e = _pick_enterprise(demo, pick)
    if e is None:
        return
    reason = "列入失信被执行人名单（信用中国）"

    def block(session: Session) -> None:
        registry.update_enterprise(session, e.id, EnterpriseUpdate(credit_blocked=True,
                                                                   reason=reason))
        _revoke_all(demo, session, e, reason)
    demo.tx(day, demo.bureau, block)
    e.blocked, e.has_voucher, e.stopped = True, False, True
    e.waiting.clear()


def do_stop_project(demo: Demo, day: date, _actor, pick: float) -> None:
    e = _pick_enterprise(demo, pick)
    if e is None:
        return
    demo.tx(day, demo.bureau, lambda s: _revoke_all(
        demo, s, e, "项目终止，企业申请注销剩余算力券"))
    e.has_voucher, e.stopped = False, True
    e.waiting.clear()
