"""The data the HTTP parts run against, set up fast through the service's own functions.

Registries, keys, vouchers and invoices go through the service functions (the same rules, ledger
transfers and audit events as the API, just without HTTP). Payments are then recorded in bulk with
SQL — the equivalent of `record_payment` for every invoice (paid_fen = total, one payment row) —
because one transaction per invoice would dominate the setup time.
"""

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import text
from sqlmodel import Session

from service.auth import service as auth_service
from service.auth.principal import SYSTEM, Principal
from service.invoices import service as invoices
from service.invoices.schemas import InvoiceCreate
from service.registry import service as registry
from service.registry.schemas import EnterpriseCreate, ProviderCreate
from service.uow import run_write
from service.kit.uscc import with_check_char
from service.vouchers import service as vouchers
from service.years import service as years
from service.years.schemas import YearCreate

_serial = itertools.count(1)
_uscc_serial = itertools.count(1)


def uscc() -> str:
    n = next(_uscc_serial)
    return with_check_char(f"91210200{n:09d}")


def invoice_number(prefix: str = "26") -> str:
    return f"{prefix}{next(_serial):018d}"


def invoice_payload(enterprise_uscc: str, year: int, n: int, prefix: str = "26") -> dict:
    """One month of GPU compute with a small storage line (not eligible)."""
    month = 1 + n % 10
    gpu = 100_000 + (n % 50) * 1_000
    storage = 5_000 + (n % 7) * 100
    total = gpu + storage
    start = date(year, month, 1)
    end = date(year, month, 28)
    return {"invoice_number": invoice_number(prefix), "enterprise_uscc": enterprise_uscc,
            "issued_on": end.isoformat(), "service_start": start.isoformat(),
            "service_end": end.isoformat(), "contract_number": f"HT-{year}-{n % 997:04d}",
            "total_fen": total, "tax_fen": total * 6 // 106,
            "lines": [{"category": "gpu", "description": "GPU 算力服务", "quantity": "720",
                       "unit": "卡时", "unit_price_fen": 0, "amount_fen": gpu},
                      {"category": "storage", "description": "对象存储", "quantity": "1",
                       "unit": "月", "unit_price_fen": storage, "amount_fen": storage}]}


@dataclass
class Party:
    id: str
    uscc: str
    key: str
    invoices: list[str] = field(default_factory=list)
    vouchers: list[str] = field(default_factory=list)


@dataclass
class World:
    year: int
    admin_key: str
    providers: list[Party]
    enterprises: list[Party]
    hot: Party | None  # the one enterprise of the contended run


def _tx(engine, fn, principal: Principal = SYSTEM):
    return run_write(engine, fn, principal=principal, request_id="bench")


def build(engine, *, year: int, enterprises: int, invoices_per_enterprise: int,
          providers: int = 10, hot_invoices: int = 0, hot_vouchers: int = 16,
          settlement_mode: str = "reimbursement") -> World:
    _tx(engine, lambda s: years.create_year(s, YearCreate(
        year=year, pool_fen=10**14, settlement_mode=settlement_mode), by=SYSTEM))
    admin = _tx(engine, lambda s: auth_service.create_key(s, role="admin", name="bench admin"))[1]

    def make_parties(session: Session):
        provs, ents = [], []
        for i in range(providers):
            p = registry.create_provider(session, ProviderCreate(uscc=uscc(),
                                                                 name=f"算力服务商{i}"))
            registry.set_approval(session, year, p.id, True)
            _, key = auth_service.create_key(session, role="provider", name=f"prov {i}",
                                             provider_id=p.id)
            provs.append(Party(p.id, p.uscc, key))
        for i in range(enterprises + (1 if hot_invoices else 0)):
            e = registry.create_enterprise(session, EnterpriseCreate(
                uscc=uscc(), name=f"企业{i}", district="高新园区"))
            _, key = auth_service.create_key(session, role="enterprise", name=f"ent {i}",
                                             enterprise_id=e.id)
            ents.append(Party(e.id, e.uscc, key))
        return provs, ents
    provs, ents = _tx(engine, make_parties)
    hot = ents.pop() if hot_invoices else None

    # Vouchers: enough for every invoice's subsidy (≤ 44,700 fen each), within the 2M-yuan cap.
    def issue(session: Session):
        for e in ents:
            face = min(200_000_000, 50_000 * invoices_per_enterprise + 1_000_000)
            e.vouchers.append(vouchers.issue(session, enterprise_id=e.id, year=year,
                                             face_fen=face).id)
        if hot:
            face = min(200_000_000 // hot_vouchers, 50_000 * hot_invoices // hot_vouchers
                       + 1_000_000)
            for _ in range(hot_vouchers):
                hot.vouchers.append(vouchers.issue(session, enterprise_id=hot.id, year=year,
                                                   face_fen=face).id)
    _tx(engine, issue)

    # Invoices in 1000-invoice batches through the service, each enterprise from one provider.
    pending: dict[int, list[tuple[Party, dict]]] = {i: [] for i in range(len(provs))}
    n = 0
    for idx, e in enumerate(ents):
        for _ in range(invoices_per_enterprise):
            pending[idx % len(provs)].append((e, invoice_payload(e.uscc, year, n)))
            n += 1
    if hot:
        for _ in range(hot_invoices):
            pending[0].append((hot, invoice_payload(hot.uscc, year, n)))
            n += 1
    for pidx, items in pending.items():
        for party, inv in _post(engine, provs[pidx], items):
            party.invoices.append(inv["id"])

    def pay_all(session: Session):
        session.execute(text(
            "INSERT INTO invoice_payment (id, invoice_id, amount_fen, paid_on, created_at) "
            "SELECT 'pay_' || substr(id, 5), id, total_fen - paid_fen, issued_on, :now "
            "FROM invoice WHERE paid_fen < total_fen"), {"now": datetime.now(timezone.utc)})
        session.execute(text("UPDATE invoice SET paid_fen = total_fen WHERE paid_fen < total_fen"))
    _tx(engine, pay_all)
    return World(year=year, admin_key=admin, providers=provs, enterprises=ents, hot=hot)


def _post(engine, provider: Party, items: list[tuple[Party, dict]]) -> list[tuple[Party, object]]:
    principal = Principal(key_id="bench", name="bench", role="provider", provider_id=provider.id)
    posted = []
    for start in range(0, len(items), 1000):
        chunk = items[start:start + 1000]
        rows = _tx(engine, lambda s, c=chunk, p=principal: invoices.post_invoices(
            s, principal=p, items=[InvoiceCreate(**d) for _, d in c]), principal)
        posted += list(zip((party for party, _ in chunk), rows))
    return posted


def unpaid_invoices(engine, w: World, *, enterprises: int, per_enterprise: int) -> list[list]:
    """Fresh unpaid invoices for the first `enterprises` enterprises of a built world, posted by
    the provider that already serves each; for every enterprise, its [(provider key, invoice
    id), ...]. The payment load then records payments on them."""
    out: list[list] = []
    pending: dict[int, list[tuple[Party, dict]]] = {}
    for idx, e in enumerate(w.enterprises[:enterprises]):
        out.append([])
        for k in range(per_enterprise):
            pending.setdefault(idx % len(w.providers), []).append(
                (e, invoice_payload(e.uscc, w.year, idx * per_enterprise + k, prefix="27")))
    for pidx, items in pending.items():
        prov = w.providers[pidx]
        for party, inv in _post(engine, prov, items):
            out[w.enterprises.index(party)].append((prov.key, inv["id"]))
    return out
