"""OpenAPI links (docs/openapi.md): from what a create operation (or a list) answers to the
operations that take the object it made (or the first it lists), so a client generator (and
Schemathesis's stateful phase) can follow createRedemption -> getRedemption with the id it was
given.

One table, read by service.app when it builds the document: the operation whose 201 (or 200)
answer holds the value, and per operation the value feeds, its parameters as runtime
expressions.
"""

_ID = "$response.body#/id"
_YEAR = "$response.body#/year"
_FIRST_ITEM = "$response.body#/items/0/id"

_INVOICE = {"getInvoice", "getInvoiceSource", "recordPayment", "createReversal"}
_ENTERPRISE = {"getEnterprise", "updateEnterprise"}
_PROVIDER = {"getProvider", "updateProvider"}
_APPLICATION = {"getApplication", "approveApplication", "rejectApplication",
                "reviewApplication"}
_SETTLEMENT = {"getSettlement", "approveSettlement", "paySettlement", "exportSettlement",
               "reviewSettlement"}
_YEAR_OPS = {"getYear", "updateYear", "getItemCategories", "putItemCategories", "getBudget",
             "getReconciliation", "closeYear", "reclaimIdleBalances", "getAnnualReport",
             "listScenarios", "createScenario", "backtestRiskRules", "setProviderApproval"}


def _each(operations: set[str], **parameters: str) -> dict[str, dict[str, str]]:
    return {operation: parameters for operation in sorted(operations)}


# created by -> {operation it links to: {parameter: runtime expression}}
LINKS: dict[str, dict[str, dict[str, str]]] = {
    "createRedemption": _each({"getRedemption"}, redemption_id=_ID),
    "createInvoice": _each(_INVOICE, invoice_id=_ID),
    "createInvoiceBatch": _each(_INVOICE, invoice_id=_FIRST_ITEM),
    "createInvoicesFromXml": _each(_INVOICE, invoice_id=_FIRST_ITEM),
    "recordPayment": _each({"getInvoice"}, invoice_id=_ID),
    "createReversal": _each({"getInvoice"}, invoice_id=_ID),
    "createYear": _each(_YEAR_OPS, year=_YEAR),
    "createEnterprise": _each(_ENTERPRISE, enterprise_id=_ID),
    "createProvider": _each(_PROVIDER, provider_id=_ID),
    "createApiKey": _each({"revokeApiKey"}, key_id=_ID),
    "createApplication": _each(_APPLICATION, application_id=_ID),
    "issueVoucher": _each({"getVoucher", "revokeVoucher"}, voucher_id=_ID),
    "createSettlement": _each(_SETTLEMENT, settlement_id=_ID),
    "createScenario": _each({"getScenario"}, year=_YEAR, scenario_id=_ID),
    # A list's first item is an object the caller may read: the same operations take it.
    "listRedemptions": _each({"getRedemption"}, redemption_id=_FIRST_ITEM),
    "listInvoices": _each(_INVOICE, invoice_id=_FIRST_ITEM),
    "listEnterprises": _each(_ENTERPRISE, enterprise_id=_FIRST_ITEM),
    "listProviders": _each(_PROVIDER, provider_id=_FIRST_ITEM),
    "listApplications": _each(_APPLICATION, application_id=_FIRST_ITEM),
    "listVouchers": _each({"getVoucher", "revokeVoucher"}, voucher_id=_FIRST_ITEM),
    "listSettlements": _each(_SETTLEMENT, settlement_id=_FIRST_ITEM),
    "listReviews": _each({"getReview", "clearReview", "rejectReview"}, review_id=_FIRST_ITEM),
}


def add_links(document: dict) -> None:
    """Put LINKS on each source's success response (201 of a create, 200 of a list), each link
    named by its target operation."""
    operations = {operation["operationId"]: operation
                  for methods in document.get("paths", {}).values()
                  for operation in methods.values()}
    for source, targets in LINKS.items():
        responses = operations[source]["responses"]
        created = responses.get("201") or responses["200"]
        created["links"] = {operations[target]["operationId"]: {
            "operationId": target, "parameters": dict(parameters)}
            for target, parameters in targets.items()}
