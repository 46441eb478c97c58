"""The annual report as a workbook for people (docs/exports.md): a sheet per section with headers
in the reader's language (Chinese by default, English on `lang=en`), amounts in yuan as numbers,
a title row naming the year and the time the data is as of, frozen headers, set column widths, a
total row, and a footnote on the categories sheet saying what its rounding row is.

The JSON and the CSV (report.py) keep the machine keys and fen. The sheets are openpyxl
write-only sheets written row by row to a file, so a large year is not held in memory."""

from collections.abc import Iterator
from typing import Any, NamedTuple

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlmodel import Session

from service.auth.principal import Principal
from service.kit import clock
from service.kit import spreadsheet as cells
from service.reporting import performance, report

LANGUAGES = ("zh", "en")
ROUNDING = "(rounding)"  # the category report.py gives what the per-category shares leave over


class Column(NamedTuple):
    key: str
    zh: str
    en: str
    kind: str  # text | yuan | count | percent | category | status
    width: int = 16


SHEET_NAMES = {"totals": ("总览", "Totals"), "enterprises": ("企业", "Enterprises"),
               "providers": ("服务商", "Providers"), "categories": ("类别", "Categories"),
               "months": ("月度", "Months")}
TOTALS = (  # one figure a row: (item, value)
    Column("year", "年度", "Year", "count"),
    Column("status", "年度状态", "Status", "status"),
    Column("pool_fen", "资金池（元）", "Pool (yuan)", "yuan"),
    Column("issued_fen", "已发放面额（元）", "Issued (yuan)", "yuan"),
    Column("returned_fen", "已退回资金池（元）", "Returned to the pool (yuan)", "yuan"),
    Column("available_fen", "可发放余额（元）", "Available to issue (yuan)", "yuan"),
    Column("outstanding_fen", "券未使用余额（元）", "Unspent voucher balance (yuan)", "yuan"),
    Column("redeemed_fen", "已核销（元）", "Redeemed (yuan)", "yuan"),
    Column("payable_fen", "待拨付（元）", "Payable (yuan)", "yuan"),
    Column("paid_fen", "已拨付（元）", "Paid out (yuan)", "yuan"),
    Column("clawback_fen", "红冲追回（元）", "Clawed back (yuan)", "yuan"),
    Column("utilisation_bp", "资金池使用率", "Pool utilisation", "percent"),
    Column("vouchers", "算力券张数", "Vouchers", "count"),
    Column("redemptions", "核销笔数", "Redemptions", "count"),
)
TOTALS_HEADER = (Column("item", "项目", "Item", "text", 30), Column("value", "数值", "Value",
                                                                    "text", 22))
TABLES = {
    "enterprises": (
        Column("enterprise_id", "企业编号", "Enterprise ID", "text", 32),
        Column("uscc", "统一社会信用代码", "USCC", "text", 22),
        Column("name", "企业名称", "Name", "text", 36),
        Column("district", "所属区域", "District", "text", 12),
        Column("vouchers", "算力券张数", "Vouchers", "count", 10),
        Column("face_fen", "发放面额（元）", "Face value (yuan)", "yuan"),
        Column("returned_fen", "退回（元）", "Returned (yuan)", "yuan"),
        Column("balance_fen", "券余额（元）", "Balance (yuan)", "yuan"),
        Column("redemptions", "核销笔数", "Redemptions", "count", 10),
        Column("redeemed_fen", "核销金额（元）", "Redeemed (yuan)", "yuan")),
    "providers": (
        Column("provider_id", "服务商编号", "Provider ID", "text", 32),
        Column("uscc", "统一社会信用代码", "USCC", "text", 22),
        Column("name", "服务商名称", "Name", "text", 36),
        Column("invoices_redeemed", "核销发票数", "Invoices redeemed", "count", 12),
        Column("redemptions", "核销笔数", "Redemptions", "count", 10),
        Column("redeemed_fen", "核销金额（元）", "Redeemed (yuan)", "yuan")),
    "categories": (
        Column("category", "类别", "Category", "category", 22),
        Column("invoiced_fen", "开票金额（元）", "Invoiced (yuan)", "yuan", 18),
        Column("redeemed_fen", "核销金额（元）", "Redeemed (yuan)", "yuan", 18)),
    "months": (
        Column("month", "月份", "Month", "text", 10),
        Column("issued_fen", "发放（元）", "Issued (yuan)", "yuan"),
        Column("redeemed_fen", "核销（元，扣除红冲）", "Redeemed, net of reversals (yuan)", "yuan",
               22),
        Column("paid_fen", "拨付（元）", "Paid out (yuan)", "yuan")),
}
CATEGORIES = {"gpu": ("GPU 算力", "GPU compute"), "npu": ("NPU 算力", "NPU compute"),
              "accelerator": ("其他加速卡算力", "Other accelerator compute"),
              "cpu": ("CPU 通用计算", "CPU compute"), "storage": ("存储", "Storage"),
              "network": ("网络", "Network"), "security": ("安全", "Security"),
              "other": ("其他", "Other"), ROUNDING: ("取整差额", "Rounding difference")}
