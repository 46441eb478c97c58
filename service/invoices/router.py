from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import select

from service.api import (
    ADMIN,
    BUREAU,
    Cursor,
    Limit,
    SessionDep,
    Writer,
    YearPath,
    allow,
    writer,
    text_query,
)
from service.kit.paging import Page, paginate
from service.auth.principal import Principal
from service.kit.config import get_settings
from service.kit.errors import BodyTooLarge, NotFound
from service.problems import problem_responses
from service.kit.errors import (
    InvalidUSCC,
    InvoiceDuplicate,
    PaymentExceedsTotal,
    ReversalExceedsTotal,
    YearClosed,
)
from service.invoices.xml_ingest import UnsupportedUpload, XmlRefused
from service.ledger.service import InsufficientBalance
from service.kit.rows import one_readable
from service.uow import Locks
from service.invoices import access, categories, service, verify, xml_ingest
from service.invoices import xml as xmlparse
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
    XmlIngestResult,
)
from service.invoices.source_models import InvoiceSource
from service.kit.types import LINE_PATTERN, Day, Declared, ObjectIdPath

router = APIRouter(tags=["invoices"])
ProviderWriter = Annotated[Writer, Depends(writer("provider"))]
Reader = Annotated[Principal, Depends(allow("admin", "auditor", "provider", "enterprise"))]


@router.post("/v1/invoices", status_code=201, response_model=InvoicePublic,
             operation_id="createInvoice", responses=problem_responses(InvoiceDuplicate, YearClosed,
                                                                       InvalidUSCC))
async def create_invoice(body: InvoiceCreate, w: ProviderWriter):
    return await w.submit(w.write(
        lambda s: service.post_invoices(s, principal=w.principal, items=[body])[0],
        status_code=201))


@router.post("/v1/invoices/batch", status_code=201, response_model=InvoiceBatchResult,
             operation_id="createInvoiceBatch", responses=problem_responses(InvoiceDuplicate, YearClosed,
                                                                            InvalidUSCC))
async def create_invoice_batch(body: InvoiceBatch, w: ProviderWriter):
    return await w.submit(w.write(
        lambda s: {"items": service.post_invoices(s, principal=w.principal, items=body.invoices)},
        status_code=201, solo=True))  # up to 1000 invoices: a batch of its own


@router.get("/v1/invoices", response_model=Page[InvoicePublic], operation_id="listInvoices",
            responses=problem_responses())
def list_invoices(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
                  enterprise_id: Annotated[str | None, text_query(40)] = None,
                  provider_id: Annotated[str | None, text_query(40)] = None,
                  invoice_number: Annotated[str | None, text_query(20)] = None,
                  year: Annotated[int | None, Query(ge=2000, le=2100)] = None):
    stmt = access.readable(principal)
    if enterprise_id:
        stmt = stmt.where(Invoice.enterprise_id == enterprise_id)
    if provider_id:
        stmt = stmt.where(Invoice.provider_id == provider_id)
    if invoice_number:
        stmt = stmt.where(Invoice.invoice_number == invoice_number)
    return paginate(session, stmt, Invoice.id, limit, cursor,
                    shape_page=lambda rows: service.to_public(session, rows, year))


@router.get("/v1/invoices/{invoice_id}", response_model=InvoicePublic, operation_id="getInvoice",
            responses=problem_responses(NotFound))
def get_invoice(invoice_id: ObjectIdPath, session: SessionDep, principal: Reader,
                year: Annotated[int | None, Query(ge=2000, le=2100)] = None):
    return service.to_public(session, [service.get_invoice(session, invoice_id, principal)],
                             year)[0]


@router.post("/v1/invoices/{invoice_id}/payments", status_code=201, response_model=InvoicePublic,
             operation_id="recordPayment", responses=problem_responses(NotFound, PaymentExceedsTotal))
async def record_payment(invoice_id: ObjectIdPath, body: PaymentCreate, w: ProviderWriter):
    """Record money the provider received; answers with the updated invoice."""
    return await w.submit(w.write(group=service.pay_group,
                                  args=service.PaymentRequest(invoice_id, body),
                                  locks=Locks(invoice_ids=(invoice_id,)), status_code=201))


@router.post("/v1/invoices/{invoice_id}/reversals", status_code=201, response_model=InvoicePublic,
             operation_id="createReversal", responses=problem_responses(NotFound, InsufficientBalance,
                                                                        InvoiceDuplicate,
                                                                        ReversalExceedsTotal))
