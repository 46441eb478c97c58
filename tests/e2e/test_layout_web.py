"""Every page of the console at desktop widths, in both languages (issue 21, item 6): nothing
wider than its card or the window, and no raw category or settlement-mode code where people
expect words."""

import itertools
import re

import pytest

from tests.e2e.conftest import YEAR, sign_in
from tests.e2e.test_web import no_console_errors, paid_invoice
from tests.factories import bearer
from tests.flows import invoice_body, line

# Any element that scrolls sideways (a card, a table's scroll box) or the page itself.
OVERFLOWS = """() => {
    const out = [];
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth + 1) {
        out.push(`viewport ${root.scrollWidth} > ${root.clientWidth}`);
    }
    for (const el of document.querySelectorAll('main .card, main .table-wrap')) {
        if (el.scrollWidth > el.clientWidth + 1) {
            const name = el.id || el.querySelector('[id]')?.id || el.className;
            out.push(`${name}: ${el.scrollWidth} > ${el.clientWidth}`);
        }
    }
    return out;
}"""
_legacy_numbers = itertools.count(4)
CODES = re.compile(r"\b(gpu|npu|accelerator|cpu|storage|network|security|reimbursement|"
                   r"deduction)\b")


def _visible_text(page) -> str:
    """What the page shows, the options of its drop-downs included; not the audit log's
    summaries, which quote the hash-chained record verbatim."""
    return page.evaluate("""() => {
        const main = document.querySelector('main').cloneNode(true);
        main.querySelectorAll('td.summary, .mono').forEach(el => el.remove());
        document.body.appendChild(main);
        const text = main.innerText;
        main.remove();
        return text + '\\n' + [...document.querySelectorAll('main option')]
            .map(o => o.textContent).join('\\n');
    }""")


@pytest.fixture
def busy_year(world):
    """A voucher, a redeemed invoice with several categories, a legacy invoice, an invoice
    another programme subsidised, a settlement batch in review and a what-if run."""
    api = world.api
    ent, prov = bearer(world.ent_key), bearer(world.prov_key)
    voucher = api.voucher(world.enterprise["id"], 120_000_00, year=YEAR)
    invoice = paid_invoice(world, line("gpu", 200_000_00, description="A800 训练算力"),
                           line("npu", 30_000_00, description="昇腾训练算力"),
                           line("storage", 10_000_00, description="并行文件存储"))
    api.ok("POST", "/v1/redemptions", headers=ent, expect=201,
           json={"invoice_id": invoice["id"], "voucher_id": voucher["id"]})
    legacy = api.ok("POST", "/v1/invoices", headers=prov, expect=201, json=invoice_body(
        world.enterprise["uscc"], [line("accelerator", 50_000_00, description="加速卡算力")],
        invoice_code="2102261100", invoice_number=f"{next(_legacy_numbers):08d}"))
    api.ok("POST", f"/v1/invoices/{legacy['id']}/payments", headers=prov, expect=201,
           json={"amount_fen": legacy["total_fen"], "paid_on": "2026-05-10"})
    claimed = paid_invoice(world, line("gpu", 80_000_00, description="推理算力"))
    api.ok("POST", "/v1/other-subsidies", expect=201, json={
        "enterprise_id": world.enterprise["id"], "programme": "省级算力补贴",
        "invoice_number": claimed["invoice_number"], "amount_fen": 1_000_00})
    batch = api.ok("POST", "/v1/settlements", json={"year": YEAR}, expect=201)
    return {"invoice": invoice, "legacy": legacy, "batch": batch}


def _whatif_url() -> str:
    params = [f"year={YEAR}", "run=1", "group_by=enterprise"]
    for n in range(1, 6):
        params += [f"s{n}_name=方案{n}", f"s{n}_rate_bp={3000 - 200 * n}",
                   f"s{n}_eligible_categories=gpu", f"s{n}_eligible_categories=npu",
                   f"s{n}_settlement_mode=reimbursement", f"s{n}_eligible_from=2026-01-01"]
    return "/web/bureau/whatif?" + "&".join(params)


