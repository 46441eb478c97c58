"""Reading a fully digital invoice (数电票) XML as the tax platform issued it, and ZIPs of them.

Hardened (docs/xml-invoices.md): `defusedxml` with DTDs, entity declarations and external
references forbidden (a billion-laughs or external-entity file is `unsafe_xml` before anything
is expanded); ZIPs are opened member by member with every name, size, ratio and count checked
before and while reading (`unsafe_archive`).

Every element is read by its exact path from the root, never by a loose tag search: the header
total `EInvoiceData/BasicInformation/TotalTax-includedAmount` and a line's
`EInvoiceData/IssuItemInformation/TotaltaxIncludedAmount` are different elements. Amounts are
decimal yuan strings with at most two places, turned into fen exactly (`1.005` is refused as
`invalid_amount`, never rounded). An XML signature block (ds:Signature) is not read.
"""

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from service.invoices.schemas import MAX_LINES
from service.invoices.xml_reader import (
    ECHO_CHARS,
    Problem,
    Reader,
    local,
    money_fen as money_fen,  # the value grammar, read through this module by its callers
    parse_date,
    shown,
    tax_rate,
    yuan,
)

# Limits (docs/xml-invoices.md, "Hostile files").
MAX_FILES = 1000                       # XML files in one ZIP
MAX_MEMBERS = 2000                     # entries of any kind in one ZIP
MAX_XML_BYTES = 4 * 1024 * 1024        # one XML file, as sent or once decompressed
MAX_TOTAL_BYTES = 64 * 1024 * 1024     # all members of a ZIP, decompressed
MAX_RATIO = 100                        # decompressed / compressed, for a member above RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
META = "meta.json"
MAX_NAME_CHARS = 255                   # a ZIP member's name (as invoice_source keeps it)

