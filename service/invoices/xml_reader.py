"""Reading one invoice XML's elements by their exact path from the root, and the value grammar
of its texts: amounts in decimal yuan turned into fen exactly, tax rates, dates. Each problem is
recorded against the element it concerns (service/invoices/xml.py turns them into the answer)."""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from service.vouchers.schemas import MAX_FEN

ECHO_CHARS = 64                        # of the sender's text quoted in a message

# ASCII digits only: `\d` would take full-width and other scripts' digits, which int() reads.
_MONEY = re.compile(r"^(-?)([0-9]{1,15})(?:\.([0-9]{1,2}))?$")
_DATE = re.compile(r"^([0-9]{4})[-/年]([0-9]{1,2})[-/月]([0-9]{1,2})")
_RATE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,12})?%?")
_EXEMPT_RATES = {"免税", "不征税", "免征", "免征增值税", "***", "*"}


@dataclass
class Problem:
    """Why one file is refused: the element (path from the root) it concerns and a code."""

    element: str
    code: str
    message: str


def local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def shown(value: str, limit: int = ECHO_CHARS) -> str:
    """A piece of the sender's input quoted in a message: at most `limit` characters of it, so
    no answer echoes unbounded input (issue 20)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


class Reader:
    def __init__(self, root: Element):
        self.root = root
        self.problems: list[Problem] = []
        self.amounts: list[tuple[str, int]] = []  # every amount read, by its path
        self._children: dict[int, dict[str, list[Element]]] = {}

    def children(self, parent: Element, name: str) -> list[Element]:
        """The direct children of parent with this local name (indexed once per parent)."""
        index = self._children.get(id(parent))
        if index is None:
            index = {}
            for child in parent:
                index.setdefault(local(child.tag), []).append(child)
            self._children[id(parent)] = index
        return index.get(name, [])

    def problem(self, element: str, code: str, message: str) -> None:
        self.problems.append(Problem(element, code, message))

    def node(self, path: str, *, base: Element | None = None, base_path: str = "",
             required: bool = True) -> Element | None:
        """The one element at this exact path (below base, or the root)."""
        current = self.root if base is None else base
        walked = base_path
        for name in path.split("/"):
            walked = f"{walked}/{name}" if walked else name
            found = self.children(current, name)
            if len(found) > 1:
                self.problem(walked, "validation_error",
                             f"{walked} appears {len(found)} times; it may appear once")
                return None
            if not found:
                if required:
                    self.problem(walked, "validation_error", f"{walked} is missing")
                return None
            current = found[0]
        return current

    def text(self, path: str, *, required: bool = True, **kw: Any) -> str:
        node = self.node(path, required=required, **kw)
        value = (node.text or "").strip() if node is not None else ""
        if required and node is not None and not value:
            full = f"{kw['base_path']}/{path}" if kw.get("base_path") else path
            self.problem(full, "validation_error", f"{full} is empty")
        return value

    def first_text(self, *paths: str) -> tuple[str, str]:
        """The text of the first of these paths that is present (alternative exact paths)."""
        for path in paths:
            node = self.node(path, required=False)
            if node is not None and (node.text or "").strip():
                return (node.text or "").strip(), path
        self.problem(paths[0], "validation_error", f"{paths[0]} is missing")
        return "", paths[0]

    def money(self, path: str, *, base: Element | None = None, base_path: str = "",
              required: bool = True) -> int | None:
        """An amount in fen: decimal yuan with at most two places, within the JSON contract's
        bound (MAX_FEN); None (with the problem) when it is not."""
        text = self.text(path, base=base, base_path=base_path, required=required)
        if not text:
            return None
        full = f"{base_path}/{path}" if base_path else path
        fen = money_fen(text)
        if fen is None:
            self.problem(full, "invalid_amount",
                         f"{full} is {shown(text)}: an amount is decimal yuan with at most two "
                         f"places (e.g. 1234.50); it is never rounded")
        elif abs(fen) > MAX_FEN:
            self.problem(full, "invalid_amount",
                         f"{full} is {yuan(fen)}: beyond the largest amount the service takes "
                         f"({yuan(MAX_FEN)} yuan, as POST /v1/invoices)")
            return None
        else:
            self.amounts.append((full, fen))
        return fen


def money_fen(text: str) -> int | None:
    """Yuan with at most two decimal places → exact fen; None when it is not such a string."""
    match = _MONEY.match(text.replace(",", ""))
    if not match:
        return None
    sign, whole, frac = match.groups()
    fen = int(whole) * 100 + int((frac or "").ljust(2, "0"))
    return -fen if sign else fen


def tax_rate(text: str) -> Decimal | None:
    """`0.06` or `6%` → Decimal("0.06"); exempt spellings → None. Raises ValueError."""
    value = text.replace(" ", "")
    if value in _EXEMPT_RATES:
        return None
    if not _RATE.fullmatch(value):
        raise ValueError(text)
    rate = Decimal(value[:-1]) / 100 if value.endswith("%") else Decimal(value)
    if rate >= 1:
        raise ValueError(text)
    return rate


def parse_date(text: str) -> date | None:
    match = _DATE.match(text.strip())
    if not match:
        return None
    try:
        return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
