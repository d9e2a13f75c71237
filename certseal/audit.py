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


#: the refusal rows one process writes of one caller (actor) in a minute; past them
#: the caller's refusals of that minute are counted, and written as one summary row
#: when the minute ends (:class:`RefusalBudget`)
REFUSAL_ROWS_PER_MINUTE = 60
#: the length of a caller's minute
REFUSAL_WINDOW = dt.timedelta(minutes=1)
#: the most callers whose minutes one process follows at once; past it a refusal is
#: written as it comes (the bound keeps the process's memory, not the log's)
REFUSAL_CALLERS = 10_000
#: the action of the row that stands for the refusals a caller's minute counted
COUNTED_ACTION = "refusal.counted"


@dataclass(slots=True)
class _Minute:
    """One caller's current minute: rows written and refusals counted in it."""

    start: dt.datetime
    written: int = 0
    counted: int = 0
    first_counted: dt.datetime | None = None
    last_counted: dt.datetime | None = None
    actions: dict[str, int] = field(default_factory=dict)


class RefusalBudget:
    """How many refusal rows one caller may write a minute, per process.

    A refused call is one small row (:func:`refusal`); an authenticated caller
    repeating one in a loop would still fill the audit log and its chain with rows.
    Each caller (``actor``) has minutes of :data:`REFUSAL_WINDOW` from its first
    refusal; in a minute its first ``rows`` refusals are written one row each
    (:meth:`admit` True), the rest counted (False), by action. A minute that counted
    any becomes ONE ``denied`` row of action :data:`COUNTED_ACTION` (:meth:`due`,
    :meth:`summary`): how many, from when to when, of which actions. So every
    refusal is in the log, as its own row or in its minute's count, and one caller
    writes at most ``rows + 1`` rows a minute to it. Pure; times are the callers'
    (the injected clock's).
    """

    def __init__(
        self,
        rows: int = REFUSAL_ROWS_PER_MINUTE,
        window: dt.timedelta = REFUSAL_WINDOW,
        callers: int = REFUSAL_CALLERS,
    ):
        self.rows = rows
        self.window = window
        self.callers = callers
        self._minutes: dict[str, _Minute] = {}

    def admit(self, actor: str, action: str, at: dt.datetime) -> bool:
        """True: write this refusal's row; False: it is counted in ``actor``'s
        minute. A minute ended by ``at`` must have been taken by :meth:`due` first
        (else its count is left for :meth:`due` and this refusal opens no new
        minute: it is counted in the old one)."""
        minute = self._minutes.get(actor)
        if minute is None or (not minute.counted and at >= minute.start + self.window):
            if minute is None and len(self._minutes) >= self.callers:
                self._forget_quiet(at)
                if len(self._minutes) >= self.callers:
                    return True  # too many callers to follow: written as it comes
            minute = self._minutes[actor] = _Minute(at)
        if minute.written < self.rows and not minute.counted:
            minute.written += 1
            return True
        minute.counted += (
            1  # its span: the earliest to the latest (a clock may step back)
        )
        minute.first_counted = min(minute.first_counted or at, at)
        minute.last_counted = max(minute.last_counted or at, at)
        minute.actions[action] = minute.actions.get(action, 0) + 1
        return False

    def counting(self, actor: str) -> int:
        """How many refusals ``actor``'s current minute has counted."""
        minute = self._minutes.get(actor)
        return minute.counted if minute is not None else 0

    def next_end(self) -> dt.datetime | None:
        """When the first minute that counted refusals ends (None: none counted)."""
        ends = [m.start + self.window for m in self._minutes.values() if m.counted]
        return min(ends, default=None)

    def due(self, now: dt.datetime, *, all_counted: bool = False) -> list[AuditEntry]:
        """The summary rows of the minutes that counted refusals and have ended by
        ``now`` (``all_counted``: every minute that counted, ended or not: a process
        stopping), each minute then forgotten."""
        rows = []
        for actor, minute in list(self._minutes.items()):
            if minute.counted and (all_counted or now >= minute.start + self.window):
                rows.append(self.summary(actor, minute, now))
                del self._minutes[actor]
        return rows

    def summary(self, actor: str, minute: _Minute, now: dt.datetime) -> AuditEntry:
        """The one row that stands for ``minute``'s counted refusals, dated ``now``
        (when it is written, so that a reader listing the rows since its last look
        finds it: trial35), its span in ``from`` and ``to``."""
        assert minute.first_counted is not None and minute.last_counted is not None
        return AuditEntry(
            max(now, minute.last_counted),
            actor,
            COUNTED_ACTION,
            "-",
            "denied",
            {
                "why": (
                    f"{minute.counted} refused calls of this caller, from "
                    f"{_utc(minute.first_counted)} to {_utc(minute.last_counted)}, "
                    f"counted and not written one by one: past the {self.rows} of its "
                    f"minute begun {_utc(minute.start)} written one row each"
                ),
                "counted": minute.counted,
                "from": _utc(minute.first_counted),
                "to": _utc(minute.last_counted),
                "actions": dict(sorted(minute.actions.items())),
            },
        )

    def _forget_quiet(self, at: dt.datetime) -> None:
        """Forget the ended minutes that counted nothing."""
        for actor, minute in list(self._minutes.items()):
            if not minute.counted and at >= minute.start + self.window:
                del self._minutes[actor]


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


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