async def create_reversal(invoice_id: ObjectIdPath, body: ReversalCreate, w: ProviderWriter):
    """Post a red-letter invoice (红冲); answers with the reduced original invoice."""
    def reverse(session):
        reversal = service.reverse(session, invoice_id=invoice_id, principal=w.principal,
                                   data=body)
        return _invoice(session, reversal.invoice_id)
    return await w.submit(w.write(reverse, status_code=201))


def _invoice(session, invoice_id: str) -> dict:
    return service.to_public(session, [session.get(Invoice, invoice_id)])[0]


@router.post("/v1/usage-statements", status_code=201, response_model=UsageStatementPublic,
             operation_id="createUsageStatement", responses=problem_responses())
def create_usage_statement(body: UsageStatementCreate, w: ProviderWriter):
    return w.run(lambda s: service.post_usage_statement(s, principal=w.principal, data=body),
                 status_code=201)


# --- 数电票 XML (docs/xml-invoices.md) -----------------------------------------------------------

# What the route reads (docs/xml-invoices.md); anything else, a missing type included, is 415.
XML_TYPES = ("application/xml", "text/xml", "application/zip", "application/x-zip-compressed")
_FILE = {"type": "string", "format": "binary"}
_XML_BODY = {"required": True, "content": {
    **{ctype: {"schema": _FILE} for ctype in XML_TYPES},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["files"],
        "properties": {
            "files": {"type": "array", "items": _FILE, "minItems": 1,
                      "description": "XML files (sent as one ZIP: all or nothing), or one ZIP"},
            "meta": {"type": "object", "description": (
                "meta.json: file names mapped to {service_start, service_end, "
                "contract_number}, or one such set for every file")},
            "service_start": {"type": "string", "format": "date"},
            "service_end": {"type": "string", "format": "date"},
            "contract_number": {"type": "string", "minLength": 1, "maxLength": 100}}},
        "encoding": {"meta": {"contentType": "application/json"}}}}}


# The file meta's own rule for contract_number (a Line): declared, checked by xml_ingest.
_QueryLine = Annotated[str, Declared(pattern=LINE_PATTERN)]


def verifier_of(request: Request) -> verify.InvoiceVerifier:
    state = request.app.state
    if getattr(state, "invoice_verifier", None) is None:
        state.invoice_verifier = verify.load(get_settings().invoice_verifier)
    return state.invoice_verifier


@router.post("/v1/invoices/xml", status_code=201, response_model=XmlIngestResult,
             operation_id="createInvoicesFromXml",
             responses={**problem_responses(NotFound, InsufficientBalance, InvoiceDuplicate,
                                            ReversalExceedsTotal, YearClosed, UnsupportedUpload,
                                            InvalidUSCC, XmlRefused),
                        415: {"description": (
                            "The body is not application/xml, text/xml, application/zip or "
                            "multipart/form-data (application/octet-stream or no type "
                            "included)")}},
             openapi_extra={"requestBody": _XML_BODY})
