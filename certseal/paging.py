"""Keyset pagination shared by the List RPCs: a page is the rows after a key, and the
page token is that key, hex-encoded (opaque to callers, stable across versions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from certseal.errors import invalid

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """Which rows to read: those whose key sorts after ``after``, at most ``limit``."""

    after: str
    limit: int

    def split(self, rows: Sequence[T], key: Callable[[T], str]) -> tuple[list[T], str]:
        """``rows`` read with ``limit + 1`` → (this page, the next page's token, or ""
        when this is the last page)."""
        if len(rows) <= self.limit:
            return list(rows), ""
        return list(rows[: self.limit]), key(rows[self.limit - 1]).encode().hex()


def page(
    page_size: int, page_token: str, *, default: int = 50, maximum: int = 500
) -> Page:
    """The page a List request asks for (``page_size`` 0: ``default``).

    Raises CertsealError(INVALID_ARGUMENT) on ``page_size`` for a negative size or one
    over ``maximum``, and on ``page_token`` for a token this service did not return.
    """
    if page_size < 0 or page_size > maximum:
        raise invalid("page_size", f"must be between 0 and {maximum}")
    try:
        after = bytes.fromhex(page_token).decode()
    except ValueError:
        after = "\x00"  # none of ours: refused below
    if "\x00" in after:  # a key is text, which holds no NUL (nor can PostgreSQL's)
        raise invalid("page_token", "is not a token this service returned")
    return Page(after, page_size or default)
