"""Factories are plain functions over the real API (so every test exercises the contract)."""

import itertools

import httpx
from sqlalchemy.engine import Engine

from service.auth import service as auth_service
from service.auth.principal import SYSTEM
from service.uow import run_write
from service.kit.uscc import with_check_char

_counter = itertools.count(1)


def uscc(n: int | None = None) -> str:
    n = next(_counter) if n is None else n
    return with_check_char(f"91210200{n:09d}")


def bank_facts(n: int) -> dict[str, str]:
    """An account of its own for every party the factories register (numbered like its USCC, so
    no two share one and the shared_contact flag stays quiet): a batch paying it can be approved
    (docs/exports.md). A test about a party without an account passes bank_account=None."""
    return {"bank_name": "中国银行大连分行", "bank_account": f"6216 6100 {n:010d}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Api:
    """A thin helper: keys per role and shortcuts that assert the expected status."""

    def __init__(self, client: httpx.Client, engine: Engine, admin: dict[str, str] | None = None):
        self.client = client
        self.engine = engine
        self.admin = admin or bearer(self.make_key("admin"))

    def make_key(self, role: str, *, enterprise_id: str | None = None,
                 provider_id: str | None = None) -> str:
        def create(session):
            _, raw = auth_service.create_key(session, role=role, name=f"test {role}",
                                             enterprise_id=enterprise_id,
                                             provider_id=provider_id)
            return raw
        return run_write(self.engine, create, principal=SYSTEM)

    def auditor(self) -> dict[str, str]:
        return bearer(self.make_key("auditor"))

    def ok(self, method: str, path: str, headers=None, expect: int | None = None, **kwargs):
        response = self.client.request(method, path, headers=headers or self.admin, **kwargs)
        wanted = expect or (201 if method == "POST" and response.status_code == 201 else 200)
        assert response.status_code == wanted, (method, path, response.status_code,
                                                response.text)
        return response.json()

    def year(self, year: int = 2026, **policy) -> dict:
        return self.ok("POST", "/v1/years", json={"year": year, **policy}, expect=201)

    def enterprise(self, **fields) -> dict:
        n = next(_counter)
        body = {"uscc": uscc(n), "name": "大连算力应用有限公司", "district": "高新园区",
                **bank_facts(n), **fields}
        return self.ok("POST", "/v1/enterprises", json=body, expect=201)

    def provider(self, **fields) -> dict:
        n = next(_counter)
        body = {"uscc": uscc(n), "name": "大连智算中心", **bank_facts(n), **fields}
        return self.ok("POST", "/v1/providers", json=body, expect=201)

    def enterprise_key(self, enterprise_id: str) -> dict[str, str]:
        return bearer(self.make_key("enterprise", enterprise_id=enterprise_id))

    def provider_key(self, provider_id: str) -> dict[str, str]:
        return bearer(self.make_key("provider", provider_id=provider_id))

    def voucher(self, enterprise_id: str, face_fen: int, year: int = 2026, **fields) -> dict:
        body = {"enterprise_id": enterprise_id, "year": year, "face_fen": face_fen, **fields}
        return self.ok("POST", "/v1/vouchers", json=body, expect=201)

    def approve_provider(self, provider_id: str, year: int = 2026) -> dict:
        return self.ok("PUT", f"/v1/years/{year}/approved-providers/{provider_id}")
