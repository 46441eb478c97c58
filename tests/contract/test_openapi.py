"""The committed OpenAPI document is the app's: regenerate it with `make openapi`."""

import json

from service.openapi_export import OUTPUT, render


def test_committed_openapi_matches_the_app():
    assert OUTPUT.exists(), "openapi/openapi.json is missing: run `make openapi`"
    committed = OUTPUT.read_text(encoding="utf-8")
    assert committed == render(), \
        "openapi/openapi.json is stale: run `make openapi` and commit the result"


def test_every_operation_is_documented():
    document = json.loads(render())
    assert document["info"]["title"] == "Compute voucher service"
    ids = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            ids.append(operation["operationId"])
            if path.startswith("/v1/public/"):  # no key: nothing of a key to refuse
                assert not {"401", "403"} & set(operation["responses"]), (method, path)
            elif path.startswith("/v1/"):
                responses = operation["responses"]
                assert "401" in responses, (method, path)
                assert "403" in responses, (method, path)
                assert responses["401"]["content"]["application/problem+json"]["schema"] == \
                    {"$ref": "#/components/schemas/Problem"}
    assert len(ids) == len(set(ids)), "operationIds are unique"
    assert {"code", "detail", "status", "title", "type"} <= set(
        document["components"]["schemas"]["Problem"]["required"])
