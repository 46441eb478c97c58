"""POST /v1/invoices/xml: 数电票 XML files (one, or a ZIP of up to 1000) become exactly what
POST /v1/invoices / batch creates — through `service.post_invoices`, in one write — and
red-letter files become reversals through `service.reverse`; all or nothing
(docs/xml-invoices.md).

Order of the checks, all reported together (each names the file, the element and a code):
1. before anything is read: body size (413), archive safety (`unsafe_archive`), XML safety
   (`unsafe_xml`), well-formedness (`invalid_xml`);
2. the file on its own (service/invoices/xml.py): elements present (`validation_error`),
   amounts exact to the fen (`invalid_amount`), lines adding up to the header (`totals_mismatch`);
3. the verifier (service/invoices/verify.py), outside the transaction: `invoice_void`;
4. in the write: the seller is the posting provider (`seller_mismatch`), the buyer a registered
   enterprise (`unknown_buyer`), the number new system-wide (`invoice_duplicate`), the service
   period given (`validation_error`), a red-letter file's original here and the provider's
   (404 `not_found` when nothing else is wrong); then the JSON path's own rules.
"""

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import insert
from sqlmodel import Session, select

from service.kit import clock, ids
from service.auth.principal import Principal
from service.kit.errors import DomainError, FieldError, UnsupportedMediaType
from service.invoices import categories, service
from service.invoices import xml as xmlparse
from service.invoices.models import Invoice, InvoiceReversal
from service.invoices.schemas import InvoiceCreate, ReversalCreate
from service.invoices.source_models import InvoiceSource
from service.invoices.verify import InvoiceVerifier, VerificationRequest
from service.registry.models import Enterprise, Provider
from service.kit.types import Line

NUMBER = "TaxSupervisionInfo/InvoiceNumber"
SELLER = f"{xmlparse.SELLER}/SellerIdNum"
BUYER = f"{xmlparse.BUYER}/BuyerIdNum"
TOTAL = f"{xmlparse.BASIC}/TotalTax-includedAmount"
ORIGINAL = f"{xmlparse.DATA}/SpecificInformation/RedEInvoice/OriginalInvoiceCode"
RED_REASON = f"{xmlparse.DATA}/SpecificInformation/RedEInvoice/RedReason"
MAX_REASONS_PER_FILE = 10  # listed per refused file: an answer stays small whatever was sent


class FileError(BaseModel):
    """One reason a file is refused (or, in `warnings`, a remark on an accepted one)."""

    file: str
    element: str
    code: str
    message: str
    # The Problem schema's names for the same thing, for generic clients.
    field: str = ""
    type: str = ""

    def model_post_init(self, _: Any) -> None:
        self.field = self.field or f"{self.file}:{self.element}"
        self.type = self.type or self.code


class XmlRefused(DomainError):
    """Per-file refusals: 422 with errors [{file, element, code, message}]; `code` is the first
    error's (all of one kind → that kind)."""

    status = 422
    code = "validation_error"
    title = "The invoice file is refused"
    # The per-file codes (docs/xml-invoices.md); the problem's `code` is the first error's.
    codes = ("invalid_amount", "invalid_xml", "invoice_duplicate", "invoice_void",
             "seller_mismatch", "totals_mismatch", "unknown_buyer", "unsafe_archive",
             "unsafe_xml", "validation_error")

    def __init__(self, errors: list[FileError], *, status: int = 422):
        errors = _bounded(errors)
        files = sorted({e.file for e in errors})
        detail = "; ".join(f"{e.file}: {e.element}: {e.message}" for e in errors[:5])
        if len(errors) > 5:
            detail += f"; and {len(errors) - 5} more"
        detail = f"{len(files)} file(s) refused, nothing was saved: {detail}"
        super().__init__(detail, code=errors[0].code, status=status)
        self.file_errors = errors

    def problem(self) -> dict[str, Any]:
        body = super().problem()
        body["errors"] = [e.model_dump() for e in self.file_errors]
        return body


def _bounded(errors: list[FileError]) -> list[FileError]:
    """At most MAX_REASONS_PER_FILE reasons per file, the last saying how many more there are
    (a file of 500 broken lines is refused for its first reasons, not with thousands)."""
    per_file: dict[str, int] = {}
    for e in errors:
        per_file[e.file] = per_file.get(e.file, 0) + 1
    out, listed = [], dict.fromkeys(per_file, 0)
    for e in errors:
        listed[e.file] += 1
        if listed[e.file] > MAX_REASONS_PER_FILE:
            continue
        more = per_file[e.file] - MAX_REASONS_PER_FILE
        if listed[e.file] == MAX_REASONS_PER_FILE and more > 0:
            e = e.model_copy(update={"message": f"{e.message} (and {more} more reasons in this "
                                                f"file, not listed)"})
        out.append(e)
    return out


