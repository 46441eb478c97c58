"""Errors declared once, named per route (issue 22 item 2): every error is a DomainError class
with its code and status, and every route's OpenAPI responses name the codes it can answer.
This reads each handler's code (tests/raises.py) and fails when it can raise or answer a code
its route does not declare — or declares one it cannot."""

import pytest
from sqlalchemy import create_engine

from service.app import create_app
from service.kit.errors import Busy, DomainError
from service.problems import PROBLEM_JSON, ambient_errors
from tests.raises import codes, raisable
from tests.routes import walk

APP = create_app(create_engine("sqlite://"))
DOCUMENT = APP.openapi()
ROUTES = [(path, sorted(route.methods - {"HEAD"})[0].lower(), route)
          for path, route in walk(APP.routes) if path.startswith("/v1/")]


def declared(path: str, method: str) -> set[str]:
    responses = DOCUMENT["paths"][path][method]["responses"]
    return {code for status, r in responses.items() if status.isdigit() and int(status) >= 400
            for code in r.get("content", {}).get(PROBLEM_JSON, {}).get("examples", {})}


@pytest.mark.parametrize("path,method,route", ROUTES, ids=[f"{m} {p}" for p, m, _ in ROUTES])
def test_a_route_declares_every_code_its_handler_can_answer(path, method, route):
    can = codes(raisable(route.endpoint))
    if "heavy_read" in str(route.endpoint.__code__.co_names):
        can.add(Busy.code)
    assert can - declared(path, method) == set()


@pytest.mark.parametrize("path,method,route", ROUTES, ids=[f"{m} {p}" for p, m, _ in ROUTES])
def test_a_route_declares_no_code_it_cannot_answer(path, method, route):
    operation = DOCUMENT["paths"][path][method]
    can = codes(raisable(route.endpoint)) | codes(ambient_errors(path, operation))
    if "heavy_read" in str(route.endpoint.__code__.co_names):
        can.add(Busy.code)
    assert declared(path, method) - can == set()


def test_the_codes_a_409_can_be_are_in_the_document():
    responses = DOCUMENT["paths"]["/v1/redemptions"]["post"]["responses"]
    assert set(responses["409"]["content"][PROBLEM_JSON]["examples"]) == {
        "credit_blocked", "idempotency_in_flight", "insufficient_balance",
        "invoice_not_eligible", "no_usable_voucher", "nothing_to_redeem", "other_subsidy",
        "provider_not_approved", "related_party", "year_closed"}
    assert "`provider_not_approved`" in responses["409"]["description"]
    assert responses["401"]["content"][PROBLEM_JSON]["schema"] == {
        "$ref": "#/components/schemas/Problem"}


def test_every_error_is_a_class_with_its_own_code():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    found = {}
    for error in subclasses(DomainError):
        if hasattr(error, "codes"):  # a per-file refusal naming several kinds (XmlRefused)
            continue
        first = found.setdefault(error.code, error)
        assert issubclass(error, first) or issubclass(first, error), (error.code, first, error)
    assert {"pool_exhausted", "enterprise_cap_exceeded", "review_closed",
            "beneficiary_account_missing", "busy"} <= set(found)


def test_the_analysis_sees_a_refusal_a_handler_answers():
    """The analysis can fail: a route declaring nothing while its handler answers a refusal."""
    def handler():
        from service.kit.errors import PoolExhausted
        raise PoolExhausted()
    handler.__module__ = "service.vouchers.service"
    assert codes(raisable(handler)) == {"pool_exhausted"}
