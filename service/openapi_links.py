"""OpenAPI links (docs/openapi.md): from what a create operation answers to the operations that
take the object it made, so a client generator (and Schemathesis's stateful phase) can follow
createRedemption -> getRedemption with the id it was given.

Three tables, read by service.app when it builds the document: the operation whose success
answer (201, or 200 for an action or a list) holds the value, and per operation the value feeds,
its parameters (LINKS) or the fields of its request body (BODY_LINKS) as runtime expressions; and
PAGE_LINKS, from a list's first item to the operations on it: an empty page has nothing to follow
(Schemathesis reports that as data it could not use, not a failure), a page of what exists gives
a client — and the stateful phase — the objects no create operation of the run made: the risk
reviews a flagged redemption opens, the notices and objections of a published batch.
tests/contract/test_openapi_constraints.py fails when an operation that takes an id is reached by
no link.
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
               "reviewSettlement", "publishSettlement", "getPublicNotice", "createObjection"}
_HOLD = {"getHold", "captureHold", "voidHold"}
_YEAR_OPS = {"getYear", "updateYear", "getItemCategories", "putItemCategories", "getBudget",
             "getReconciliation", "closeYear", "reclaimIdleBalances", "getAnnualReport",
             "listScenarios", "createScenario", "compareScenarios", "backtestRiskRules",
             "setProviderApproval", "getYearCalendar", "putYearCalendar", "getPerformance"}


def _each(operations: set[str], **parameters: str) -> dict[str, dict[str, str]]:
    return {operation: parameters for operation in sorted(operations)}


# created by -> {operation it links to: {parameter: runtime expression}}
LINKS: dict[str, dict[str, dict[str, str]]] = {
    "createRedemption": {
        "getRedemption": {"redemption_id": _ID},
        "getInvoice": {"invoice_id": "$response.body#/invoice_id"},
        "getVoucher": {"voucher_id": "$response.body#/draws/0/voucher_id"},
        **_each({"getReview", "clearReview", "rejectReview"}, review_id="$response.body#/review_id"),
    },
    "createInvoice": _each(_INVOICE, invoice_id=_ID),
    "createInvoiceBatch": _each(_INVOICE, invoice_id=_FIRST_ITEM),
    "createInvoicesFromXml": _each(_INVOICE, invoice_id=_FIRST_ITEM),
    "recordPayment": _each({"getInvoice"}, invoice_id=_ID),
    "createReversal": _each({"getInvoice"}, invoice_id=_ID),
    "createYear": _each(_YEAR_OPS, year=_YEAR),
    "createEnterprise": _each(_ENTERPRISE, enterprise_id=_ID),
    "createProvider": _each(_PROVIDER | {"setProviderApproval"}, provider_id=_ID),
    "createApiKey": _each({"revokeApiKey"}, key_id=_ID),
    "createApplication": _each(_APPLICATION, application_id=_ID),
    "issueVoucher": _each({"getVoucher", "revokeVoucher"}, voucher_id=_ID),
    "createSettlement": _each(_SETTLEMENT, settlement_id=_ID),
    "createScenario": _each({"getScenario"}, year=_YEAR, scenario_id=_ID),
    "createObjection": _each({"resolveObjection"}, objection_id=_ID),
    "createHold": _each(_HOLD, hold_id=_ID),
    "approveApplication": _each({"getVoucher", "revokeVoucher"},
                                voucher_id="$response.body#/voucher/id"),
}

# created by -> {operation it links to: {request body field: runtime expression}}: the id a
# later request names in its body (an invoice to redeem, an enterprise to issue a voucher to).
BODY_LINKS: dict[str, dict[str, dict[str, str]]] = {
    "createInvoice": {"createRedemption": {"invoice_id": _ID}},
    "recordPayment": {"createRedemption": {"invoice_id": _ID}},
    "issueVoucher": {"createRedemption": {"voucher_id": _ID}},
    "createEnterprise": _each({"issueVoucher", "createOtherSubsidy", "createRelatedParty"},
                              enterprise_id=_ID),
    "createProvider": {"createRelatedParty": {"provider_id": _ID}},
    "createYear": _each({"createApplication", "createSettlement", "issueVoucher"}, year=_YEAR),
}

# list -> {operation on its first item: {parameter: runtime expression}}
PAGE_LINKS: dict[str, dict[str, dict[str, str]]] = {
    "listReviews": _each({"getReview", "clearReview", "rejectReview"}, review_id=_FIRST_ITEM),
    "listObjections": _each({"resolveObjection"}, objection_id=_FIRST_ITEM),
    "listPublicNotices": _each({"getPublicNotice", "createObjection"}, settlement_id=_FIRST_ITEM),
    "listRedemptions": _each({"getRedemption"}, redemption_id=_FIRST_ITEM),
    "listInvoices": _each({"getInvoice", "getInvoiceSource"}, invoice_id=_FIRST_ITEM),
    "listApplications": _each({"getApplication"}, application_id=_FIRST_ITEM),
    "listSettlements": _each({"getSettlement", "exportSettlement"}, settlement_id=_FIRST_ITEM),
    "listVouchers": _each({"getVoucher"}, voucher_id=_FIRST_ITEM),
    "listEnterprises": _each({"getEnterprise"}, enterprise_id=_FIRST_ITEM),
    "listProviders": _each({"getProvider"}, provider_id=_FIRST_ITEM),
    "listHolds": _each(_HOLD, hold_id=_FIRST_ITEM),
}


def add_links(document: dict) -> None:
    """Put LINKS, BODY_LINKS and PAGE_LINKS on each source operation's success response, each
    link named by its target."""
    operations = {operation["operationId"]: operation
                  for methods in document.get("paths", {}).values()
                  for operation in methods.values()}
    for source in sorted({*LINKS, *BODY_LINKS, *PAGE_LINKS}):
        responses = operations[source]["responses"]
        links = responses["201" if "201" in responses else "200"].setdefault("links", {})
        for target, parameters in {**LINKS.get(source, {}), **PAGE_LINKS.get(source, {})}.items():
            links[target] = {"operationId": target, "parameters": dict(parameters)}
        for target, fields in BODY_LINKS.get(source, {}).items():
            links.setdefault(target, {"operationId": target})["requestBody"] = dict(fields)
