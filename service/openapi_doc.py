"""The OpenAPI document as clients read it: every error response is application/problem+json
with the Problem schema and one example per code — the codes the route declares and those every
operation of its kind can meet (problems.ambient_errors)."""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service import openapi_links, problems


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
    app.openapi_schema = schema
    return schema
