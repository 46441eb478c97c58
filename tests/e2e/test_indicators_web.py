"""The year page's performance indicators in chromium (issue 24 §3): the card in both languages,
with the category and district tables, nothing overflowing, no raw code, no console error.
The e2e server's year is shared by the suite, so this checks the words and the layout; the
figures are pinned to the fen in tests/reporting/test_performance.py."""

import pytest

from tests.e2e.conftest import YEAR, sign_in
from tests.e2e.test_layout_web import CODES, OVERFLOWS
from tests.e2e.test_web import no_console_errors, paid_invoice
from tests.factories import bearer
from tests.flows import line


@pytest.mark.parametrize("lang, words", [
    ("zh-CN", ("绩效指标", "支持企业数", "算力券使用率", "预算执行率", "撬动算力服务费用（元）",
               "拨付周期中位数", "按类别", "按区域", "GPU 算力")),
    ("en", ("Performance indicators", "Enterprises supported", "Voucher use",
            "Budget execution", "Compute fees leveraged (yuan)", "Median time to payout",
            "By category", "By district", "GPU compute")),
])
def test_the_year_page_shows_the_indicators_card(world, new_page, lang, words):
    api = world.api
    voucher = api.voucher(world.enterprise["id"], 1_000_000, year=YEAR)
    invoice = paid_invoice(world, line("gpu", 1_000_000), line("storage", 100_000))
    api.ok("POST", "/v1/redemptions", headers=bearer(world.ent_key), expect=201,
           json={"invoice_id": invoice["id"], "voucher_id": voucher["id"]})
    page = new_page(width=1280, height=900)
    sign_in(page, api.make_key("auditor"))
    page.goto(f"/web/lang/{lang}?next=/web/")
    response = page.goto(f"/web/bureau/year?year={YEAR}")
    assert response.status == 200
    card = page.locator("#indicators")
    text = card.inner_text()
    for word in words:
        assert word in text, (word, text)
    assert not CODES.search(text), text
    assert page.evaluate(OVERFLOWS) == []
    no_console_errors(page)