INDICATORS_SHEET = ("绩效指标", "Indicators")
INDICATORS = (  # one figure a row, after the header (item, value, share)
    Column("enterprises_supported", "支持企业数", "Enterprises supported", "count"),
    Column("pool_fen", "资金池（元）", "Pool (yuan)", "yuan"),
    Column("issued_fen", "已发放面额（元）", "Issued (yuan)", "yuan"),
    Column("redeemed_fen", "已核销（元）", "Redeemed (yuan)", "yuan"),
    Column("paid_fen", "已拨付（元）", "Paid out (yuan)", "yuan"),
    Column("voucher_use_bp", "算力券使用率", "Voucher use", "percent"),
    Column("budget_execution_bp", "预算执行率", "Budget execution", "percent"),
    Column("leveraged_fees_fen", "撬动算力服务费用（元）", "Compute fees leveraged (yuan)", "yuan"),
    Column("median_days_to_payout", "拨付周期中位数（天）", "Median days to payout", "count"),
    Column("objections.received", "收到异议", "Objections received", "count"),
    Column("objections.upheld", "异议成立", "Objections upheld", "count"),
    Column("objections.dismissed", "异议驳回", "Objections dismissed", "count"),
    Column("reviews.held", "暂缓复核的核销", "Redemptions held for review", "count"),
    Column("reviews.cleared", "复核通过", "Reviews cleared", "count"),
    Column("reviews.rejected", "复核驳回", "Reviews rejected", "count"),
)
INDICATORS_HEADER = (Column("item", "项目", "Item", "text", 30),
                     Column("value", "数值", "Value", "text", 22),
                     Column("share_bp", "占比", "Share", "text", 12))
STATUSES = {"open": ("执行中", "Open"), "closed": ("已关账", "Closed")}
WORDS = {
    "title": ("{year} 年度算力券报告 · {sheet}　数据截至 {as_of}（北京时间）",
              "Compute vouchers, annual report {year} · {sheet} · data as of {as_of} (Beijing "
              "time)"),
    "total": ("合计", "Total"),
    "by_category": ("按类别的补贴（元）", "Subsidy by category (yuan)"),
    "by_district": ("按区域的补贴（元）", "Subsidy by district (yuan)"),
    "no_district": ("（未登记区域）", "(no district)"),
    "indicators_note": (
        "注：比率均向下取整到万分之一；补贴为核销金额扣除红冲；占比 = 该项补贴 × 10000 ÷ "
        "补贴合计，向下取整，故各项占比之和可能略低于 100%。",
        "Note: every ratio is rounded down to a basis point; subsidy is what was redeemed, net "
        "of reversals; a share is the item's subsidy × 10000 ÷ the total, rounded down, so "
        "the shares may add up to a little under 100%."),
    "note": ("注：每张发票的核销金额按其各类别的权重（金额 × 该类别补贴比例）分摊到类别，"
             "逐张向下取整到分；“取整差额”是各类别分摊后余下的分，计入核销总额，"
             "但不归属任何类别。",
             "Note: each invoice's redeemed subsidy is shared out among its line categories by "
             "weight (amount × the category's rate), each share rounded down to the fen; the "
             "\"Rounding difference\" row is the fen those shares leave over: part of the "
             "total redeemed, but of no single category."),
}


