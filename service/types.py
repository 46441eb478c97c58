"""Input types shared by the request schemas.

Money and rates are strict integers: 100.0 or "100" is refused rather than coerced, so no float
or string ever becomes fen. Free text refuses control and bidirectional-override characters
(and NUL, which PostgreSQL cannot store): names on payment files must be what they look like.
"""

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Strict, StringConstraints

_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_ALLOWED_CONTROLS = {"\n", "\t"}


def _clean_text(value: str) -> str:
    for ch in value:
        if ch in _BIDI or (unicodedata.category(ch) in ("Cc", "Cs")
                           and ch not in _ALLOWED_CONTROLS):
            raise ValueError(f"contains a control character (U+{ord(ch):04X})")
    return value


def _single_line(value: str) -> str:
    if "\n" in value or "\t" in value:
        raise ValueError("must be a single line")
    return value


Fen = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
BasisPoints = Annotated[int, Strict()]
Text = Annotated[str, AfterValidator(_clean_text)]
Line = Annotated[str, AfterValidator(_clean_text), AfterValidator(_single_line)]
# Server-generated ids: a short prefix and a ULID body. Anything else cannot name an object.
ObjectId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