class UnsupportedUpload(UnsupportedMediaType):
    title = "Send the invoice XML (application/xml, text/xml) or a ZIP of them (application/zip)"


class FileMetaIn(BaseModel):
    """What the XML does not carry, per file."""

    model_config = ConfigDict(extra="forbid")

    service_start: date | None = None
    service_end: date | None = None
    contract_number: Line | None = Field(default=None, min_length=1, max_length=100)


def defaults_of(given: dict[str, Any]) -> FileMetaIn:
    """The query's (or the form's) fields, refused as the JSON fields are, each named."""
    try:
        return FileMetaIn(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise XmlRefused([FileError(file="query", element=".".join(
            str(x) for x in e["loc"]) or "query", code="validation_error",
            message=str(e["msg"])[:300]) for e in exc.errors()]) from None


@dataclass
class Prepared:
    name: str
    content: bytes
    sha256: str
    invoice: xmlparse.XmlInvoice | None
    meta: FileMetaIn
    errors: list[FileError] = field(default_factory=list)
    warnings: list[FileError] = field(default_factory=list)


def request_hash(body: bytes, query: str) -> str:
    """The Idempotency-Key fingerprint: the exact bytes sent and the (sorted) query string."""
    params = "&".join(sorted(p for p in query.split("&") if p))
    digest = hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"POST /v1/invoices/xml?{params}\n{digest}".encode()).hexdigest()


def is_zip(content_type: str, body: bytes) -> bool:
    """By the bytes first (a clerk's client may label an XML file as a ZIP or the other way)."""
    if body[:4] == b"PK\x03\x04":
        return True
    return "zip" in content_type and body.lstrip()[:1] != b"<"


def prepare(files: list[xmlparse.Member], meta_json: bytes | None,
            defaults: FileMetaIn) -> list[Prepared]:
    """Parse every file and attach its metadata; the refusals so far are in each `errors`.
    Raises XmlRefused for a meta.json that cannot be used."""
    per_file = _meta(meta_json, [f.name for f in files]) if meta_json is not None else {}
    out = []
    for f in files:
        meta = defaults.model_copy(update={k: v for k, v in per_file.get(f.name, {}).items()})
        p = Prepared(f.name, f.content, hashlib.sha256(f.content).hexdigest(), None, meta)
        try:
            parsed = xmlparse.parse_invoice(f.content, f.name)
        except xmlparse.Unsafe as exc:
            p.errors.append(FileError(file=f.name, element=exc.element, code=exc.code,
                                      message=exc.message))
        else:
            p.invoice = parsed.invoice
            p.errors += [FileError(file=f.name, element=e.element, code=e.code,
                                   message=e.message) for e in parsed.problems]
        out.append(p)
    return out


def _meta(content: bytes, names: list[str]) -> dict[str, dict[str, Any]]:
    def refuse(element: str, message: str) -> XmlRefused:
        return XmlRefused([FileError(file=xmlparse.META, element=element,
                                     code="validation_error", message=message)])
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise refuse("meta.json", "meta.json is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise refuse("meta.json", 'meta.json maps file names to {"service_start": '
                                  '"YYYY-MM-DD", "service_end": …, "contract_number": …}')
    by_base: dict[str, list[str]] = {}
    for name in names:
        by_base.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    out: dict[str, dict[str, Any]] = {}
    errors = []
    for key, value in data.items():
        target = key if key in names else (by_base.get(key, [None])[0]
                                           if len(by_base.get(key, [])) == 1 else None)
        if target is None:
            errors.append(FileError(file=xmlparse.META, element=str(key)[:200],
                                    code="validation_error",
                                    message=f"meta.json names {str(key)[:200]!r}, which is not "
                                            f"an XML file in the ZIP"))
            continue
        try:
            out[target] = FileMetaIn.model_validate(value).model_dump(exclude_unset=True)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                errors.append(FileError(file=xmlparse.META,
                                        element=f"{str(key)[:200]}.{loc}" if loc else
                                        str(key)[:200], code="validation_error",
                                        message=str(err["msg"])))
    if errors:
        raise XmlRefused(errors)
    return out


