"""The OpenAPI document as clients read it: every error response is application/problem+json
with the Problem schema and one example per code — the codes the route declares and those every
operation of its kind can meet (problems.ambient_errors); a reporting read's answer names the
X-Data-As-Of header it carries when the replica served it."""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from service import openapi_links, problems
from service.api import Reporting

DATA_AS_OF = {"description": "Only on an answer read on the reporting replica "
                             "(READ_DATABASE_URL): the commit time of the last transaction it "
                             "had replayed, ISO 8601; the data is at least that recent. An "
                             "answer without it was read on the primary.",
              "schema": {"type": "string", "format": "date-time"}}


def with_problems(app: FastAPI) -> dict:
    """Every error response is documented as application/problem+json with the Problem schema
    and an example per code, including FastAPI's automatic 422; every operation documents what
    any operation of its kind can answer (problems.document_problems)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes, separate_input_output_schemas=False)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in components:
        components["Problem"] = problems.Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        components.update(components["Problem"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            problems.document_problems(path, operation)
    openapi_links.add_links(schema)  # create operations -> the operations on what they made
    for path, route in _routes(app.routes):
        if _reads_reporting(route):
            for method in route.methods - {"HEAD"}:
                ok = schema["paths"][path][method.lower()]["responses"]["200"]
                ok.setdefault("headers", {})["X-Data-As-Of"] = DATA_AS_OF
    app.openapi_schema = schema
    return schema


def _routes(routes, prefix: str = ""):
    """(full path, route) of every API route, included routers opened up."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _routes(included.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def _reads_reporting(route: APIRoute) -> bool:
    """Whether the route takes the Reporting dependency (service/api.py)."""
    return any(getattr(dep.call, "__annotations__", {}).get("return") is Reporting
               for dep in route.dependant.dependencies)
