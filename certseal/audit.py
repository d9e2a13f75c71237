"""The hash-chained audit trail: what an entry is and how the chain is computed.

Pure: :class:`AuditEntry` (what a writer records), :func:`refusal` (the one shape of a
refused operation's entry), :func:`canonical` and
:func:`chain_hash` (``hash = SHA-256(prev_hash || canonical(row))``) and the
:class:`AuditReport` a verification returns. Writing rows, sealing them into the chain
off the request path and verifying the chain are in :mod:`certseal.storage.audit`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

#: the ``prev_hash`` of the first row of the chain
GENESIS = bytes(32)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action (or refusal) worth recording."""

    occurred_at: dt.datetime
    actor: str
    action: str
    subject: str
    outcome: str = "ok"  # ok | denied | failed
    details: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""


#: the longest subject and reason (``why``) a refusal records, in characters: a
#: refused call may name any text (it may be refused before its shape is checked), and
#: a refusal must not be a way to write large rows into the audit log
REFUSAL_SUBJECT_LIMIT = 200
REFUSAL_WHY_LIMIT = 1000


def refusal(
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    why: str,
    request_id: str = "",
) -> AuditEntry:
    """The audit entry of an operation refused to ``actor``: outcome ``denied``,
    details ``{"why": why}`` (the refusal's message).

    ``action`` is the action the caller attempted, named as its success is
    (``department.roles``, ``seal.register``); ``subject`` what it was attempted on,
    ``-`` when empty. The subject is cut to :data:`REFUSAL_SUBJECT_LIMIT` characters
    and ``why`` to :data:`REFUSAL_WHY_LIMIT`, each ending in ``…`` when cut, and a
    control or format character in either (Unicode category C: a line break, an
    escape, a NUL that PostgreSQL refuses in text, a bidirectional override) is
    written as its ``\\uXXXX`` escape: a refused caller's text may be anything.
    """
    return AuditEntry(
        occurred_at,
        actor,
        action,
        _shown(subject or "-", REFUSAL_SUBJECT_LIMIT),
        "denied",
        {"why": _shown(why, REFUSAL_WHY_LIMIT)},
        request_id,
    )


def _shown(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, its control characters escaped."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    escaped = printable(cut)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def printable(text: str) -> str:
    """``text`` with every control or format character (Unicode category C: a line
    break, an escape, a NUL, a bidirectional override) and line or paragraph
    separator (Zl, Zp) written as its ``\\uXXXX`` escape, and a backslash doubled
    (so an escape written and one typed differ): what the audit log keeps of a
    caller's text, and how a row is shown on a terminal."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escaped(c) for c in text)


def _escaped(c: str) -> str:
    if c == "\\":
        return "\\\\"
    kind = unicodedata.category(c)
    return f"\\u{ord(c):04x}" if kind[0] == "C" or kind in ("Zl", "Zp") else c


class HeldRefusals:
    """The refusals of one call with an idempotency key, waiting for its answer: such
    a call may be refused and then answered the answer stored under its key (a retry
    racing the call it repeats), so its refusals are recorded only when a refusal is
    what it is answered (certseal.rpc's idempotent calls). Once the call has ended
    (``open`` False) nothing waits: a task the call started and that outlives it
    (a group commit's drain) records at once."""

    def __init__(self) -> None:
        self.records: list[Callable[[], Awaitable[None]]] = []
        self.open = True

    async def record(self) -> None:
        """Record what waits (in order)."""
        for record in self.records:
            await record()


#: the refusals of the call in flight that wait for its answer (None: none wait)
HELD_REFUSALS: ContextVar[HeldRefusals | None] = ContextVar(
    "held_refusals", default=None
)


def canonical(row: Mapping[str, Any], seq: int) -> bytes:
    """The bytes of an audit row that its chain hash covers.

    ``row`` holds the ``audit_log`` columns id, occurred_at (an aware datetime, written
    in UTC), actor, action, subject, outcome, details (a JSON object) and request_id.
    The bytes are compact JSON with sorted keys and UTF-8 text, so the same row always
    gives the same bytes.
    """
    occurred: dt.datetime = row["occurred_at"]
    return json.dumps(
        {
            "id": row["id"],
            "seq": seq,
            "occurred_at": occurred.astimezone(dt.UTC).isoformat(),
            "actor": row["actor"],
            "action": row["action"],
            "subject": row["subject"],
            "outcome": row["outcome"],
            "details": row["details"],
            "request_id": row["request_id"],
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def chain_hash(prev_hash: bytes, row: Mapping[str, Any], seq: int) -> bytes:
    """The chain hash of ``row`` at position ``seq`` after ``prev_hash``.

    ``SHA-256(prev_hash || canonical(row, seq))`` (FIPS 180-4), 32 bytes; the first row
    links to :data:`GENESIS`.
    """
    return hashlib.sha256(prev_hash + canonical(row, seq)).digest()


@dataclass
class AuditReport:
    """What :func:`certseal.storage.audit.verify_chain` found."""

    rows_checked: int = 0
    unsealed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return not self.problems
