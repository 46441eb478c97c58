def test_year_defaults(api):
    year = api.year(2026)
    assert year["pool_fen"] == 2_000_000_000
    assert year["rate_bp"] == 3000
    assert year["enterprise_cap_fen"] == 200_000_000
    assert year["eligible_categories"] == ["gpu", "npu", "accelerator"]
    assert year["settlement_mode"] == "reimbursement"
    assert year["redemption_deadline"] == "2027-01-31"
    assert year["status"] == "open"


def test_issue_voucher(api):
    api.year(2026)
    ent = api.enterprise()
    v = api.voucher(ent["id"], 1_000_000)
    assert v["balance_fen"] == 1_000_000
    assert v["status"] == "active"