def verify(prepared: list[Prepared], verifier: InvoiceVerifier) -> None:
    """The pluggable verification step; call it outside any database transaction."""
    for p in prepared:
        if p.invoice is None or p.errors:
            continue
        inv = p.invoice
        result = verifier.verify(VerificationRequest(
            invoice_number=inv.number, issued_on=inv.issued_on, total_fen=inv.total_fen,
            seller_uscc=inv.seller_uscc, buyer_uscc=inv.buyer_uscc))
        checked = f" (checked {result.times_checked} times)" if result.times_checked else ""
        if result.status == "void":
            p.errors.append(FileError(file=p.name, element=NUMBER, code="invoice_void",
                                      message=f"the tax system reports invoice {inv.number} as "
                                              f"void (作废){checked}; it cannot be posted. "
                                              f"{result.detail}".strip()))
        elif result.status == "red_flushed":
            p.warnings.append(FileError(file=p.name, element=NUMBER, code="invoice_red_flushed",
                                        message=f"the tax system reports invoice {inv.number} "
                                                f"as red-flushed (已红冲){checked}; post its "
                                                f"red-letter XML too"))


_FIELD_ELEMENTS = {"invoice_number": NUMBER, "enterprise_uscc": BUYER, "issued_on":
                   "TaxSupervisionInfo/IssueTime", "total_fen": TOTAL,
                   "tax_fen": f"{xmlparse.BASIC}/TotalTaxAm", "service_start": "service_start",
                   "service_end": "service_end", "contract_number": "contract_number"}
# unit_price_fen is Amount + ComTaxAm over Quantity (UnPrice is not read): a quantity so small
# that the price leaves the contract's range is the quantity's fault.
_LINE_ELEMENTS = {"description": "ItemName", "quantity": "Quantity", "unit": "MeaUnits",
                  "amount_fen": "TotaltaxIncludedAmount", "unit_price_fen": "Quantity"}
_REVERSAL_ELEMENTS = {"invoice_number": NUMBER, "issued_on": "TaxSupervisionInfo/IssueTime",
                      "amount_fen": TOTAL, "reason": RED_REASON}


def _element(loc: list[str]) -> str:
    """An InvoiceCreate field path (total_fen, lines.2.unit) → the XML element it came from."""
    if not loc:
        return xmlparse.ROOT
    if loc[0] == "lines" and len(loc) >= 3 and loc[1].isdigit():
        return f"{xmlparse.LINE}[{int(loc[1]) + 1}]/{_LINE_ELEMENTS.get(loc[2], loc[2])}"
    if loc[0] == "lines":
        return xmlparse.LINE
    return _FIELD_ELEMENTS.get(loc[0], loc[0])


def _field_path(field_name: str) -> list[str]:
    """post_invoices' `invoices[3].lines[0].amount_fen` → ["lines", "0", "amount_fen"]."""
    parts = field_name.replace("[", ".").replace("]", "").split(".")
    if parts and parts[0] == "invoices":
        parts = parts[2:]
    return [p for p in parts if p]


def _err(p: Prepared, element: str, code: str, message: str) -> None:
    p.errors.append(FileError(file=p.name, element=element, code=code, message=message))


