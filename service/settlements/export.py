"""The payment file of a settlement batch, as CSV (UTF-8 with BOM, for Excel) and XLSX."""

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font

from service.money import format_yuan
from service.settlements.models import Settlement, SettlementLine

HEADER = ["settlement_id", "year", "beneficiary_type", "beneficiary_id", "beneficiary_name",
          "beneficiary_uscc", "redemption_count", "gross_fen", "clawback_fen", "amount_fen",
          "amount_yuan", "bank_reference"]


def rows(settlement: Settlement, lines: list[SettlementLine]) -> list[list]:
    return [[settlement.id, settlement.year, line.beneficiary_type, line.beneficiary_id,
             line.beneficiary_name, line.beneficiary_uscc, line.redemption_count, line.gross_fen,
             line.clawback_fen, line.amount_fen, format_yuan(line.amount_fen),
             settlement.bank_reference or ""] for line in lines]


def to_csv(settlement: Settlement, lines: list[SettlementLine]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows(settlement, lines))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(settlement: Settlement, lines: list[SettlementLine]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "payments"
    sheet.append(HEADER)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows(settlement, lines):
        sheet.append(row)
    total_row = len(lines) + 2
    sheet.cell(row=total_row, column=1, value="total")
    sheet.cell(row=total_row, column=HEADER.index("amount_fen") + 1, value=settlement.total_fen)
    for column, width in zip("ABCDEFGHIJKL", (30, 6, 12, 30, 30, 20, 8, 14, 14, 14, 16, 20)):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
