"""Schemathesis hooks for scripts/schemathesis-run.sh (docs/openapi.md): what a real client knows
that no schema can say, so the run tests the API rather than its own guesses.

- Each operation is called with a key of a role that may call it (the bureau's admin where it
  may, else the party whose write it is: provider, enterprise, reviewer), read from the routes'
  `allow(...)` dependencies. One admin key alone meets 403 on every provider and enterprise write.
- A fresh Idempotency-Key per request: a generator that sends one key with two different bodies
  meets the contract's 422 idempotency_key_reused (PRODUCT.md §4), which is the API being right.
- A null for an optional query parameter (the coverage phase's "null value") is sent as a
  control character, which the schema refuses too: no URL can carry a null, so the client would
  drop it and send a request that is rightly accepted.
- A cursor is an opaque token the API returned: a generated one that the schema allows is
  dropped (a forged cursor is refused by design, tests/contract/test_hostile_input.py).
- An integral float (5217.0) is sent as the integer it is: JSON Schema's `integer` admits 5217.0,
  but money and counts are strict integers here, refused as floats on purpose (PRODUCT.md §2),
  and no keyword can say so.
- A quantity that is a JSON number gets at most 6 decimal places (numeric(24, 6); a string
  quantity's pattern says so, but JSON Schema's `multipleOf: 0.000001` is not exact on floats).
- Closing a year early (`force`) gives a reason, which the code asks only before the deadline.
- A budget year's dates come in order (the window opens before it closes): a rule between
  fields, and for an update between a field and the stored policy.
- An XML upload is a well-formed 数电票 from the provider key's provider to the enterprise key's
  enterprise (tests/xmlgen.py), not a random string.
  A hold's quote, like an invoice, has its service period in order.
  One XML file (raw, or the one file part of a form) comes with a service period in order,
  which it cannot carry itself.
- A USCC gets its check character (GB 32100-2015: a weighted sum mod 31, which no pattern
  states), and an invoice's total is its lines' sum, for the enterprise the enterprise key is
  bound to, so a posted invoice can be redeemed by that key further down a link.

- What stored state decides, read back from the API with the admin key (SCHEMATHESIS_BASE_URL):
  an approved amount at most the amount requested, a voucher valid until at most its year's
  redemption deadline (an application's approval or last review too), an invoice's service
  period not wholly in closed budget years (earlier calls close years), an objection to lines
  that the notice lists. In the stateful phase, where a link supplies one field of a body, the
  other names something that exists: a voucher issued in a year that exists (the open one), a
  redemption naming no voucher when the generated one does not exist (the service picks).
- An objection comes from a real name (a letter, not a word for "anonymous": more than a pattern
  can say), with at least 10 characters of content once white space is stripped, and, as the public's objections do, from its own address (X-Forwarded-For through the
  loopback proxy the script trusts): one address may send 5 an hour, and the run sends hundreds.

- A read (GET) in the fuzzing phase names, every other positive case, an object that exists
  (the first of its list, the open year): a generated id names nothing, and its 404 says only
  that; the other half keeps the generated ids. Writes keep theirs (the stateful phase follows
  the links to what a write made). In the stateful phase a list is read unfiltered, as a client
  browsing it would, so that its first item (service/openapi_links.py PAGE_LINKS) exists.

Only values the schema already allows are changed, and only to other values it allows: a
negative case stays negative (Schemathesis re-validates what a hook changed).
Keys come from SCHEMATHESIS_KEYS ("role=key role=key ..."); SCHEMATHESIS_ENTERPRISE_USCC names
the enterprise key's enterprise.
"""

import os
import re
import uuid

import requests
import schemathesis
from schemathesis.generation import GenerationMode

from service.app import create_app
from service.kit.db import make_engine
from service.kit.uscc import ALPHABET, with_check_char
from service.notices.router import NOT_A_NAME

KEYS = dict(item.split("=", 1) for item in os.environ.get("SCHEMATHESIS_KEYS", "").split())
ENTERPRISE_USCC = os.environ.get("SCHEMATHESIS_ENTERPRISE_USCC")
PROVIDER_USCC = os.environ.get("SCHEMATHESIS_PROVIDER_USCC")
BASE_URL = os.environ.get("SCHEMATHESIS_BASE_URL", "")
OPEN_YEAR = int(os.environ.get("SCHEMATHESIS_YEAR", "2026"))
XML_TYPES = ("application/xml", "text/xml")
PREFERENCE = ("admin", "provider", "enterprise", "reviewer", "auditor")
_KEY = re.compile(r".{1,255}", re.DOTALL)  # every key the schema allows
_USCC_FIELDS = ("uscc", "enterprise_uscc")