def ingest(session: Session, *, principal: Principal,
           prepared: list[Prepared]) -> dict[str, Any]:
    """The write: everything in `prepared` is saved, or nothing (raises XmlRefused)."""
    provider = session.get(Provider, principal.provider_id)
    invoices = [p.invoice for p in prepared if p.invoice is not None and not p.errors]
    buyers, taken, originals = _known(session, invoices)
    posting_buyers = {i.number: i.buyer_uscc for i in invoices if not i.red_letter}
    rules: dict[int, tuple[list[categories.CategoryRule], bool]] = {}
    seen: dict[str, str] = {}
    creates: list[tuple[Prepared, InvoiceCreate, list[dict[str, Any]]]] = []
    reds: list[tuple[Prepared, ReversalCreate]] = []
    missing: list[FileError] = []
    for p in prepared:
        inv = p.invoice
        if inv is None or p.errors:
            continue
        if provider is None or inv.seller_uscc != provider.uscc:
            _err(p, SELLER, "seller_mismatch",
                 f"the seller {xmlparse.shown(inv.seller_uscc)} is not the posting provider "
                 f"({provider.uscc if provider else 'unknown'}): a provider posts the invoices "
                 f"it issued")
        if inv.buyer_uscc not in buyers:
            _err(p, BUYER, "unknown_buyer",
                 f"no enterprise is registered with the buyer's USCC "
                 f"{xmlparse.shown(inv.buyer_uscc) if inv.buyer_uscc else '(none)'}; the "
                 f"bureau registers enterprises")
        if inv.number in taken or inv.number in seen:
            where = f"earlier in this upload ({seen[inv.number]})" if inv.number in seen else \
                "already"
            _err(p, NUMBER, "invoice_duplicate", f"invoice {inv.number} was {where} posted")
        seen.setdefault(inv.number, p.name)
        if inv.red_letter:
            original = originals.get(inv.original_key)
            mine = original is not None and original.provider_id == principal.provider_id
            if not mine and inv.original_key not in posting_buyers:
                missing.append(FileError(file=p.name, element=ORIGINAL, code="not_found",
                                         message=f"the original invoice {inv.original_key} is "
                                                 f"not posted here"))
            _check_red_buyer(p, original if mine else None, buyers, posting_buyers)
            reversal = _reversal_create(p)
            if reversal is not None:
                reds.append((p, reversal))
            continue
        if p.meta.service_start is None or p.meta.service_end is None:
            for name in ("service_start", "service_end"):
                if getattr(p.meta, name) is None:
                    _err(p, name, "validation_error",
                         f"{name} (YYYY-MM-DD) is not in the XML: send it as a query "
                         f"parameter, or for a ZIP in meta.json under the file's name")
            continue
        year = p.meta.service_start.year
        if year not in rules:
            rules[year] = categories.rules_for(session, year)
        created = _invoice_create(p, rules[year][0], year)
        if created is not None:
            creates.append((p, *created))
    errors = [e for p in prepared for e in p.errors]
    if errors:
        raise XmlRefused(errors)
    if missing:
        raise XmlRefused(missing, status=404)
    return _write(session, principal=principal, prepared=prepared, creates=creates, reds=reds,
                  originals=originals)


def _known(session: Session, invoices: list[xmlparse.XmlInvoice]) -> tuple[
        dict[str, Enterprise], set[str], dict[str, Invoice]]:
    """The registered buyers, the numbers already taken and the originals named, in 4 reads."""
    buyers = {e.uscc: e for e in session.exec(select(Enterprise).where(
        Enterprise.uscc.in_({i.buyer_uscc for i in invoices if i.buyer_uscc}))).all()}
    numbers = [i.number for i in invoices]
    taken = set(session.exec(select(Invoice.invoice_key).where(
        Invoice.invoice_key.in_(numbers))).all()) | set(session.exec(
            select(InvoiceReversal.invoice_number).where(
                InvoiceReversal.invoice_number.in_(numbers))).all())
    wanted = {i.original_key for i in invoices if i.red_letter and i.original_key}
    originals = {inv.invoice_key: inv for inv in session.exec(select(Invoice).where(
        Invoice.invoice_key.in_(wanted))).all()}
    return buyers, taken, originals


def _check_red_buyer(p: Prepared, original: Invoice | None, buyers: dict[str, Enterprise],
                     posting_buyers: dict[str, str]) -> None:
    """A red-letter file's buyer is its original's (posted before, or in this upload)."""
    inv = p.invoice
    buyer = buyers.get(inv.buyer_uscc)
    original_buyer = original.enterprise_id if original is not None else (
        buyers[posting_buyers[inv.original_key]].id
        if posting_buyers.get(inv.original_key) in buyers else None)
    if buyer is not None and original_buyer is not None and buyer.id != original_buyer:
        _err(p, BUYER, "validation_error",
             f"the red-letter invoice's buyer {inv.buyer_uscc} is not the buyer of the "
             f"original invoice {inv.original_key}")


