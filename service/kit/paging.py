"""Keyset pagination: the cursor a page hands out, its strict decoding, and the page itself.

No HTTP here: the routers declare the `limit` and `cursor` query parameters (service/api.py)
and call `paginate`; the web pages read the same `next_cursor`."""

import base64
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlmodel import Session

from service.kit.errors import FieldError, ValidationFailed

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


# What this service puts in a cursor: the last row's server-generated id (a short prefix and
# a ULID-style body), or an audit event's sequence number (positive, well inside a bigint).
ID_CURSOR = re.compile(r"[a-z]{2,8}_[0-9A-Za-z]{1,36}")
SEQ_CURSOR = re.compile(r"[1-9][0-9]{0,17}")


def decode_cursor(cursor: str, *, shape: re.Pattern[str] = ID_CURSOR) -> str:
    """The position a next_cursor names. Anything this service would not have issued (not
    canonical base64url, or not the shape of this list's key) is a 422 naming `cursor`."""
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
            raise ValueError(cursor)
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode("ascii")
        if not shape.fullmatch(value) or encode_cursor(value) != cursor:
            raise ValueError(cursor)
        return value
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not valid", errors=[FieldError(
            field="cursor", message="not a cursor returned by this API")]) from None


def paginate(session: Session, stmt, id_column, limit: int, cursor: str | None,
             to_public: Callable[[Any], Any] | None = None, *,
             shape_page: Callable[[list], list] | None = None,
             cursor_shape: re.Pattern[str] = ID_CURSOR,
             newest_first: bool = False) -> dict[str, Any]:
    """Keyset pagination on an id column (or a labelled key of the same kind; ids are
    time-ordered: ascending is oldest first); shape each row, or the whole page at once.
    `cursor_shape`: what this list's key looks like."""
    if cursor:
        after = decode_cursor(cursor, shape=cursor_shape)
        stmt = stmt.where(id_column < after if newest_first else id_column > after)
    order = id_column.desc() if newest_first else id_column
    rows = list(session.exec(stmt.order_by(order).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(str(getattr(rows[-1], id_column.key))) if more and rows else None
    items = shape_page(rows) if shape_page else [to_public(r) for r in rows]
    return {"items": items, "next_cursor": next_cursor}
