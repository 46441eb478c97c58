"""The OpenAPI document as clients read it: every error response is application/problem+json
with the Problem schema, and the refusals every route can meet (400 before routing; 401, 403,
429 and 503 on /v1; 413 and 415 with a body) are documented on each operation."""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service import problems


def with_problems(app: FastAPI) -> dict:
    """Every error response is documented as application/problem+json with the Problem schema,
    including FastAPI's automatic 422, and every /v1 route documents 401 and 403."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes, separate_input_output_schemas=False)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in components:
        components["Problem"] = problems.Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        components.update(components["Problem"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            # RequestContextMiddleware refuses control characters in any URL before routing.
            responses.setdefault("400", {"description": "Bad request (control characters in "
                                                        "the URL)"})
            if path.startswith("/v1/"):
                responses.setdefault("401", {"description": "No or bad API key"})
                responses.setdefault("403", {"description": "Role not allowed"})
                responses.setdefault("429", {"description": "Too many failed authentications"})
                responses.setdefault("503", {"description": "Database unavailable"})
            if operation.get("requestBody"):
                responses.setdefault("413", {"description": "Body too large"})
                responses.setdefault("415", {"description": "Unsupported media type"})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = problem
    app.openapi_schema = schema
    return schema