ROOT = "EInvoice"
DATA = "EInvoiceData"
BASIC = f"{DATA}/BasicInformation"
SELLER = f"{DATA}/SellerInformation"
BUYER = f"{DATA}/BuyerInformation"
LINE = f"{DATA}/IssuItemInformation"
HEADER_TOTAL = f"{BASIC}/TotalTax-includedAmount"
# ASCII digits only: `\d` would take full-width and other scripts' digits, which int() reads.
_QUANTITY = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DECLARED = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([^"']{0,200})["']""")
_ENCODING = re.compile(rb"""^(\xef\xbb\xbf)?<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_-]+)["']""")
_CHINESE_ENCODINGS = {"gbk", "gb2312", "gb18030", "cp936"}
QUANTITY_STEP = Decimal("0.000001")


@dataclass
class XmlLine:
    element: str                # e.g. EInvoiceData/IssuItemInformation[2]
    item_name: str
    spec: str
    unit: str
    quantity: Decimal
    amount_fen: int             # Amount: without tax
    tax_fen: int                # ComTaxAm
    total_fen: int              # tax included: Amount + ComTaxAm
    tax_rate: Decimal | None    # 0.06; None for exempt
    tax_code: str


@dataclass
class XmlInvoice:
    number: str
    issued_on: date
    seller_uscc: str
    seller_name: str
    buyer_uscc: str
    buyer_name: str
    amount_fen: int             # TotalAmWithoutTax
    tax_fen: int                # TotalTaxAm
    total_fen: int              # TotalTax-includedAmount
    lines: list[XmlLine]
    red_letter: bool = False
    original_key: str | None = None  # the invoice a red-letter one reverses
    red_reason: str = ""


@dataclass
class Parsed:
    invoice: XmlInvoice | None
    problems: list[Problem] = field(default_factory=list)


class Unsafe(Exception):
    """A file or archive refused before it is read: code unsafe_xml or unsafe_archive."""

    def __init__(self, code: str, file: str, element: str, message: str):
        self.code, self.file, self.element, self.message = code, file, element, message
        super().__init__(message)


# --- XML ------------------------------------------------------------------------------------

def _utf8(content: bytes) -> bytes:
    """expat reads UTF-8/16 and Latin-1 only: a GBK/GB18030 file (declared so) is re-encoded."""
    match = _ENCODING.match(content[:200])
    if not match or match.group(2).decode().lower() not in _CHINESE_ENCODINGS:
        return content
    try:
        text = content.decode("gb18030")
    except UnicodeDecodeError:
        return content  # expat will say what is wrong
    text = re.sub(r"""encoding\s*=\s*["'][A-Za-z0-9_-]+["']""", 'encoding="UTF-8"', text,
                  count=1)
    return text.encode("utf-8")


def _declared_encoding(content: bytes) -> str | None:
    match = _DECLARED.match(content[:300])
    return match.group(1).decode("latin-1") if match else None


def parse_tree(content: bytes, file: str) -> Element:
    if len(content) > MAX_XML_BYTES:
        raise Unsafe("unsafe_xml", file, ROOT,
                     f"an invoice XML is at most {MAX_XML_BYTES} bytes; this one has "
                     f"{len(content)}")
    try:
        return SafeET.fromstring(_utf8(content), forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise Unsafe("unsafe_xml", file, ROOT,
                     f"the file declares a DTD, entities or external references, which are "
                     f"never read ({type(exc).__name__}); send the XML as the tax platform "
                     f"issued it") from None
    except (LookupError, ParseError, ValueError, UnicodeError) as exc:
        # LookupError: expat asked the codec registry for an encoding it does not know.
        encoding = _declared_encoding(content)
        if isinstance(exc, LookupError) or (encoding and isinstance(exc, ValueError)):
            named = f"encoding {shown(encoding)}" if encoding else "an encoding"
            if encoding and encoding.lower() in _CHINESE_ENCODINGS:
                raise Unsafe("invalid_xml", file, ROOT,
                             f"the file declares {named}, but its bytes are not GBK/GB18030"
                             ) from None
            raise Unsafe("invalid_xml", file, ROOT,
                         f"the file declares {named}, which cannot be read "
                         f"({str(exc)[:100]}): send it as the tax platform issued it (UTF-8, "
                         f"UTF-16 or GBK/GB18030)") from None
        raise Unsafe("invalid_xml", file, ROOT,
                     f"the file is not well-formed XML: {str(exc)[:200]}") from None


@dataclass
class _Header:
    number: str
    issued_on: date | None
    seller_uscc: str
    seller_name: str
    buyer_uscc: str
    buyer_name: str
    amount_fen: int | None
    tax_fen: int | None
    total_fen: int | None


def parse_invoice(content: bytes, file: str) -> Parsed:
    """One XML file → the invoice it states, or the problems naming each element to fix.
    Raises Unsafe for a file that is not read at all (unsafe_xml, invalid_xml)."""
    root = parse_tree(content, file)
    r = Reader(root)
    if local(root.tag) != ROOT:
        name = local(root.tag) or "?"
        r.problem(name[:ECHO_CHARS], "validation_error",
                  f"the root element is {shown(name)}, not {ROOT} (数电票 XML)")
        return Parsed(None, r.problems)
    head = _header(r)
    red = _red_node(r)
    lines, complete = _lines(r)
    if complete:
        _check_totals(r, head, lines)
    original_key, reason = _original(r, *red) if red is not None else (None, "")
    _check_signs(r, red is not None, head.total_fen)
    if r.problems:
        return Parsed(None, r.problems)
    return Parsed(XmlInvoice(
        number=head.number, issued_on=head.issued_on, seller_uscc=head.seller_uscc,
        seller_name=head.seller_name, buyer_uscc=head.buyer_uscc, buyer_name=head.buyer_name,
        amount_fen=head.amount_fen, tax_fen=head.tax_fen, total_fen=head.total_fen,
        lines=lines, red_letter=red is not None, original_key=original_key,
        red_reason=reason), [])


def _header(r: Reader) -> _Header:
    number, number_path = r.first_text("TaxSupervisionInfo/InvoiceNumber",
                                       f"{DATA}/TaxSupervisionInfo/InvoiceNumber",
                                       "Header/EIid")
    if number and not re.fullmatch(r"[0-9]{20}", number):
        r.problem(number_path, "validation_error",
                  f"a fully digital invoice number has 20 digits, not {shown(number)}")
    issued_text, issued_path = r.first_text("TaxSupervisionInfo/IssueTime",
                                            f"{DATA}/TaxSupervisionInfo/IssueTime",
                                            f"{BASIC}/RequestTime")
    issued_on = parse_date(issued_text) if issued_text else None
    if issued_text and issued_on is None:
        r.problem(issued_path, "validation_error", f"{shown(issued_text)} is not a date")
    return _Header(
        number=number, issued_on=issued_on,
        seller_uscc=r.text(f"{SELLER}/SellerIdNum"),
        seller_name=r.text(f"{SELLER}/SellerName", required=False),
        buyer_uscc=r.text(f"{BUYER}/BuyerIdNum", required=False),
        buyer_name=r.text(f"{BUYER}/BuyerName", required=False),
        amount_fen=r.money(f"{BASIC}/TotalAmWithoutTax"),
        tax_fen=r.money(f"{BASIC}/TotalTaxAm"),
        total_fen=r.money(HEADER_TOTAL))


def _red_node(r: Reader) -> tuple[Element, str] | None:
    for path in (f"{DATA}/SpecificInformation/RedEInvoice", "SpecificInformation/RedEInvoice"):
        node = r.node(path, required=False)
        if node is not None:
            return node, path
    return None


def _lines(r: Reader) -> tuple[list[XmlLine], bool]:
    """The lines read, and whether every line was (so that the totals can be checked)."""
    data = r.node(DATA, required=False)
    nodes = r.children(data, "IssuItemInformation") if data is not None else []
    if not nodes:
        r.problem(LINE, "validation_error", f"{LINE} is missing: an invoice has lines")
        return [], False
    if len(nodes) > MAX_LINES:
        r.problem(LINE, "validation_error",
                  f"the invoice has {len(nodes)} lines; at most {MAX_LINES} (as POST "
                  f"/v1/invoices)")
        return [], False
    lines = [_line(r, node, f"{LINE}[{n}]") for n, node in enumerate(nodes, start=1)]
    return [line for line in lines if line is not None], None not in lines


def _line(r: Reader, node: Element, where: str) -> XmlLine | None:
    item_name = r.text("ItemName", base=node, base_path=where)
    spec = r.text("SpecMod", base=node, base_path=where, required=False)
    unit = r.text("MeaUnits", base=node, base_path=where, required=False)
    quantity = _quantity(r, r.text("Quantity", base=node, base_path=where, required=False),
                         f"{where}/Quantity")
    amount = r.money("Amount", base=node, base_path=where)
    tax = r.money("ComTaxAm", base=node, base_path=where)
    total = r.money("TotaltaxIncludedAmount", base=node, base_path=where, required=False)
    rate_text = r.text("TaxRate", base=node, base_path=where, required=False)
    rate = None
    if rate_text:
        try:
            rate = tax_rate(rate_text)
        except ValueError:
            r.problem(f"{where}/TaxRate", "invalid_amount",
                      f"{where}/TaxRate is {shown(rate_text)}: write 0.06 or 6%")
    code = r.text("TaxClassificationCode", base=node, base_path=where, required=False)
    if code and not re.fullmatch(r"[0-9]{1,19}", code):
        r.problem(f"{where}/TaxClassificationCode", "validation_error",
                  f"a tax classification code is up to 19 digits, not {shown(code)}")
    if amount is None or tax is None:
        return None
    if total is not None and total != amount + tax:
        r.problem(f"{where}/TotaltaxIncludedAmount", "totals_mismatch",
                  f"{where}: Amount {yuan(amount)} + ComTaxAm {yuan(tax)} = "
                  f"{yuan(amount + tax)}, but TotaltaxIncludedAmount is {yuan(total)}")
    return XmlLine(where, item_name, spec, unit, quantity, amount, tax, amount + tax, rate,
                   code)


def _quantity(r: Reader, text: str, path: str) -> Decimal:
    """A plain decimal, as exact as the JSON contract's quantity (at most 6 places, below
    10^18): never rounded. Absent → 1."""
    if not text:
        return Decimal(1)
    if not _QUANTITY.fullmatch(text):
        r.problem(path, "validation_error", f"{path} is {shown(text)}, not a number")
    elif abs(quantity := Decimal(text)) >= Decimal(10) ** 18:
        r.problem(path, "validation_error", f"{path} is {shown(text)}: below 10^18, please")
    elif quantity != quantity.quantize(QUANTITY_STEP):
        r.problem(path, "validation_error",
                  f"{path} is {shown(text)}: a quantity has at most 6 decimal places (as POST "
                  f"/v1/invoices); it is never rounded")
    else:
        return quantity.quantize(QUANTITY_STEP)
    return Decimal(1)


def _check_totals(r: Reader, head: _Header, lines: list[XmlLine]) -> None:
    if None in (head.amount_fen, head.tax_fen, head.total_fen):
        return
    amounts = sum(line.amount_fen for line in lines)
    taxes = sum(line.tax_fen for line in lines)
    if amounts != head.amount_fen:
        r.problem(f"{BASIC}/TotalAmWithoutTax", "totals_mismatch",
                  f"the lines' Amount add up to {yuan(amounts)}, but TotalAmWithoutTax is "
                  f"{yuan(head.amount_fen)}")
    if taxes != head.tax_fen:
        r.problem(f"{BASIC}/TotalTaxAm", "totals_mismatch",
                  f"the lines' ComTaxAm add up to {yuan(taxes)}, but TotalTaxAm is "
                  f"{yuan(head.tax_fen)}")
    if head.amount_fen + head.tax_fen != head.total_fen:
        r.problem(HEADER_TOTAL, "totals_mismatch",
                  f"TotalAmWithoutTax {yuan(head.amount_fen)} + TotalTaxAm "
                  f"{yuan(head.tax_fen)} = {yuan(head.amount_fen + head.tax_fen)}, but "
                  f"TotalTax-includedAmount is {yuan(head.total_fen)}")


def _original(r: Reader, node: Element, path: str) -> tuple[str | None, str]:
    """The invoice a red-letter file reverses (its key), and the reason given."""
    code_text = r.text("OriginalInvoiceCode", base=node, base_path=path, required=False)
    number_text = r.text("OriginalInvoiceNumber", base=node, base_path=path, required=False)
    reason = r.text("RedReason", base=node, base_path=path, required=False)
    if number_text and re.fullmatch(r"[0-9]{10}|[0-9]{12}", code_text) and \
            re.fullmatch(r"[0-9]{8}", number_text):
        return f"{code_text}-{number_text}", reason  # a legacy VAT invoice's code-number
    if re.fullmatch(r"[0-9]{20}", code_text):
        return code_text, reason
    if not code_text and re.fullmatch(r"[0-9]{20}", number_text):
        return number_text, reason  # some issuers put the 数电票 number here
    if code_text:
        r.problem(f"{path}/OriginalInvoiceCode", "validation_error",
                  f"the original invoice's number has 20 digits, not {shown(code_text)}")
    else:
        r.problem(f"{path}/OriginalInvoiceCode", "validation_error",
                  f"{path}/OriginalInvoiceCode is missing: a red-letter invoice names the "
                  f"original it reverses")
    return None, reason


def _check_signs(r: Reader, red: bool, header_total: int | None) -> None:
    """A normal invoice's amounts are ≥ 0; a red-letter one's ≤ 0 with a negative total. Each
    amount of the wrong sign is named (docs/xml-invoices.md: invalid_amount)."""
    if red and header_total is not None and header_total >= 0:
        r.problem(HEADER_TOTAL, "invalid_amount",
                  "a red-letter invoice (SpecificInformation/RedEInvoice) has a negative "
                  "TotalTax-includedAmount")
    for path, fen in r.amounts:
        if red and fen > 0 and path != HEADER_TOTAL:
            r.problem(path, "invalid_amount",
                      f"{path} is {yuan(fen)}: a red-letter invoice's amounts are zero or "
                      f"negative")
        elif not red and fen < 0:
            r.problem(path, "invalid_amount",
                      f"{path} is {yuan(fen)}: a normal invoice's amounts are zero or "
                      f"positive (a negative invoice is a red-letter one, which names its "
                      f"original in SpecificInformation/RedEInvoice)")


def unit_price_fen(line: XmlLine) -> int:
    """Tax-included unit price in fen (the JSON contract's unit_price_fen), rounded half up."""
    if line.quantity == 0:
        return abs(line.total_fen)
    return abs(int((Decimal(line.total_fen) / line.quantity).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)))


# --- ZIP ------------------------------------------------------------------------------------

@dataclass
class Member:
    name: str
    content: bytes


@dataclass
class Archive:
    files: list[Member]           # the XML files, in the archive's order
    meta: bytes | None            # meta.json, when present
    ignored: list[str]            # members that are not XML (e.g. the OFD/PDF renderings)


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:
        return info.filename
    try:  # Windows zips Chinese names in GBK without the UTF-8 flag; zipfile read cp437
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _name_problem(name: str) -> str | None:
    if not name or "\x00" in name:
        return "an empty or NUL-containing name"
    if len(name) > MAX_NAME_CHARS:
        return f"a name of {len(name)} characters (at most {MAX_NAME_CHARS})"
    if "\\" in name:
        return "a backslash in the name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if any(part == ".." for part in name.split("/")):
        return "a path that climbs out of the archive (..)"
    return None


def open_archive(content: bytes, file: str = "upload.zip") -> Archive:
    """Every member checked before it is decompressed and while it is; raises Unsafe."""
    def refuse(element: str, message: str) -> Unsafe:
        element = element[:MAX_NAME_CHARS]
        return Unsafe("unsafe_archive", file if element == "" else element, element or "zip",
                      message)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise refuse("", f"the file is not a readable ZIP: {str(exc)[:200]}") from None
    if len(infos) > MAX_MEMBERS:
        raise refuse("", f"the ZIP has {len(infos)} entries; at most {MAX_MEMBERS}")
    seen: set[str] = set()
    files: list[Member] = []
    meta, ignored, total = None, [], 0
    for info in infos:
        name = _member_name(info)
        problem = _name_problem(name)
        if problem:
            raise refuse(name or "?", f"member {shown(name)} is refused: {problem}")
        normal = posixpath.normpath(name).casefold()
        if normal in seen:
            raise refuse(name, f"member {shown(name)} appears twice in the ZIP")
        seen.add(normal)
        if info.is_dir():
            continue
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise refuse(name, f"member {shown(name)} is a symbolic link")
        if info.flag_bits & 0x1:
            raise refuse(name, f"member {shown(name)} is encrypted")
        lower = name.casefold()
        base = posixpath.basename(lower)
        if lower.startswith("__macosx/") or base in (".ds_store", "thumbs.db"):
            continue
        if base.endswith((".zip", ".jar", ".7z", ".rar", ".gz", ".tar", ".tgz", ".bz2", ".xz")):
            raise refuse(name, f"member {shown(name)} is an archive inside the archive")
        if not (base.endswith(".xml") or lower == META):
            ignored.append(name)
            continue
        if info.file_size > MAX_XML_BYTES:
            raise refuse(name, f"member {shown(name)} decompresses to {info.file_size} bytes; an "
                               f"invoice XML is at most {MAX_XML_BYTES}")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise refuse(name, f"member {shown(name)} is compressed {ratio}:1, more than "
                               f"{MAX_RATIO}:1 (a ZIP bomb)")
        if total + info.file_size > MAX_TOTAL_BYTES:
            raise refuse(name, f"the ZIP decompresses to more than {MAX_TOTAL_BYTES} bytes")
        data = _read_capped(archive, info, name, refuse)
        total += len(data)
        if total > MAX_TOTAL_BYTES:
            raise refuse(name, f"the ZIP decompresses to more than {MAX_TOTAL_BYTES} bytes")
        if data[:4] == b"PK\x03\x04":
            raise refuse(name, f"member {shown(name)} is an archive inside the archive")
        if lower == META:
            meta = data
            continue
        files.append(Member(name, data))
        if len(files) > MAX_FILES:
            raise refuse("", f"the ZIP holds more than {MAX_FILES} XML files")
    return Archive(files, meta, ignored)


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, refuse) -> bytes:
    """Decompress at most MAX_XML_BYTES (+1 to notice more), whatever the header declared."""
    try:
        with archive.open(info) as stream:
            out = stream.read(MAX_XML_BYTES + 1)  # never more than this is decompressed
        if len(out) > MAX_XML_BYTES:
            raise refuse(name, f"member {shown(name)} decompresses to more than {MAX_XML_BYTES} "
                               f"bytes (a ZIP bomb)")
    except Unsafe:
        raise
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError,
            RuntimeError) as exc:
        raise refuse(name, f"member {shown(name)} cannot be read: {str(exc)[:200]}") from None
    return out
