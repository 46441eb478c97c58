"""Cells of the workbooks the service writes (payment files, the annual report): amounts are
numbers a spreadsheet can sum — yuan with two decimals, fen as integers — and text is text.

A yuan amount is written as an exact decimal (service.money.yuan), never through a float. Text is
forced to a string cell, so a name that begins with "=" is shown, not run as a formula."""

from decimal import Decimal
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from service.kit.money import yuan

YUAN_FORMAT = "#,##0.00"
FEN_FORMAT = "0"
COUNT_FORMAT = "0"
PERCENT_FORMAT = "0.00%"


def yuan_cell(sheet: Any, fen: int) -> WriteOnlyCell:
    return _cell(sheet, yuan(fen), YUAN_FORMAT)


def fen_cell(sheet: Any, fen: int) -> WriteOnlyCell:
    return _cell(sheet, int(fen), FEN_FORMAT)


def count_cell(sheet: Any, count: int) -> WriteOnlyCell:
    return _cell(sheet, int(count), COUNT_FORMAT)


def percent_cell(sheet: Any, bp: int) -> WriteOnlyCell:
    """Basis points as a fraction shown as a percentage (3000 → 0.3, "30.00%")."""
    return _cell(sheet, Decimal(int(bp)).scaleb(-4), PERCENT_FORMAT)


def text_cell(sheet: Any, value: Any, *, bold: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=None if value in (None, "") else str(value))
    if cell.value is not None:
        cell.data_type = "s"
    if bold:
        cell.font = Font(bold=True)
    return cell


def _cell(sheet: Any, value: Any, number_format: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = number_format
    return cell
