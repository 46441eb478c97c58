"""统一社会信用代码 (GB 32100-2015): the pure checker and the 422 / override paths over HTTP."""

import pytest

from service.kit.uscc import ALPHABET, uscc_problem, with_check_char
from tests.factories import uscc

VALID = ["91350100M000100Y43", "91110000600037341L"]


@pytest.mark.parametrize("code", VALID)
def test_known_valid_codes_pass(code):
    assert uscc_problem(code) is None


def test_check_character_is_computed_by_the_gb32100_weights():
    assert with_check_char("91350100M000100Y4") == "91350100M000100Y43"
    assert with_check_char("91110000600037341") == "91110000600037341L"


def test_check_value_31_maps_to_zero():
    # Σ ≡ 0 (mod 31) gives 31 − 0 = 31, which wraps to "0".
    assert with_check_char("0" * 17) == "0" * 18
    assert uscc_problem("0" * 18) is None


@pytest.mark.parametrize("code, problem", [
    ("", "a USCC has exactly 18 characters"),
    ("91350100M000100Y4", "a USCC has exactly 18 characters"),
    ("91350100M000100Y431", "a USCC has exactly 18 characters"),
    ("91350100m000100Y43", "characters not allowed in a USCC: m"),
    ("91350100I000100Y43", "characters not allowed in a USCC: I"),
    ("91350100O000100Y43", "characters not allowed in a USCC: O"),
    ("91350100S000100Y43", "characters not allowed in a USCC: S"),
    ("91350100V000100Y43", "characters not allowed in a USCC: V"),
    ("91350100Z000100Y43", "characters not allowed in a USCC: Z"),
    ("91350100M000100Y4-", "characters not allowed in a USCC: -"),
    ("91350100M000100Y44", "check character should be 3"),
    ("91110000600037341K", "check character should be L"),
])
def test_invalid_codes_say_what_is_wrong(code, problem):
    assert uscc_problem(code) == problem


def test_every_single_character_substitution_is_caught():
    code = VALID[0]
    for position in range(17):
        for char in ALPHABET:
            if char != code[position]:
                changed = code[:position] + char + code[position + 1:]
                assert uscc_problem(changed) is not None, changed


def test_alphabet_excludes_i_o_s_v_z():
    assert ALPHABET == "0123456789ABCDEFGHJKLMNPQRTUWXY"
    assert len(ALPHABET) == 31


@pytest.mark.parametrize("path", ["/v1/enterprises", "/v1/providers"])
@pytest.mark.parametrize("code", VALID)
def test_valid_codes_register(api, path, code):
    body = api.ok("POST", path, json={"uscc": code, "name": "甲"}, expect=201)
    assert body["uscc"] == code
    assert body["uscc_override"] is False


@pytest.mark.parametrize("path", ["/v1/enterprises", "/v1/providers"])
@pytest.mark.parametrize("code", ["91350100M000100Y4", "91350100m000100Y43",
                                  "91350100I000100Y43", "91350100O000100Y43",
                                  "91350100S000100Y43", "91350100V000100Y43",
                                  "91350100Z000100Y43", "91350100M000100Y44"])
def test_invalid_codes_are_422_invalid_uscc(api, path, code):
    r = api.client.post(path, json={"uscc": code, "name": "甲"}, headers=api.admin)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "invalid_uscc"
    assert body["status"] == 422
    assert body["type"].endswith("/invalid_uscc")
    assert body["errors"] == [{"field": "uscc", "message": uscc_problem(code),
                               "type": "invalid_uscc"}]
    listed = api.ok("GET", path)
    assert listed["items"] == []


@pytest.mark.parametrize("path", ["/v1/enterprises", "/v1/providers"])
def test_override_accepts_a_failing_check_character_with_a_reason(api, path):
    code = "91350100M000100Y44"  # right shape, wrong check character: an early pilot code
    body = api.ok("POST", path, json={"uscc": code, "name": "试点单位",
                                      "uscc_override_reason": "2015 年试点期间赋码，已核实"},
                  expect=201)
    assert body["uscc"] == code
    assert body["uscc_override"] is True
    events = api.ok("GET", "/v1/audit-events", params={"object_id": body["id"]})["items"]
    assert len(events) == 1
    assert events[0]["summary"]["uscc_override_reason"] == "2015 年试点期间赋码，已核实"


@pytest.mark.parametrize("code", ["91350100M000100Y4", "91350100m000100Y43",
                                  "91350100M00-100Y43"])
def test_override_does_not_accept_malformed_codes(api, code):
    r = api.client.post("/v1/enterprises", headers=api.admin,
                        json={"uscc": code, "name": "甲", "uscc_override_reason": "试点"})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_uscc"


def test_override_reason_on_a_valid_code_is_not_an_override(api):
    body = api.ok("POST", "/v1/enterprises", expect=201,
                  json={"uscc": uscc(), "name": "甲", "uscc_override_reason": "不需要"})
    assert body["uscc_override"] is False


def test_empty_override_reason_is_a_validation_error(api):
    r = api.client.post("/v1/enterprises", headers=api.admin,
                        json={"uscc": "91350100M000100Y44", "name": "甲",
                              "uscc_override_reason": ""})
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