def write(session: Session, year_number: int, path: str, *, principal: Principal,
          lang: str = "zh") -> None:
    """The report as a workbook at `path`, in `lang` ("zh" or "en"); its last sheet the year's
    performance indicators (performance.py) as `principal` may read them."""
    en = lang == "en"
    as_of = clock.now().astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")
    workbook = Workbook(write_only=True)
    for section, rows in report.sections(session, year_number):
        name = SHEET_NAMES[section][en]
        sheet = workbook.create_sheet(name)
        title = WORDS["title"][en].format(year=year_number, sheet=name, as_of=as_of)
        columns = TOTALS_HEADER if section == "totals" else TABLES[section]
        _start(sheet, title, columns, en)
        if section == "totals":
            _totals(sheet, next(rows), en)
        else:
            _table(sheet, columns, rows, en)
        if section == "categories":
            sheet.append([])
            sheet.append([_styled(cells.text_cell(sheet, WORDS["note"][en]), italic=True)])
    figures = performance.indicators(session, year_number, principal=principal)
    name = INDICATORS_SHEET[en]
    sheet = workbook.create_sheet(name)
    _start(sheet, WORDS["title"][en].format(year=year_number, sheet=name, as_of=as_of),
           INDICATORS_HEADER, en)
    _indicators(sheet, figures, en)
    workbook.save(path)


def _indicators(sheet, figures: dict[str, Any], en: bool) -> None:
    """The figures a row each, then the subsidy by category and by district with shares."""
    for column in INDICATORS:
        group, _, key = column.key.partition(".")
        value = figures[group][key] if key else figures[group]
        sheet.append([cells.text_cell(sheet, _label(column, en)),
                      _value(sheet, column, value, en)])
    for part, key, labels in (("by_category", "category", CATEGORIES),
                              ("by_district", "district", {})):
        sheet.append([])
        sheet.append([cells.text_cell(sheet, WORDS[part][en], bold=True)])
        for row in figures[part]:
            name = labels[row[key]][en] if row[key] in labels else \
                row[key] or WORDS["no_district"][en]
            sheet.append([cells.text_cell(sheet, name), cells.yuan_cell(sheet, row["subsidy_fen"]),
                          cells.percent_cell(sheet, row["share_bp"])])
    sheet.append([])
    sheet.append([_styled(cells.text_cell(sheet, WORDS["indicators_note"][en]), italic=True)])


def _start(sheet, title: str, columns: tuple[Column, ...], en: bool) -> None:
    """Widths, the frozen title and header rows (set before the first row: write-only)."""
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A3"
    sheet.append([_styled(cells.text_cell(sheet, title), bold=True, size=13)])
    sheet.append([cells.text_cell(sheet, _label(column, en), bold=True) for column in columns])


def _totals(sheet, figures: dict[str, Any], en: bool) -> None:
    for column in TOTALS:
        sheet.append([cells.text_cell(sheet, _label(column, en)),
                      _value(sheet, column, figures[column.key], en)])


def _table(sheet, columns: tuple[Column, ...], rows: Iterator[dict], en: bool) -> None:
    sums = {c.key: 0 for c in columns if c.kind in ("yuan", "count")}
    for row in rows:
        sheet.append([_value(sheet, column, row[column.key], en) for column in columns])
        for key in sums:
            sums[key] += row[key]
    total = [_value(sheet, column, sums[column.key], en) if column.key in sums else None
             for column in columns]
    total[0] = cells.text_cell(sheet, WORDS["total"][en], bold=True)
    sheet.append(total)


def _value(sheet, column: Column, value: Any, en: bool) -> WriteOnlyCell:
    if column.kind == "yuan":
        return cells.yuan_cell(sheet, value)
    if column.kind == "count":
        return cells.count_cell(sheet, value)
    if column.kind == "percent":
        return cells.percent_cell(sheet, value)
    labels = CATEGORIES if column.kind == "category" else \
        STATUSES if column.kind == "status" else {}
    return cells.text_cell(sheet, labels[value][en] if value in labels else value)


def _label(column: Column, en: bool) -> str:
    return column.en if en else column.zh


def _styled(cell: WriteOnlyCell, **font: Any) -> WriteOnlyCell:
    cell.font = Font(**font)
    return cell