def _roles(dependant) -> set[str]:
    """The roles an `allow(*roles)` dependency (service.api) admits, anywhere below a route."""
    found: set[str] = set()
    call = dependant.call
    if call is not None and getattr(call, "__qualname__", "").startswith("allow."):
        cells = dict(zip(call.__code__.co_freevars, call.__closure__ or ()))
        found |= set(cells["roles"].cell_contents)
    for sub in dependant.dependencies:
        found |= _roles(sub)
    return found


def _walk(routes):
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _walk(included.routes)
        elif getattr(route, "operation_id", None):
            yield route


def _role_by_operation() -> dict[str, str]:
    app = create_app(make_engine("sqlite://"))
    chosen = {}
    for route in _walk(app.routes):
        roles = _roles(route.dependant)
        role = next((r for r in PREFERENCE if r in roles and r in KEYS), None)
        if role:
            chosen[route.operation_id] = role
    return chosen


ROLE = _role_by_operation()


@schemathesis.hook
def before_call(context, case, **kwargs):
    operation_id = case.operation.definition.raw.get("operationId")
    role = ROLE.get(operation_id)
    if role and case.headers is not None and "Authorization" not in case.headers:
        case.headers["Authorization"] = f"Bearer {KEYS[role]}"
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and _KEY.fullmatch(key):
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    cursor = (case.query or {}).get("cursor")
    if isinstance(cursor, str) and len(cursor) <= 200 and not re.search(r"[\x00-\x1f\x7f]",
                                                                       cursor):
        del case.query["cursor"]
    _send_null_query_as_refused(case)
    if case.method.upper() == "GET" and _positive(case) and _phase(case) == "fuzzing":
        _real_ids(case)
    if case.method.upper() == "GET" and _phase(case) == "stateful" and not case.path_parameters \
            and case.query:
        case.query = {k: v for k, v in case.query.items() if k == "limit"}  # a list unfiltered
    if operation_id == "createInvoicesFromXml" and case.media_type in XML_TYPES and _positive(
            case) and isinstance(case.body, (str, bytes)) and PROVIDER_USCC and ENTERPRISE_USCC:
        case.body = _an_invoice_xml().decode()  # a string, as the schema says (bytes re-validate as not one)
        _service_period(case)
    if operation_id == "createInvoicesFromXml" and case.media_type == "multipart/form-data" and \
            _positive(case) and isinstance(case.body, dict) and PROVIDER_USCC and ENTERPRISE_USCC:
        case.body = {"files": [_an_invoice_xml().decode()]}  # one XML file part, no meta
        _service_period(case)
    if isinstance(case.body, (dict, list)):
        case.body = _integers(case.body)
    if isinstance(case.body, dict):
        _shape_body(operation_id, case, case.body)
        if _positive(case):
            _shape_stored_state(operation_id, case, case.body)


def _send_null_query_as_refused(case) -> None:
    """The coverage phase's "null value" case for an optional query parameter: no URL can carry
    a null, so the client drops it and sends the positive request without the parameter, which
    is then accepted (a false ST201; schemathesis#2312 is the same for other values). Send a
    value the schema refuses instead (a control character), so the case stays negative."""
    data = getattr(getattr(case.meta, "phase", None), "data", None)
    scenario = getattr(getattr(data, "scenario", None), "value", None)
    location = getattr(getattr(data, "parameter_location", None), "value", None)
    if scenario == "null_value" and location == "query" and data.parameter:
        case.query = {**(case.query or {}), data.parameter: "\x00"}


# A path parameter -> the list whose first item names one that exists (GETs, _real_ids).
_LISTS = {"application_id": "/v1/applications", "enterprise_id": "/v1/enterprises",
          "invoice_id": "/v1/invoices", "provider_id": "/v1/providers",
          "redemption_id": "/v1/redemptions", "review_id": "/v1/reviews",
          "voucher_id": "/v1/vouchers", "settlement_id": "/v1/settlements"}
_FOUND: dict[str, str | None] = {}
_TURN = [0]


def _phase(case) -> str | None:
    phase = getattr(case.meta, "phase", None)
    return str(getattr(phase, "name", "")) or None


def _real_ids(case) -> None:
    """Every other positive GET names objects that exist (a generated id names none)."""
    parameters = case.path_parameters or {}
    if not parameters:
        return
    _TURN[0] += 1
    if _TURN[0] % 2:
        return
    public = case.path.startswith("/v1/public/")
    for name in parameters:
        if name == "year":
            parameters[name] = OPEN_YEAR
            continue
        source = "/v1/public/notices" if public and name == "settlement_id" else _LISTS.get(name)
        if source and source not in _FOUND:
            items = (_get(source + "?limit=1") or {}).get("items") or [{}]
            _FOUND[source] = items[0].get("id")
        if source and _FOUND.get(source):
            parameters[name] = _FOUND[source]


