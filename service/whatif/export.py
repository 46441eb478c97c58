"""The comparison as a workbook (one sheet per view, the parameter sets first) or one CSV."""

import csv
import io
import json

from openpyxl import Workbook
from openpyxl.styles import Font

from service.whatif.compare import BUCKETS, PARAMETERS


def _results(answer: dict) -> list[dict]:
    return [answer["baseline"], *answer["scenarios"]]


def view_rows(answer: dict, view: str) -> list[list]:
    results = _results(answer)
    if view == "parameters":
        rows = [["parameter", *[r["name"] for r in results]]]
        for p in (*PARAMETERS, "vouchers", "include_unredeemed"):
            values = [r["parameters"].get(p) if p in PARAMETERS else r[p] for r in results]
            rows.append([p, *[json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list)
                              else v for v in values]])
        rows.append([])
        for label, value in (("year", answer["year"]), ("data_version", answer["data_version"]),
                             ("audit_head_seq", answer.get("audit_head_seq")),
                             ("audit_head_hash", answer["audit_head_hash"]),
                             ("code_version", answer.get("code_version")),
                             ("group_by", answer["group_by"])):
            rows.append([label, value])
        return rows
    if view == "summary":
        fields = ["total_subsidy_fen", "pool_fen", "pool_use_bp", "redemptions_count",
                  "refused_count", "refused_fen", "pool_exhausted_on", "enterprises_at_cap",
                  "top10_share_bp", "gini_bp", "summary_zh", "summary_en"]
        return [["scenario", *fields], *[[r["name"], *[r[f] for f in fields]] for r in results]]
    if view == "buckets":
        return [["scenario", *BUCKETS], *[[r["name"], *[r["buckets"][b] for b in BUCKETS]]
                                          for r in results]]
    if view == "curve":
        rows = [["scenario", "date", "cumulative_fen", "pool_fen"]]
        for r in results:
            rows += [[r["name"], p["date"], p["cumulative_fen"], r["pool_fen"]]
                     for p in r["curve"]]
        return rows
    rows = [["scenario", answer["group_by"], "label", "baseline_fen", "scenario_fen", "diff_fen",
             "diff_permille"]]
    for r in results:
        rows += [[r["name"], g["key"], g.get("label") or "", g["baseline_fen"], g["scenario_fen"],
                  g["diff_fen"], "" if g["diff_permille"] is None else g["diff_permille"]]
                 for g in r["groups"]]
    return rows


VIEWS = ("parameters", "summary", "groups", "buckets", "curve")


def to_csv(answer: dict, view: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(view_rows(answer, view))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(answer: dict) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for view in VIEWS:
        sheet = workbook.create_sheet(view)
        for row in view_rows(answer, view):
            sheet.append(row)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
