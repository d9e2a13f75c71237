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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from certseal.personal import holds_identity_number, personal_number

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
#: the most items of one list a refusal records of what was asked (the rest cut, a
#: last ``…`` saying so): a repeated request field may be filled to the size limit
REFUSAL_ASKED_ITEMS = 16

#: what a refused call asked for, as :func:`refusal` records it: detail name ->
#: text, or a list of texts (each already held to its shape: :func:`recordable`)
Asked = Mapping[str, str | Sequence[str]]


def refusal(
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    why: str,
    request_id: str = "",
    asked: Asked | None = None,
) -> AuditEntry:
    """The audit entry of an operation refused to ``actor``: outcome ``denied``,
    details ``{"why": why}`` (the refusal's message) and what was ``asked`` (the
    details the change's ``ok`` row records of its request, such as a role
    change's ``roles``).

    ``action`` is the action the caller attempted, named as its success is
    (``department.roles``, ``seal.register``); ``subject`` what it was attempted on,
    ``-`` when empty. The subject and each text asked are cut to
    :data:`REFUSAL_SUBJECT_LIMIT` characters and ``why`` to
    :data:`REFUSAL_WHY_LIMIT`, each ending in ``…`` when cut, a list asked to
    :data:`REFUSAL_ASKED_ITEMS` items, and a control or format character in any
    (Unicode category C: a line break, an escape, a NUL that PostgreSQL refuses in
    text, a bidirectional override) is written as its ``\\uXXXX`` escape: a
    refused caller's text may be anything. What is asked is named by the caller of
    this function and must be no personal data (:func:`recordable`); ``why`` is no
    name it may use (ValueError).
    """
    details: dict[str, Any] = {"why": _shown(why, REFUSAL_WHY_LIMIT)}
    for name, value in (asked or {}).items():
        if name in details:
            raise ValueError(f"{name!r} is the refusal's own detail")
        details[name] = _asked(value)
    return AuditEntry(
        occurred_at,
        actor,
        action,
        _shown(subject or "-", REFUSAL_SUBJECT_LIMIT),
        "denied",
        details,
        request_id,
    )


def _asked(value: str | Sequence[str]) -> str | list[str]:
    """One value asked, as :func:`refusal` records it."""
    if isinstance(value, str):
        return _shown(value, REFUSAL_SUBJECT_LIMIT)
    items = [_shown(v, REFUSAL_SUBJECT_LIMIT) for v in value[:REFUSAL_ASKED_ITEMS]]
    return [*items, "…"] if len(value) > REFUSAL_ASKED_ITEMS else items


def recordable(value: str, check: Callable[[str], object]) -> str:
    """``value`` when ``check`` accepts it (returns; raises any exception
    otherwise) and it holds no run of 15 digits or more, one character other
    than a letter between two of them counting as none (a resident identity number,
    whole or in part, grouped or not, where a code or a name goes), else ``-``: what a
    refusal records of a refused caller's text (a subject, a value asked), which
    may have been refused before its shape was checked; nor, once it has its shape,
    any identity, bank card or mobile number written in it
    (:func:`certseal.personal.personal_number`). A code of digits only (some
    government bodies' USCC) is recorded as ``-`` too: the rule errs on keeping
    personal data out."""
    if holds_identity_number(value):
        return "-"
    try:
        check(value)
    except Exception:
        return "-"
    # of a value of its shape (so bounded), any personal number as people write
    # one, its groups split by up to two separators (atk34b C1, C2: an identity
    # number split by "__", a mobile number): certseal.personal.personal_number
    if personal_number(value) is not None:
        return "-"
    return value


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
    what it is answered (certseal.rpc's idempotent calls). A call cancelled once
    its refusals wait has them settled after it, once, by a task kept to its end
    (``certseal.storage.idempotency.kept``; ``finish_kept`` awaits it). Once the
    call has ended (``open`` False) nothing waits: a task the call started and that
    outlives it (a group commit's drain) records at once."""

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
