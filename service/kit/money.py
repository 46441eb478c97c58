"""Money is integer fen; rates are integer basis points. One rounding rule: down, once."""

from decimal import Decimal

BP_PER_UNIT = 10_000
YUAN = 100  # fen


def floor_div(numerator: int, denominator: int) -> int:
    """Round an exact non-negative rational down to the fen (the only rounding in the service)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    if numerator < 0:
        raise ValueError("subsidy numerators are never negative")
    return numerator // denominator


def share_bp(part: int, whole: int) -> int:
    """⌊part × 10000 / whole⌋ in basis points, rounded down like every amount; 0 when the whole
    is 0 (a ratio of nothing is reported as none, never as an error)."""
    return floor_div(part * BP_PER_UNIT, whole) if whole > 0 else 0


def format_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{part:02d}"


def yuan(fen: int) -> Decimal:
    """Fen as an exact decimal number of yuan (for a spreadsheet cell: no float in between)."""
    return Decimal(fen).scaleb(-2)