def _service_period(case) -> None:
    """One XML names no service period: the query must, in order (a rule between fields), and
    not wholly in closed years (stored state)."""
    query = case.query if case.query is not None else {}
    start, end = query.get("service_start"), query.get("service_end")
    if not (isinstance(start, str) and isinstance(end, str) and start <= end) or \
            _all_closed(start, end):
        query.update(service_start=f"{OPEN_YEAR}-03-01", service_end=f"{OPEN_YEAR}-03-31")
    case.query = query


def _get(path: str) -> dict | None:
    """What the API answers the admin key for `path` (stored state a client would read)."""
    if not BASE_URL or "admin" not in KEYS:
        return None
    answer = requests.get(BASE_URL + path, timeout=10,
                          headers={"Authorization": f"Bearer {KEYS['admin']}"})
    return answer.json() if answer.status_code == 200 else None


def _all_closed(start, end) -> bool:
    """Whether every budget year of a service period exists and is closed (invoices refuse it)."""
    if not (isinstance(start, str) and isinstance(end, str) and start[:4].isdigit()
            and end[:4].isdigit()) or int(end[:4]) - int(start[:4]) > 3:
        return False
    years = [_get(f"/v1/years/{y}") for y in range(int(start[:4]), int(end[:4]) + 1)]
    return all(y is not None and y.get("status") == "closed" for y in years)


def _shape_stored_state(operation_id: str, case, body: dict) -> None:
    """A positive case's values that stored state decides, read back from the API."""
    if operation_id in ("approveApplication", "reviewApplication"):
        application = _get(f"/v1/applications/{case.path_parameters.get('application_id')}")
        if application and type(body.get("approved_fen")) is int:
            body["approved_fen"] = min(body["approved_fen"], application["requested_fen"])
        if application:
            _within_deadline(body, application.get("year"))
    elif operation_id == "issueVoucher":
        if _phase(case) == "stateful" and type(body.get("year")) is int and \
                _get(f"/v1/years/{body['year']}") is None:
            body["year"] = OPEN_YEAR  # a link gives the enterprise; the year is one that exists
        _within_deadline(body, body.get("year"))
    elif operation_id == "createRedemption" and _phase(case) == "stateful":
        voucher = body.get("voucher_id")
        if isinstance(voucher, str) and _get(f"/v1/vouchers/{voucher}") is None:
            del body["voucher_id"]  # a link gives the invoice; the service picks the voucher
    elif operation_id == "createInvoice":
        _open_period(body)
    elif operation_id == "createInvoiceBatch" and isinstance(body.get("invoices"), list):
        for item in body["invoices"]:
            if isinstance(item, dict):
                _open_period(item)
    elif operation_id == "createObjection":
        _shape_objection(case, body)


def _within_deadline(body: dict, year) -> None:
    valid_until = body.get("valid_until")
    if isinstance(valid_until, str) and type(year) is int:
        deadline = (_get(f"/v1/years/{year}") or {}).get("redemption_deadline")
        if deadline and valid_until > deadline:
            body["valid_until"] = deadline


def _open_period(invoice: dict) -> None:
    if _all_closed(invoice.get("service_start"), invoice.get("service_end")):
        invoice["service_start"] = f"{OPEN_YEAR}-03-01"
        invoice["service_end"] = f"{OPEN_YEAR}-03-31"


def _shape_objection(case, body: dict) -> None:
    name = body.get("name")
    if isinstance(name, str) and (len(name.strip()) < 2 or name.strip().lower() in NOT_A_NAME
                                  or not any(ch.isalpha() for ch in name)):
        body["name"] = "张三"
    content = body.get("content")
    if isinstance(content, str) and len(content.strip()) < 10:  # at least 10, white space aside
        body["content"] = "该企业的发票与合同金额不符，请核查。"
    notice = _get(f"/v1/public/notices/{case.path_parameters.get('settlement_id')}")
    lines = [line["line_id"] for line in (notice or {}).get("lines", [])]
    if lines and isinstance(body.get("line_ids"), list) and body["line_ids"]:
        body["line_ids"] = [lines[i % len(lines)] for i in range(len(body["line_ids"]))]
    address = uuid.uuid4().int
    case.headers = {**(case.headers or {}),
                    "X-Forwarded-For": f"10.{address >> 16 & 255}.{address >> 8 & 255}.{address & 255}"}


def _positive(case) -> bool:
    """A positive case whose query has no null (which no URL can carry: a negative case)."""
    meta = case.meta
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE and not any(
        value is None for value in (case.query or {}).values())


