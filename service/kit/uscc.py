"""统一社会信用代码 (GB 32100-2015): 18 characters with a mod-31 check character."""

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def uscc_problem(code: str) -> str | None:
    """None when the code is valid, otherwise a sentence saying what is wrong."""
    if not isinstance(code, str) or len(code) != 18:
        return "a USCC has exactly 18 characters"
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        return f"characters not allowed in a USCC: {''.join(bad)}"
    total = sum(_VALUE[c] * w for c, w in zip(code[:17], WEIGHTS))
    expected = ALPHABET[(31 - total % 31) % 31]
    if code[17] != expected:
        return f"check character should be {expected}"
    return None


def with_check_char(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS))
    return first17 + ALPHABET[(31 - total % 31) % 31]