def _pages(busy: dict) -> dict[str, list[str]]:
    return {
        "admin": ["/web/bureau", "/web/bureau/applications", "/web/bureau/vouchers",
                  "/web/bureau/invoices", "/web/bureau/redemptions", "/web/bureau/settlements",
                  f"/web/bureau/settlements/{busy['batch']['id']}",
                  f"/web/bureau/reconciliation?year={YEAR}", "/web/bureau/audit",
                  f"/web/bureau/year?year={YEAR}", f"/web/bureau/year/close?year={YEAR}",
                  "/web/bureau/reviews", "/web/bureau/risk-rules", "/web/inbox",
                  f"/web/inbox/settlements/{busy['batch']['id']}",
                  f"/web/bureau/whatif?year={YEAR}", _whatif_url()],
        "enterprise": ["/web/enterprise", "/web/enterprise/redemptions",
                       "/web/enterprise/apply"],
        "provider": ["/web/provider", f"/web/provider/invoices/{busy['invoice']['id']}",
                     f"/web/provider/invoices/{busy['legacy']['id']}",
                     "/web/provider/statements", "/web/provider/upload", "/web/provider/xml"],
    }


WIDTHS = (1280, 1440)


def _problems_at(page) -> list[str]:
    """What is wrong with the loaded page at each desktop width: it is loaded at the first and
    resized to the others (the layout and the charts follow a resize: charts.js, whatif.js)."""
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)  # charts size themselves after load and after a resize
        found += [f"{width}: {p}" for p in page.evaluate(OVERFLOWS)]
        found += [f"{width}: raw code {c!r}"
                  for c in sorted(set(CODES.findall(_visible_text(page))))]
    return found


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_no_page_overflows_or_shows_a_raw_code(world, busy_year, new_page, lang):
    keys = {"admin": world.api.make_key("admin"), "enterprise": world.ent_key,
            "provider": world.prov_key}
    problems = {}
    for role, urls in _pages(busy_year).items():
        page = new_page(width=WIDTHS[0], height=900)
        sign_in(page, keys[role])
        page.goto(f"/web/lang/{lang}?next=/web/")
        for url in urls:
            page.set_viewport_size({"width": WIDTHS[0], "height": 900})
            response = page.goto(url)
            assert response.status == 200, (url, response.status)
            page.wait_for_load_state("load")
            found = _problems_at(page)
            if found:
                problems[url.split("?")[0] + (" (compared)" if "run=1" in url else "")] = found
        no_console_errors(page)
    assert problems == {}, "\n".join(f"{url}: {p}" for url, p in problems.items())


def test_the_enterprise_sees_a_legacy_invoice_by_code_and_number(world, busy_year, new_page):
    page = new_page(width=1280)
    sign_in(page, world.ent_key)
    number = busy_year["legacy"]["invoice_number"]
    row = page.locator(f"tr[data-invoice='{number}']")
    assert row.locator("td").first.inner_text() == f"2102261100 {number}"
    claimed = page.locator("[data-refusal='other_subsidy']")
    assert claimed.count() == 1 and "就高不重复" in claimed.inner_text()


def test_compared_scenarios_fit_a_few_screens(world, busy_year, new_page):
    """Five scenarios grouped by enterprise: a group table longer than ten rows is folded, so
    the page is a few screens, not 35,000 px."""
    page = new_page(width=1440, height=900)
    sign_in(page, world.api.make_key("admin"))
    page.goto(_whatif_url())
    groups = page.locator("details.whatif-groups")
    assert groups.count() == 5
    for n in range(5):
        rows = int(groups.nth(n).get_attribute("data-rows"))
        assert groups.nth(n).evaluate("el => el.open") == (rows <= 10)
    assert page.evaluate("() => document.documentElement.scrollHeight") < 8000
    assert page.locator("#whatif-summary td[data-gini-bp]").first.inner_text().startswith("0.")
