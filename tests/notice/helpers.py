"""A 2026 world with two enterprises (two lines in a batch) and a 5-day notice."""

from dataclasses import dataclass

from tests.flows import World, line, make_world


@dataclass
class Two:
    a: World
    b: World

    def redeem_both(self, a_fen: int = 1_000_000, b_fen: int = 2_000_000) -> tuple[dict, dict]:
        self.a.voucher(10_000_000)
        self.b.voucher(10_000_000)
        ra = self.a.redeem(self.a.invoice([line("gpu", a_fen)])["id"])
        rb = self.b.redeem(self.b.invoice([line("gpu", b_fen)])["id"])
        return ra, rb

    def approved_batch(self) -> dict:
        api = self.a.api
        batch = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
        return api.ok("POST", f"/v1/settlements/{batch['id']}/approve")

    def published_batch(self) -> dict:
        batch = self.approved_batch()
        return self.a.api.ok("POST", f"/v1/settlements/{batch['id']}/publish")


def two_enterprises(api, **policy) -> Two:
    a = make_world(api, **policy)
    enterprise = api.enterprise()
    b = World(api=api, year=a.year, enterprise=enterprise, provider=a.provider,
              ent=api.enterprise_key(enterprise["id"]), prov=a.prov)
    return Two(a, b)


def line_of(batch: dict, enterprise_id: str) -> dict:
    [found] = [x for x in batch["lines"] if x["beneficiary_id"] == enterprise_id]
    return found
