"""A licence's status in words: one spelling for every server and command.

The national status codes (GB/T 36904's status table, docs/architecture.md §4) are
two digits; people read them as words with the code after them in brackets,
``revoked as a sanction (07)``. The issuer's refusals, the verifier's verdict
details, the console and every CLI command say a status this way (a clerk comparing
two outputs sees one text for one status). Pure.
"""

from __future__ import annotations

__all__ = ["STATUS_NAMES", "STATUS_NAMES_ZH", "status_label"]

STATUS_NAMES: dict[str, str] = {
    "01": "valid",
    "02": "suspended",
    "03": "revoked",
    "04": "cancelled",
    "05": "expired",
    "06": "transferred out",
    "07": "revoked as a sanction",
    "99": "other",
}
"""The words of each national status code (two digits, as stored and in codes)."""

STATUS_NAMES_ZH: dict[str, str] = {
    "01": "有效",
    "02": "暂扣",
    "03": "撤销",
    "04": "注销",
    "05": "失效",
    "06": "转出",
    "07": "吊销",
    "99": "其他",
}
"""The same statuses as a clerk says them in Chinese (docs/architecture.md §4)."""


def status_label(code: str | int) -> str:
    """``revoked as a sanction (07)`` for ``"07"`` or ``7``; a code without words
    (none today: a newer issuer's) as ``status (08)``, an empty one as ``no
    status``. Raises nothing."""
    key = f"{code:02d}" if isinstance(code, int) else code
    if not key:
        return "no status"
    return f"{STATUS_NAMES.get(key, 'status')} ({key})"
