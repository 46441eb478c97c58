"""OpenAPI links (docs/openapi.md): from what a create operation answers to the operations that
take the object it made, so a client generator (and Schemathesis's stateful phase) can follow
createRedemption -> getRedemption with the id it was given.

One table, read by service.app when it builds the document: the operation whose 201 answer
holds the value, and per operation the value feeds, its parameters as runtime expressions. (Not
from lists: an empty page has no first item to follow.)
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
}


def add_links(document: dict) -> None:
    """Put LINKS on each create operation's 201 response, each link named by its target."""
    operations = {operation["operationId"]: operation
                  for methods in document.get("paths", {}).values()
                  for operation in methods.values()}
    for source, targets in LINKS.items():
        created = operations[source]["responses"]["201"]
        created["links"] = {operations[target]["operationId"]: {
            "operationId": target, "parameters": dict(parameters)}
            for target, parameters in targets.items()}