def _invoice_create(p: Prepared, rules: list[categories.CategoryRule],
                    year: int) -> tuple[InvoiceCreate, list[dict[str, Any]]] | None:
    """The file as the JSON route's InvoiceCreate — nothing cut or rounded to fit: what the JSON
    contract refuses is refused, naming the element it came from."""
    inv = p.invoice
    mapping = []
    lines = []
    for n, line in enumerate(inv.lines, start=1):
        category, rule = categories.classify(rules, line.item_name, line.tax_code)
        mapping.append({"line_no": n, "element": line.element, "item_name": line.item_name,
                        "tax_classification_code": line.tax_code or None,
                        "category": category, "rule": rule})
        if rule is None:
            p.warnings.append(FileError(
                file=p.name, element=f"{line.element}/ItemName", code="unmapped_item",
                message=f"{xmlparse.shown(line.item_name)} (code {line.tax_code or 'none'}) "
                        f"matches no rule of the {year} item-category table: the line is "
                        f"'other', which is not subsidised"))
        description = f"{line.item_name} {line.spec}".strip() if line.spec else line.item_name
        lines.append({"category": category, "description": description,
                      "quantity": line.quantity, "unit": line.unit or "项",
                      "unit_price_fen": xmlparse.unit_price_fen(line),
                      "amount_fen": line.total_fen})
    try:
        create = InvoiceCreate.model_validate({
            "invoice_number": inv.number, "enterprise_uscc": inv.buyer_uscc,
            "issued_on": inv.issued_on, "service_start": p.meta.service_start,
            "service_end": p.meta.service_end, "contract_number": p.meta.contract_number,
            "total_fen": inv.total_fen, "tax_fen": inv.tax_fen, "lines": lines})
    except ValidationError as exc:
        _invalid(p, exc, _element)
        return None
    return create, mapping


def _reversal_create(p: Prepared) -> ReversalCreate | None:
    """A red-letter file as the JSON route's ReversalCreate (refused as that route refuses)."""
    inv = p.invoice
    reason = inv.red_reason or f"红字发票 {inv.number}，原发票 {inv.original_key}（{p.name}）"
    try:
        return ReversalCreate(invoice_number=inv.number, issued_on=inv.issued_on,
                              amount_fen=-inv.total_fen, reason=reason)
    except ValidationError as exc:
        _invalid(p, exc, lambda loc: _REVERSAL_ELEMENTS.get(loc[0], loc[0]) if loc else ORIGINAL)
        return None


def _invalid(p: Prepared, exc: ValidationError, element_of: Any) -> None:
    """The JSON contract's refusals (pydantic's messages never quote the input)."""
    for e in exc.errors():
        loc = [str(x) for x in e["loc"]]
        _err(p, element_of(loc), "validation_error", f"{'.'.join(loc)}: {e['msg']}")


def _write(session: Session, *, principal: Principal, prepared: list[Prepared],
           creates: list[tuple[Prepared, InvoiceCreate, list[dict[str, Any]]]],
           reds: list[tuple[Prepared, ReversalCreate]],
           originals: dict[str, Invoice]) -> dict[str, Any]:
    posted: list[dict[str, Any]] = []
    if creates:
        try:
            posted = service.post_invoices(session, principal=principal,
                                           items=[c for _, c, _ in creates],
                                           source_sha256=[p.sha256 for p, _, _ in creates])
        except DomainError as exc:
            raise _from_post(exc, creates) from None
    if posted:
        now = clock.now()
        session.execute(insert(InvoiceSource.__table__), [
            {"id": ids.new_id("src"), "invoice_id": item["id"], "reversal_id": None,
             "file_name": p.name[:255], "sha256": p.sha256, "size_bytes": len(p.content),
             "content": p.content, "created_at": now}
            for (p, _, _), item in zip(creates, posted)])
    answers: dict[str, dict[str, Any]] = {}  # per file: the invoice as GET shows it
    reports: dict[str, dict[str, Any]] = {}  # per file: what became of it
    for (p, _, mapping), item in zip(creates, posted):
        answers[p.name] = item
        reports[p.name] = {"file": p.name, "source_sha256": p.sha256, "invoice_id": item["id"],
                           "line_mapping": mapping, "reversal": None,
                           "warnings": [w.model_dump() for w in p.warnings]}
    by_key = {item["invoice_key"]: item["id"] for item in posted}
    for p, data in reds:
        inv = p.invoice
        invoice_id = by_key.get(inv.original_key) or originals[inv.original_key].id
        try:
            reversal = service.reverse(session, invoice_id=invoice_id, principal=principal,
                                       data=data, source_sha256=p.sha256)
        except DomainError as exc:
            element = TOTAL if exc.code == "reversal_exceeds_total" else ORIGINAL
            raise XmlRefused([FileError(file=p.name, element=element, code=exc.code,
                                        message=exc.detail)], status=exc.status) from None
        session.add(InvoiceSource(id=ids.new_id("src"), invoice_id=invoice_id,
                                  reversal_id=reversal.id, file_name=p.name[:255],
                                  sha256=p.sha256, size_bytes=len(p.content),
                                  content=p.content))
        session.flush()
        answers[p.name] = service.to_public(session, [session.get(Invoice, invoice_id)])[0]
        reports[p.name] = {"file": p.name, "source_sha256": p.sha256, "invoice_id": invoice_id,
                           "line_mapping": [],
                           "reversal": {"id": reversal.id, "invoice_number": inv.number,
                                        "original_invoice_number": inv.original_key,
                                        "amount_fen": reversal.amount_fen},
                           "warnings": [w.model_dump() for w in p.warnings]}
    files = [reports[p.name] for p in prepared]
    return {"items": [answers[p.name] for p in prepared], "files": files,
            "warnings": [w for f in files for w in f["warnings"]]}


