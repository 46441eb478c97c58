"""Fuzz the API with Schemathesis against the app's own OpenAPI document (issue 5, part 2).

Every operation is called with a key for each role (and without one) on a database seeded with
a year, an enterprise, an approved provider, a voucher, a paid invoice, a redemption and an
application, so generated requests reach real objects as well as unknown ids. For every
response: no 5xx, the status code, content type and body match the document (errors are
application/problem+json `Problem`s), and every /v1 operation without a key is 401 (but the
public notice's, /v1/public/, which need none).

Bounded for CI: SCHEMATHESIS_EXAMPLES (default 15) examples per operation, derandomised, each
sent with every role's key; Schemathesis's boundary cases (its coverage phase, thousands per
run) each with one role's key in turn (SCHEMATHESIS_ROLES=all: every role). Run longer with
`make test-long` (SCHEMATHESIS_EXAMPLES=300, SCHEMATHESIS_ROLES=all).
"""

import os
import random
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import TestPhase
from schemathesis.python import asgi as st_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.kit.db import make_engine
from tests.factories import Api
from tests.flows import line, make_world
from tests.inprocess import ThreadPortal

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))

# PostgreSQL draws only the requests that conform to the document (positive mode), about as
# many as the two-mode run on SQLite draws of them; the non-conforming ones (negative mode) are
# refused by request validation before any database work, so they run on SQLite only, and
# tests/contract/test_hostile_input.py sends every route's bad values to PostgreSQL as well.
PG_EXAMPLES = max(1, (EXAMPLES + 1) // 2)

# The coverage phase's boundary cases (nine in ten of the requests drawn) go to one role each,
# the roles taken in turn per operation, so every role meets a quarter of them; the generated
# examples go to every role. SCHEMATHESIS_ROLES=all sends every case to every role (make
# test-long). The keyless call is made for every case either way.
EVERY_ROLE_FOR_EVERY_CASE = os.environ.get("SCHEMATHESIS_ROLES", "rotate") == "all"
_turns: dict[tuple[str, str], int] = {}

# The document is the same for every app; build it once from a throwaway app (no database use).
_DOCUMENT = create_app(make_engine("sqlite://")).openapi()


def _schema(modes: list[GenerationMode], examples: int):
    config = schemathesis.config.SchemathesisConfig()
    config.projects.default.generation.update(modes=modes, max_examples=examples,
                                              deterministic=True)
    return schemathesis.openapi.from_dict(_DOCUMENT, config=config)


schema = _schema([GenerationMode.POSITIVE, GenerationMode.NEGATIVE], EXAMPLES)
pg_schema = _schema([GenerationMode.POSITIVE], PG_EXAMPLES)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]

BEFORE_AUTH = {(400, "bad_request"), (405, "method_not_allowed"), (413, "body_too_large"),
               (415, "unsupported_media_type")}

# Schemathesis's ASGI transport runs the app on this thread's loop, not behind anyio's portal
# (tests/inprocess.py says why).
_PORTAL = ThreadPortal()

# Known ids by path parameter name, filled by the `seeded` fixture before any case is drawn.
KNOWN: dict[str, list[Any]] = {}


def flatmap_path_parameters(context, path_parameters):
    """Half the time, replace generated ids by the seeded objects' ids so the fuzzer also
    reaches real rows (another party's or the caller's own), not only 404s."""
    if not path_parameters:
        return st.just(path_parameters)
    seeded = {name: KNOWN[name] for name in path_parameters if KNOWN.get(name)}
    if not seeded:
        return st.just(path_parameters)
    replaced = st.fixed_dictionaries({name: st.sampled_from(values)
                                      for name, values in seeded.items()})
    return st.one_of(st.just(path_parameters),
                     replaced.map(lambda ids: {**path_parameters, **ids}))


schema.hook(flatmap_path_parameters)
pg_schema.hook(flatmap_path_parameters)


def _seed(api: Api):
    """One of everything, and a key for each role."""
    world = make_world(api)
    invoice = world.invoice([line("gpu", 1_000_000)])
    voucher = world.voucher(500_000)
    redemption = world.redeem(invoice["id"], voucher["id"])
    application = api.ok("POST", "/v1/applications", headers=world.ent, expect=201,
                         json={"year": 2026, "requested_fen": 100_000, "project_name": "大模型",
                               "purpose": "训练"})
    settlement = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    keys = api.ok("GET", "/v1/api-keys")["items"]
    known = dict(year=[2026], enterprise_id=[world.enterprise["id"]],
                 provider_id=[world.provider["id"]], voucher_id=[voucher["id"]],
                 invoice_id=[invoice["id"]], redemption_id=[redemption["id"]],
                 application_id=[application["id"]], settlement_id=[settlement["id"]],
                 key_id=[k["id"] for k in keys if k["role"] != "admin"])
    roles = {"admin": api.admin, "auditor": api.auditor(), "provider": world.prov,
             "enterprise": world.ent}
    return roles, known


@pytest.fixture
def seeded(shared_world, monkeypatch):
    """The app on the seeded world (seeded once per module and database, restored for each
    operation's test: tests/seeded.py) and a key for each role."""
    api, (roles, known) = shared_world(_seed)
    monkeypatch.setattr(st_asgi, "_get_portal", lambda: _PORTAL)
    KNOWN.clear()
    KNOWN.update(known)
    _turns.clear()
    yield api.client.app, roles
    KNOWN.clear()
    # Schemathesis keeps each app's lifespan (our delivery worker) running for the whole
    # process; stop it before the engine it polls is disposed.
    st_asgi.shutdown_lifespans()


@schema.parametrize()
@pytest.mark.parametrize("shared_world", ["sqlite"], indirect=True)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_for_every_role(case, seeded):
    _conforms(case, *seeded)


@pg_schema.parametrize()
@pytest.mark.parametrize("shared_world", [pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
@settings(max_examples=PG_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_for_every_role_on_postgres(case, seeded):
    _conforms(case, *seeded)


def _conforms(case, app, roles):
    is_v1 = case.path.startswith("/v1/")
    # The public notice and its objections (docs/notice.md) need no key.
    if is_v1 and not case.path.startswith("/v1/public/"):
        # No key: 401 before any validation of the request. Only refusals that come before
        # routing (the middleware's URL, size and content-type checks; a method the path does
        # not have) may answer first.
        response = case.call(app=app)
        if response.status_code != 401:
            assert (response.status_code, response.json().get("code")) in BEFORE_AUTH, (
                case.method, case.path, response.status_code, response.text)
        case.validate_response(response, checks=CHECKS)
    # The roles in a shuffled but fixed order, so no role always sees the fresh state.
    order = list(roles.items())
    random.Random(f"{case.method} {case.path}").shuffle(order)
    if case.meta.phase.name == TestPhase.COVERAGE and not EVERY_ROLE_FOR_EVERY_CASE:
        turn = _turns.get((case.method, case.path), 0)
        _turns[(case.method, case.path)] = turn + 1
        order = [order[turn % len(order)]]
    for _role, headers in order:
        case.call_and_validate(app=app, headers=headers, checks=CHECKS)
        if not is_v1:
            break