def _an_invoice_xml() -> bytes:
    """A well-formed 数电票 from the provider key's provider to the enterprise key's enterprise,
    with a fresh number: what the tax platform issues is more than a string schema can state."""
    from tests.xmlgen import XInvoice, gpu

    return XInvoice(seller_uscc=PROVIDER_USCC, buyer_uscc=ENTERPRISE_USCC,
                    lines=[gpu(100_000)]).xml()


def _integers(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integers(v) for v in value]
    return value


def _valid_uscc(value) -> bool:
    return isinstance(value, str) and len(value) == 18 and set(value) <= set(ALPHABET)


def _shape_body(operation_id: str, case, body: dict) -> None:
    for field in _USCC_FIELDS:
        if _valid_uscc(body.get(field)):
            body[field] = with_check_char(body[field][:17])
    if operation_id == "createUsageStatement" and isinstance(body.get("lines"), list):
        for line in body["lines"]:
            if isinstance(line, dict) and _valid_uscc(line.get("enterprise_uscc")):
                line["enterprise_uscc"] = ENTERPRISE_USCC or line["enterprise_uscc"]
    if operation_id == "createYear" and type(body.get("year")) is int:
        _shape_year(body, body["year"])
    if operation_id == "updateYear" and type(case.path_parameters.get("year")) is int:
        _shape_year(body, case.path_parameters["year"])
    if operation_id == "closeYear" and body.get("force") is True and not body.get("reason"):
        body["reason"] = "schemathesis"  # an early close needs one (before the deadline only)
    if operation_id == "createHold":
        _in_order(body)
    if operation_id == "createInvoice":
        _shape_invoice(body)
        _unique_number(body, set())
    elif operation_id == "createInvoiceBatch" and isinstance(body.get("invoices"), list):
        seen = set()
        for item in body["invoices"]:
            if isinstance(item, dict):
                _shape_invoice(item)
                _unique_number(item, seen)


def _unique_number(invoice: dict, seen: set) -> None:
    """An invoice is posted once: a batch that names one twice, or one posted before (the
    generator repeats its favourite values), is refused item by item."""
    number = invoice.get("invoice_number")
    if isinstance(number, str) and number.isdigit() and 0 < len(number) <= 20:
        number = str(uuid.uuid4().int)[-len(number):].zfill(len(number))
        while number in seen:
            number = str(uuid.uuid4().int)[-len(number):].zfill(len(number))
        invoice["invoice_number"] = number
        seen.add(number)


def _shape_year(body: dict, year: int) -> None:
    """A policy's dates in order (years.service._check_policy): the window opens before it
    closes, invoices are eligible before the redemption deadline; the service's defaults where
    one of a pair is not given, both sent (an update would compare with the stored one)."""
    defaults = {"application_opens_on": f"{year}-01-01", "application_closes_on": f"{year}-12-31",
                "eligible_from": f"{year - 1}-01-01", "redemption_deadline": f"{year + 1}-01-31"}
    for first, last in (("application_opens_on", "application_closes_on"),
                        ("eligible_from", "redemption_deadline")):
        pair = [body.get(first) or defaults[first], body.get(last) or defaults[last]]
        if all(isinstance(day, str) for day in pair) and (first in body or last in body):
            body[first], body[last] = sorted(pair)


def _shape_invoice(invoice: dict) -> None:
    lines = invoice.get("lines")
    if not isinstance(lines, list) or not all(
            isinstance(line, dict) and type(line.get("amount_fen")) is int for line in lines):
        return
    if _valid_uscc(invoice.get("enterprise_uscc")) and ENTERPRISE_USCC:
        invoice["enterprise_uscc"] = ENTERPRISE_USCC
    for line in lines:  # numeric(24, 6): a JSON number with more places is refused
        if isinstance(line.get("quantity"), float):
            line["quantity"] = round(line["quantity"], 6)
    if sum(line["amount_fen"] for line in lines) > 10**15:  # total_fen's maximum
        for line in lines:
            line["amount_fen"] //= len(lines)
    total = sum(line["amount_fen"] for line in lines)
    if type(invoice.get("total_fen")) is int:
        invoice["total_fen"] = total
        if type(invoice.get("tax_fen")) is int and invoice["tax_fen"] > total:
            invoice["tax_fen"] = total
    _in_order(invoice)


def _in_order(body: dict) -> None:
    """A service period starts before it ends (a rule between fields: an invoice, a quote)."""
    start, end = body.get("service_start"), body.get("service_end")
    if isinstance(start, str) and isinstance(end, str) and end < start:
        body["service_start"], body["service_end"] = end, start
