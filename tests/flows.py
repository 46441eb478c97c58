"""Helpers for invoice → redemption → settlement flows over the real API."""

import itertools
from dataclasses import dataclass

from tests.factories import Api

_numbers = itertools.count(1)


def invoice_number() -> str:
    return f"2621{next(_numbers):016d}"


def line(category: str, amount_fen: int, **fields) -> dict:
    return {"category": category, "description": f"{category} 算力服务", "quantity": 1,
            "unit": "月", "unit_price_fen": amount_fen, "amount_fen": amount_fen, **fields}


def invoice_body(enterprise_uscc: str, lines: list[dict], *, start: str = "2026-04-01",
                 end: str = "2026-04-30", issued_on: str | None = None, **fields) -> dict:
    total = sum(item["amount_fen"] for item in lines)
    return {"invoice_number": invoice_number(), "enterprise_uscc": enterprise_uscc,
            "issued_on": issued_on or end, "service_start": start, "service_end": end,
            "total_fen": total, "tax_fen": total * 6 // 106, "lines": lines, **fields}


@dataclass
class World:
    """One year, one approved provider and one enterprise, with keys for each."""

    api: Api
    year: dict
    enterprise: dict
    provider: dict
    ent: dict
    prov: dict

    def invoice(self, lines: list[dict], *, paid: bool = True, **fields) -> dict:
        body = invoice_body(self.enterprise["uscc"], lines, **fields)
        invoice = self.api.ok("POST", "/v1/invoices", headers=self.prov, json=body, expect=201)
        if paid and invoice["total_fen"] > 0:
            invoice = self.pay(invoice["id"], invoice["total_fen"])
        return invoice

    def pay(self, invoice_id: str, amount_fen: int, paid_on: str = "2026-05-10") -> dict:
        return self.api.ok("POST", f"/v1/invoices/{invoice_id}/payments", headers=self.prov,
                           json={"amount_fen": amount_fen, "paid_on": paid_on}, expect=201)

    def reverse(self, invoice_id: str, amount_fen: int) -> dict:
        return self.api.ok("POST", f"/v1/invoices/{invoice_id}/reversals", headers=self.prov,
                           json={"invoice_number": invoice_number(), "issued_on": "2026-06-01",
                                 "amount_fen": amount_fen, "reason": "服务量调整"}, expect=201)

    def voucher(self, face_fen: int, **fields) -> dict:
        return self.api.voucher(self.enterprise["id"], face_fen,
                                year=self.year["year"], **fields)

    def redeem(self, invoice_id: str, voucher_id: str | None = None, expect: int = 201):
        body = {"invoice_id": invoice_id}
        if voucher_id:
            body["voucher_id"] = voucher_id
        response = self.api.client.post("/v1/redemptions", headers=self.ent, json=body)
        assert response.status_code == expect, response.text
        return response.json()

    def get_invoice(self, invoice_id: str, year: int | None = None) -> dict:
        suffix = f"?year={year}" if year else ""
        return self.api.ok("GET", f"/v1/invoices/{invoice_id}{suffix}", headers=self.ent)

    def get_voucher(self, voucher_id: str) -> dict:
        return self.api.ok("GET", f"/v1/vouchers/{voucher_id}")

    def settle(self, approve_and_pay: bool = True) -> dict:
        batch = self.api.ok("POST", "/v1/settlements", json={"year": self.year["year"]},
                            expect=201)
        if approve_and_pay:
            self.api.ok("POST", f"/v1/settlements/{batch['id']}/approve")
            batch = self.api.ok("POST", f"/v1/settlements/{batch['id']}/pay",
                                json={"bank_reference": "BOC-2026-0001"})
        return batch


def make_world(api: Api, year: int = 2026, **policy) -> World:
    year_row = api.year(year, **policy)
    enterprise = api.enterprise()
    provider = api.provider()
    api.approve_provider(provider["id"], year)
    return World(api=api, year=year_row, enterprise=enterprise, provider=provider,
                 ent=api.enterprise_key(enterprise["id"]), prov=api.provider_key(provider["id"]))
