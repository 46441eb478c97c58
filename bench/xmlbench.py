"""Part `xml` of `make bench` (issue 15): a ZIP of 1000 数电票 XML files posted to
POST /v1/invoices/xml, beside the same 1000 invoices posted as JSON to POST /v1/invoices/batch,
in the same run against the same server. Figures: xml_ingest_per_s, json_batch_per_s and their
ratio xml_vs_json (the cost of reading, checking and keeping the files).

  BENCH_XML_ROUNDS=3   rounds; each posts one JSON batch and one ZIP (fresh numbers), the
                       median of each is kept
"""

import json
import os
import statistics
import time
import uuid
from datetime import date

import httpx

from bench import world
from bench.util import log, serving
from tests import xmlgen

ROUNDS = int(os.environ.get("BENCH_XML_ROUNDS", 3))
FILES = 1000


def _invoices(w: world.World, year: int) -> list[xmlgen.XInvoice]:
    prov = w.providers[0]
    out = []
    for i in range(FILES):
        buyer = w.enterprises[i % len(w.enterprises)]
        lines = [xmlgen.gpu(100_000 + (i % 50) * 1_000),
                 xmlgen.storage(5_000 + (i % 7) * 100, rate="6%")]
        out.append(xmlgen.XInvoice(prov.uscc, buyer.uscc, lines,
                                   invoice_number=world.invoice_number("28"),
                                   issue_time=f"{year}-04-28 10:00:00"))
    return out


def _as_json(x: xmlgen.XInvoice, year: int) -> dict:
    """The same invoice as POST /v1/invoices/batch takes it (another number: both are posted)."""
    return {"invoice_number": world.invoice_number("29"), "enterprise_uscc": x.buyer_uscc,
            "issued_on": f"{year}-04-28", "service_start": f"{year}-04-01",
            "service_end": f"{year}-04-28", "total_fen": x.total_fen, "tax_fen": x.tax_fen,
            "lines": [{"category": c, "description": line.item_name, "quantity": line.quantity,
                       "unit": line.unit, "unit_price_fen": 0,
                       "amount_fen": line.amount_fen + line.tax()}
                      for c, line in zip(("gpu", "storage"), x.lines)]}


def part_xml(db: str, workers: int, w: world.World, record, meta: dict) -> None:
    year = date.today().year
    prov = w.providers[0]
    auth = {"Authorization": f"Bearer {prov.key}"}
    params = {"service_start": f"{year}-04-01", "service_end": f"{year}-04-28"}
    xml_s, json_s, zip_bytes = [], [], 0
    with serving(db, workers, "xml") as server, httpx.Client(base_url=server.url,
                                                             timeout=300) as client:
        for r in range(ROUNDS):
            invoices = _invoices(w, year)
            body = json.dumps({"invoices": [_as_json(x, year) for x in invoices]}).encode()
            archive = xmlgen.zip_of({f"{i:04d}.xml": x.xml() for i, x in enumerate(invoices)})
            zip_bytes = len(archive)
            started = time.perf_counter()
            resp = client.post("/v1/invoices/batch", content=body, headers={
                **auth, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
            json_s.append(time.perf_counter() - started)
            if resp.status_code != 201:
                raise RuntimeError(f"JSON batch: {resp.status_code} {resp.text[:300]}")
            started = time.perf_counter()
            resp = client.post("/v1/invoices/xml", content=archive, params=params, headers={
                **auth, "Content-Type": "application/zip", "Idempotency-Key": uuid.uuid4().hex})
            xml_s.append(time.perf_counter() - started)
            if resp.status_code != 201 or len(resp.json()["items"]) != FILES:
                raise RuntimeError(f"XML ZIP: {resp.status_code} {resp.text[:300]}")
            log(f"xml round {r + 1}: JSON batch {json_s[-1]:.2f}s, ZIP of {FILES} XML "
                f"({zip_bytes / 1024:.0f} KiB) {xml_s[-1]:.2f}s")
    xml_per_s = FILES / statistics.median(xml_s)
    json_per_s = FILES / statistics.median(json_s)
    meta["xml"] = {"rounds": ROUNDS, "files": FILES, "zip_bytes": zip_bytes,
                   "xml_s": [round(s, 3) for s in xml_s], "json_s": [round(s, 3) for s in json_s]}
    record(xml_ingest_per_s=xml_per_s, json_batch_per_s=json_per_s,
           xml_vs_json=xml_per_s / json_per_s)