async def create_invoices_from_xml(
        request: Request, w: ProviderWriter,
        service_start: Annotated[Day | None, Query(description=(
            "Service period start for a single XML (a ZIP: the default for files meta.json "
            "does not name)"))] = None,
        service_end: Annotated[Day | None, Query()] = None,
        contract_number: Annotated[_QueryLine | None, Query(min_length=1, max_length=100)] = None):
    """Post 数电票 XML as the tax platform issued it: one file (application/xml) or a ZIP of up
    to 1000 (application/zip, with an optional meta.json mapping file names to service_start,
    service_end, contract_number). All or nothing; a red-letter file reverses its original.
    A multipart/form-data upload works too: file parts (one ZIP, or XML files), and optionally
    a `meta` JSON part and service_start / service_end / contract_number fields."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    given = {"service_start": service_start, "service_end": service_end,
             "contract_number": contract_number}
    parts = None
    if ctype == "multipart/form-data":
        parts = await xml_ingest.read_multipart(request, given)
        body, ctype = parts.body, parts.content_type
        w.request_hash = parts.request_hash(request.url.query)
    elif ctype not in XML_TYPES:
        sent = xmlparse.shown(ctype) if ctype else "a body without a Content-Type"
        raise xml_ingest.UnsupportedUpload(
            f"POST /v1/invoices/xml reads application/xml, text/xml, application/zip or "
            f"multipart/form-data, not {sent}")
    else:
        body = await request.body()
        w.request_hash = xml_ingest.request_hash(body, request.url.query)
    defaults = xml_ingest.defaults_of(given)
    single_name = parts.file_name if parts is not None and parts.file_name else \
        _file_name(request)

    def prepare() -> list[xml_ingest.Prepared]:
        if xml_ingest.is_zip(ctype, body):
            try:
                archive = xmlparse.open_archive(body)
            except xmlparse.Unsafe as exc:
                raise xml_ingest.XmlRefused([xml_ingest.FileError(
                    file=exc.file, element=exc.element, code=exc.code,
                    message=exc.message)]) from None
            if not archive.files:
                raise xml_ingest.XmlRefused([xml_ingest.FileError(
                    file="upload.zip", element="zip", code="validation_error",
                    message="the ZIP holds no .xml file")])
            files, meta = archive.files, archive.meta
            if parts is not None and parts.meta is not None:
                meta = parts.meta
        else:
            if len(body) > xmlparse.MAX_XML_BYTES:
                raise BodyTooLarge(f"one invoice XML is at most {xmlparse.MAX_XML_BYTES} bytes")
            if not body.strip():
                raise xml_ingest.XmlRefused([xml_ingest.FileError(
                    file=single_name, element=xmlparse.ROOT, code="validation_error",
                    message="the request body is empty: send the XML file")])
            files = [xmlparse.Member(single_name, body)]
            meta = parts.meta if parts is not None else None
        prepared = xml_ingest.prepare(files, meta, defaults)
        xml_ingest.verify(prepared, verifier_of(request))
        return prepared

    prepared = await run_in_threadpool(prepare)
    return await w.submit(w.write(
        lambda s: xml_ingest.ingest(s, principal=w.principal, prepared=prepared),
        status_code=201, solo=len(prepared) > 1))


def _file_name(request: Request) -> str:
    """The name a single XML is reported under: Content-Disposition's filename, or invoice.xml."""
    disposition = request.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value.strip('"'):
            return value.strip('"')[:255]
    return "invoice.xml"


@router.get("/v1/invoices/{invoice_id}/source", operation_id="getInvoiceSource",
            response_class=Response,
            responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}},
                             "description": "The XML file as it was uploaded"},
                       **problem_responses(NotFound)})
def get_invoice_source(invoice_id: ObjectIdPath, session: SessionDep, principal: Reader,
                       sha256: Annotated[str | None, Query(
                           pattern="^[0-9a-f]{64}$",
                           description="Another file of this invoice (a red-letter one)")] = None):
    """The original 数电票 XML, for the bureau and the invoice's own provider."""
    one_readable(session, access.readable_sources(principal).where(Invoice.id == invoice_id),
                 f"no invoice {invoice_id}")
    stmt = select(InvoiceSource).where(InvoiceSource.invoice_id == invoice_id)
    stmt = stmt.where(InvoiceSource.sha256 == sha256) if sha256 else \
        stmt.where(InvoiceSource.reversal_id.is_(None))
    source = session.exec(stmt.order_by(InvoiceSource.created_at)).first()
    if source is None:
        raise NotFound(f"invoice {invoice_id} was not posted from an XML file")
    return Response(source.content, media_type="application/xml", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(source.file_name)}",
        "X-Content-SHA256": source.sha256})


@router.get("/v1/years/{year}/item-categories", response_model=categories.CategoryTable,
            operation_id="getItemCategories", tags=["years"],
            responses=problem_responses(NotFound))
def get_item_categories(year: YearPath, session: SessionDep,
                        _: Annotated[Principal, Depends(allow(*BUREAU, "provider"))]):
    """How XML invoice lines map to categories this year (first matching rule wins)."""
    return categories.table(session, year)


@router.put("/v1/years/{year}/item-categories", response_model=categories.CategoryTable,
            operation_id="putItemCategories", tags=["years"],
            responses=problem_responses(NotFound))
def put_item_categories(year: YearPath, body: categories.CategoryTableUpdate,
                        w: Annotated[Writer, Depends(writer(*ADMIN))]):
    """Replace the year's item → category table (audited); applies to XML posted from now on."""
    return w.run(lambda s: categories.replace_table(s, year, body))
