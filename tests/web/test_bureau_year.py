"""The bureau's year page shows the year's performance indicators (issue 24 §3), in Chinese and
in English, from GET /v1/years/{year}/performance."""

import re

import pytest

from tests.flows import line, make_world
from tests.web.test_enterprise import words


def year_page(api, lang: str) -> str:
    client = api.client
    client.cookies.set("cv_lang", lang)
    login = client.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    key = api.admin["Authorization"].removeprefix("Bearer ")
    client.post("/web/login", data={"api_key": key, "csrf_token": token},
                follow_redirects=False)
    page = client.get("/web/bureau/year", params={"year": 2026})
    assert page.status_code == 200
    section = re.search(r'<section class="card" id="indicators">(.*?)</section>', page.text,
                        re.S)
    return words(section.group(1))


@pytest.fixture
def year(api, today):
    today("2026-05-01")
    world = make_world(api)
    world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 1_000_000), line("storage", 1)],
                               end="2026-04-30")["id"])
    today("2026-05-08")
    world.settle()


@pytest.mark.parametrize("lang, expected", [
    ("en", ["Performance indicators", "Enterprises supported 1", "Voucher use 30.00%",
            "Compute fees leveraged (yuan) ¥10,000.00", "Median time to payout 7 days",
            "0 received, 0 upheld, 0 dismissed", "0 held, 0 cleared, 0 rejected",
            "GPU", "¥3,000.00 100.00%", "高新园区 ¥3,000.00 100.00%"]),
    ("zh-CN", ["绩效指标", "支持企业数 1", "算力券使用率 30.00%", "撬动算力服务费用（元） ¥10,000.00",
               "拨付周期中位数 7 天", "收到 0，成立 0，驳回 0", "暂缓 0，通过 0，驳回 0",
               "高新园区 ¥3,000.00 100.00%"]),
])
def test_the_year_page_shows_the_indicators(api, year, lang, expected):
    text = year_page(api, lang)
    for phrase in expected:
        assert phrase in text, (phrase, text)