def _from_post(exc: DomainError, creates: list[tuple[Prepared, InvoiceCreate, Any]]) -> XmlRefused:
    """post_invoices' refusal (its errors name items by index) → the files and elements."""
    single = len(creates) == 1
    out = []
    for e in exc.errors or [FieldError(field="", message=exc.detail, type=exc.code)]:
        index = 0
        if not single and e.field.startswith("invoices["):
            index = int(e.field[9:e.field.index("]")])
        code = e.type if e.type not in ("invalid", "missing") else "validation_error"
        if code not in ("invoice_duplicate", "year_closed", "invalid_uscc"):
            code = "validation_error" if e.type in ("invalid", "missing") else e.type
        out.append(FileError(file=creates[index][0].name,
                             element=_element(_field_path(e.field)), code=code,
                             message=e.message))
    return XmlRefused(out)


# --- multipart/form-data -----------------------------------------------------------------------

@dataclass
class Multipart:
    """A multipart upload, as the raw-body route reads it: one body (an XML file, or a ZIP —
    several XML parts are zipped, so they stay all or nothing), a meta.json, the file name."""

    body: bytes
    content_type: str
    file_name: str | None
    meta: bytes | None
    fingerprint: str

    def request_hash(self, query: str) -> str:
        return request_hash(self.fingerprint.encode(), query)


META_KEYS = {"service_start", "service_end", "contract_number"}


async def read_multipart(request, given: dict[str, Any]) -> Multipart:
    """Read the parts; form fields service_start / service_end / contract_number fill `given`
    (query parameters win). The fingerprint hashes what was sent, not the random boundary."""
    def refuse(message: str) -> XmlRefused:
        return XmlRefused([FileError(file="multipart", element="form", code="validation_error",
                                     message=message)])
    try:
        form = await request.form(max_files=xmlparse.MAX_FILES + 1, max_fields=20)
    except Exception as exc:  # noqa: BLE001 - a malformed multipart body is the client's
        raise refuse(f"the multipart body cannot be read: {str(exc)[:200]}") from None
    files: list[tuple[str, bytes]] = []
    meta: bytes | None = None
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if hasattr(value, "read"):
            content = await value.read()
            name = (value.filename or key).replace("\\", "/").rsplit("/", 1)[-1][:255]
            if key == "meta" or name.lower() == xmlparse.META:
                meta = content
            else:
                files.append((name, content))
        elif key == "meta":
            meta = str(value).encode()
        elif key in META_KEYS:
            fields[key] = str(value).strip()
    for key, value in fields.items():
        if given.get(key) is None and value:
            given[key] = value
    if meta is not None:
        try:
            parsed = json.loads(meta.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise refuse("the meta part is not UTF-8 JSON") from None
        if isinstance(parsed, dict) and parsed and set(parsed) <= META_KEYS:
            for key, value in parsed.items():  # one set of fields for every file
                if given.get(key) is None:
                    given[key] = value
            meta = None
    if not files:
        raise refuse("send the XML file(s), or one ZIP, as file parts")
    fingerprint = json.dumps({"files": [[n, hashlib.sha256(c).hexdigest()] for n, c in files],
                              "meta": hashlib.sha256(meta).hexdigest() if meta else None,
                              "fields": {k: str(v) for k, v in sorted(given.items())
                                         if v is not None}}, sort_keys=True)
    zips = [c for n, c in files if n.lower().endswith(".zip") or c[:4] == b"PK\x03\x04"]
    if zips:
        if len(files) > 1:
            raise refuse("send one ZIP, or XML files, not both")
        return Multipart(files[0][1], "application/zip", None, meta, fingerprint)
    if len(files) == 1:
        return Multipart(files[0][1], "application/xml", files[0][0], meta, fingerprint)
    names = [n for n, _ in files]
    if len(set(names)) != len(names):
        raise refuse("two file parts have the same name")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for name, content in files:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return Multipart(archive.getvalue(), "application/zip", None, meta, fingerprint)

