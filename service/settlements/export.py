"""The payment file of a settlement batch, as CSV (UTF-8 with BOM, for Excel) and XLSX: one row
per beneficiary with the account it is paid to (service/settlements/payees.py), docs/exports.md.

In the XLSX amounts are numbers: yuan with two decimals (`#,##0.00`), fen as integers; the last
row totals them. The CSV keeps `amount_yuan` as text ("3,703.70") beside the integer fen."""

import csv
import io

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from service.kit import spreadsheet as cells
from service.kit.money import format_yuan
from service.registry.payment import Payee
from service.settlements.models import Settlement, SettlementLine

HEADER = ["settlement_id", "year", "beneficiary_type", "beneficiary_id", "beneficiary_name",
          "beneficiary_uscc", "account_name", "bank_name", "bank_account", "redemption_count",
          "gross_fen", "clawback_fen", "amount_fen", "amount_yuan", "bank_reference"]
WIDTHS = (30, 6, 12, 30, 30, 20, 30, 30, 24, 8, 14, 14, 14, 16, 20)
FEN_COLUMNS = ("gross_fen", "clawback_fen", "amount_fen")
NO_PAYEE = Payee("", "", "")

Payees = dict[tuple[str, str], Payee | None]


def _payee(payees: Payees, line: SettlementLine) -> Payee:
    return payees.get((line.beneficiary_type, line.beneficiary_id)) or NO_PAYEE


def rows(settlement: Settlement, lines: list[SettlementLine], payees: Payees) -> list[list]:
    return [[settlement.id, settlement.year, line.beneficiary_type, line.beneficiary_id,
             line.beneficiary_name, line.beneficiary_uscc, *_payee(payees, line),
             line.redemption_count, line.gross_fen, line.clawback_fen, line.amount_fen,
             format_yuan(line.amount_fen), settlement.bank_reference or ""] for line in lines]


def to_csv(settlement: Settlement, lines: list[SettlementLine], payees: Payees) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows(settlement, lines, payees))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_row(sheet, settlement: Settlement, line: SettlementLine, payee: Payee) -> list:
    """The row `rows` gives, as cells: amounts numeric with their number format, the rest text."""
    def text(value):
        return cells.text_cell(sheet, value)
    return [text(settlement.id), cells.count_cell(sheet, settlement.year),
            text(line.beneficiary_type), text(line.beneficiary_id), text(line.beneficiary_name),
            text(line.beneficiary_uscc), *map(text, payee),
            cells.count_cell(sheet, line.redemption_count), cells.fen_cell(sheet, line.gross_fen),
            cells.fen_cell(sheet, line.clawback_fen), cells.fen_cell(sheet, line.amount_fen),
            cells.yuan_cell(sheet, line.amount_fen), text(settlement.bank_reference)]


def to_xlsx(settlement: Settlement, lines: list[SettlementLine], payees: Payees) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "payments"
    sheet.append([cells.text_cell(sheet, name, bold=True) for name in HEADER])
    for line in lines:
        sheet.append(_xlsx_row(sheet, settlement, line, _payee(payees, line)))
    total: list = [None] * len(HEADER)
    total[0] = cells.text_cell(sheet, "total", bold=True)
    for name in FEN_COLUMNS:
        total[HEADER.index(name)] = cells.fen_cell(
            sheet, sum(getattr(line, name) for line in lines))
    total[HEADER.index("amount_yuan")] = cells.yuan_cell(
        sheet, sum(line.amount_fen for line in lines))
    sheet.append(total)
    sheet.freeze_panes = "A2"
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
