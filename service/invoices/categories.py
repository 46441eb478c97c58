"""The bureau's per-year table mapping an invoice line's item name / tax classification code
(税收分类编码) to a line category (PRODUCT.md §5a), used when a 数电票 XML is read.

Rules are tried in order; the first that matches wins: `item_name` matches when its pattern is
a substring of the line's ItemName (case-insensitive), `tax_code_prefix` when the line's
TaxClassificationCode starts with it. A line nothing matches is `other` (ineligible) and the
answer carries a warning. A year without a table of its own uses DEFAULT_RULES."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, delete, select

from service.audit import service as audit
from service.invoices.schemas import Category
from service.invoices.source_models import ItemCategoryRule
from service.kit.types import Line
from service.years.service import get_year

Match = Literal["item_name", "tax_code_prefix"]

# Exclusions first: a "GPU 服务器存储扩容" line is storage, and public money errs that way.
DEFAULT_RULES: list[tuple[str, str, str]] = [
    ("item_name", "存储", "storage"),
    ("item_name", "storage", "storage"),
    ("item_name", "备份", "storage"),
    ("item_name", "带宽", "network"),
    ("item_name", "网络", "network"),
    ("item_name", "专线", "network"),
    ("item_name", "流量", "network"),
    ("item_name", "bandwidth", "network"),
    ("item_name", "network", "network"),
    ("item_name", "安全", "security"),
    ("item_name", "防护", "security"),
    ("item_name", "security", "security"),
    ("item_name", "NPU", "npu"),
    ("item_name", "昇腾", "npu"),
    ("item_name", "神经网络处理器", "npu"),
    ("item_name", "GPU", "gpu"),
    ("item_name", "图形处理器", "gpu"),
    ("item_name", "显卡", "gpu"),
    ("item_name", "加速卡", "accelerator"),
    ("item_name", "加速器", "accelerator"),
    ("item_name", "accelerator", "accelerator"),
    ("item_name", "智能算力", "accelerator"),
    ("item_name", "智算", "accelerator"),
    ("item_name", "CPU", "cpu"),
    ("item_name", "通用算力", "cpu"),
    ("item_name", "云主机", "cpu"),
]


class CategoryRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match: Match
    pattern: Line = Field(min_length=1, max_length=100)
    category: Category


class CategoryTableUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[CategoryRule] = Field(min_length=1, max_length=500)


class CategoryTable(BaseModel):
    year: int
    is_default: bool = Field(description="true while the year uses the built-in rules")
    rules: list[CategoryRule]
    unmapped_category: str = "other"


def default_rules() -> list[CategoryRule]:
    return [CategoryRule(match=m, pattern=p, category=c) for m, p, c in DEFAULT_RULES]


def rules_for(session: Session, year: int) -> tuple[list[CategoryRule], bool]:
    """(the year's rules, whether they are the defaults)."""
    rows = session.exec(select(ItemCategoryRule).where(ItemCategoryRule.year == year)
                        .order_by(ItemCategoryRule.position)).all()
    if not rows:
        return default_rules(), True
    return [CategoryRule(match=r.match, pattern=r.pattern, category=r.category)
            for r in rows], False


def table(session: Session, year: int) -> dict[str, Any]:
    get_year(session, year)
    rules, is_default = rules_for(session, year)
    return {"year": year, "is_default": is_default,
            "rules": [r.model_dump() for r in rules], "unmapped_category": "other"}


def replace_table(session: Session, year: int, data: CategoryTableUpdate) -> dict[str, Any]:
    get_year(session, year)
    before, was_default = rules_for(session, year)
    session.exec(delete(ItemCategoryRule).where(ItemCategoryRule.year == year))
    for position, rule in enumerate(data.rules, start=1):
        session.add(ItemCategoryRule(year=year, position=position, match=rule.match,
                                     pattern=rule.pattern, category=rule.category))
    session.flush()
    audit.record(session, action="year.item_categories", object_type="budget_year",
                 object_id=str(year),
                 summary={"rules": len(data.rules), "was_default": was_default,
                          "before": [r.model_dump() for r in before],
                          "after": [r.model_dump() for r in data.rules]})
    return table(session, year)


def classify(rules: list[CategoryRule], item_name: str, tax_code: str) -> tuple[str, int | None]:
    """(category, 1-based number of the rule that matched, or None: unmapped → other)."""
    name = item_name.casefold()
    for n, rule in enumerate(rules, start=1):
        if rule.match == "item_name" and rule.pattern.casefold() in name:
            return rule.category, n
        if rule.match == "tax_code_prefix" and tax_code and tax_code.startswith(rule.pattern):
            return rule.category, n
    return "other", None
