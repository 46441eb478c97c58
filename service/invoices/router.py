from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import select

from service.api import Cursor, Limit, Page, SessionDep, Writer, allow, paginate, writer
from service.auth.principal import Principal
from service.errors import problem_responses
from service.uow import Locks
from service.invoices import service
from service.invoices.models import Invoice
from service.invoices.schemas import (
    InvoiceBatch,
    InvoiceBatchResult,
    InvoiceCreate,
    InvoicePublic,
    PaymentCreate,
    ReversalCreate,
    UsageStatementCreate,
    UsageStatementPublic,
)

router = APIRouter(tags=["invoices"])
ProviderWriter = Annotated[Writer, Depends(writer("provider"))]
Reader = Annotated[Principal, Depends(allow("admin", "auditor", "provider", "enterprise"))]


@router.post("/v1/invoices", status_code=201, response_model=InvoicePublic,
             operation_id="createInvoice", responses=problem_responses(401, 403, 409, 422))
async def create_invoice(body: InvoiceCreate, w: ProviderWriter):
    return await w.submit(w.write(
        lambda s: service.post_invoices(s, principal=w.principal, items=[body])[0],
        status_code=201))


@router.post("/v1/invoices/batch", status_code=201, response_model=InvoiceBatchResult,
             operation_id="createInvoiceBatch", responses=problem_responses(401, 403, 413, 422))
async def create_invoice_batch(body: InvoiceBatch, w: ProviderWriter):
    return await w.submit(w.write(
        lambda s: {"items": service.post_invoices(s, principal=w.principal, items=body.invoices)},
        status_code=201, solo=True))  # up to 1000 invoices: a batch of its own


@router.get("/v1/invoices", response_model=Page[InvoicePublic], operation_id="listInvoices",
            responses=problem_responses(401, 403, 422))
def list_invoices(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
                  enterprise_id: Annotated[str | None, Query(max_length=40)] = None,
                  provider_id: Annotated[str | None, Query(max_length=40)] = None,
                  invoice_number: Annotated[str | None, Query(max_length=20)] = None,
                  year: Annotated[int | None, Query(ge=2000, le=2100)] = None):
    stmt = select(Invoice)
    if principal.role == "provider":
        stmt = stmt.where(Invoice.provider_id == principal.provider_id)
    elif principal.role == "enterprise":
        stmt = stmt.where(Invoice.enterprise_id == principal.enterprise_id)
    if enterprise_id:
        stmt = stmt.where(Invoice.enterprise_id == enterprise_id)
    if provider_id:
        stmt = stmt.where(Invoice.provider_id == provider_id)
    if invoice_number:
        stmt = stmt.where(Invoice.invoice_number == invoice_number)
    return paginate(session, stmt, Invoice.id, limit, cursor,
                    shape_page=lambda rows: service.to_public(session, rows, year))


@router.get("/v1/invoices/{invoice_id}", response_model=InvoicePublic, operation_id="getInvoice",
            responses=problem_responses(401, 403, 404, 422))
def get_invoice(invoice_id: str, session: SessionDep, principal: Reader,
                year: Annotated[int | None, Query(ge=2000, le=2100)] = None):
    return service.to_public(session, [service.get_invoice(session, invoice_id, principal)],
                             year)[0]


@router.post("/v1/invoices/{invoice_id}/payments", status_code=201, response_model=InvoicePublic,
             operation_id="recordPayment", responses=problem_responses(401, 403, 404, 409, 422))
async def record_payment(invoice_id: str, body: PaymentCreate, w: ProviderWriter):
    """Record money the provider received; answers with the updated invoice."""
    return await w.submit(w.write(group=service.pay_group,
                                  args=service.PaymentRequest(invoice_id, body),
                                  locks=Locks(invoice_ids=(invoice_id,)), status_code=201))


@router.post("/v1/invoices/{invoice_id}/reversals", status_code=201, response_model=InvoicePublic,
             operation_id="createReversal", responses=problem_responses(401, 403, 404, 409, 422))
async def create_reversal(invoice_id: str, body: ReversalCreate, w: ProviderWriter):
    """Post a red-letter invoice (红冲); answers with the reduced original invoice."""
    def reverse(session):
        reversal = service.reverse(session, invoice_id=invoice_id, principal=w.principal,
                                   data=body)
        return _invoice(session, reversal.invoice_id)
    return await w.submit(w.write(reverse, status_code=201))


def _invoice(session, invoice_id: str) -> dict:
    return service.to_public(session, [session.get(Invoice, invoice_id)])[0]


@router.post("/v1/usage-statements", status_code=201, response_model=UsageStatementPublic,
             operation_id="createUsageStatement", responses=problem_responses(401, 403, 422))
def create_usage_statement(body: UsageStatementCreate, w: ProviderWriter):
    return w.run(lambda s: service.post_usage_statement(s, principal=w.principal, data=body),
                 status_code=201)
