"""Calls refused on the way in, recorded in the audit log: the one way the issuer and
the event feed record the refusals the interceptor makes
(:data:`certseal.rpc.RefusedCall`; docs/operations.md, "Refusals in the audit
log"). A privileged change refused for the caller's kind is one ``denied`` row; a
call whose every attempt is audited (the issuer's holder-side calls) is one for ANY
refusal on the way in (its caller's kind, a request that cannot be decoded, a field's
character, an idempotency key), as its use case records the refusals after it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from google.protobuf.message import Message

from certseal.audit import recordable
from certseal.errors import CertsealError
from certseal.personal import holds_identity_number, personal_number
from certseal.rpc import Caller, KindRefused, RefusedCall
from certseal.storage.audit import RefusalAudit
from certseal.timestamps import Clock

#: what a refused change asked for, as its ok row names it (a role change's roles)
AskedOf = dict[str, str | list[str]]


class RefusedChange(NamedTuple):
    """An RPC that changes something, as its refusal for the caller's kind is
    audited (:func:`audit_refused_changes`)."""

    #: the action its use case audits, named as its success is
    action: str
    #: the subject its request names ("" for none)
    subject: Callable[[Any], str]
    #: the shape a subject must have to be recorded as it is (raises otherwise)
    check: Callable[[str], object]
    #: what else its ok row records of the request (None: nothing)
    asked: Callable[[Any], AskedOf] | None = None


def refusal_why(exc: CertsealError) -> str:
    """What an audit row records of refusal ``exc`` of an attempt: its kind, field and
    message, the text it quotes left out, and without the message when it still holds
    a personal number (a message may quote the caller's text, and the audit log holds
    none:
    :func:`certseal.audit.recordable`). The issuer's use cases
    (:meth:`services.issuer.service.common.Auditor.attempt`) and the interceptor's
    refusals of their calls record the same."""
    said = _QUOTED.sub("'…'", str(exc))
    if holds_identity_number(said) or personal_number(said) is not None:
        said = f"{exc.field or '-'}: (the message quotes the caller's text)"
    return f"{exc.kind.value}: {said}"


#: text a message quotes (as ``repr`` quotes it: a name the caller sent, ``'张三' is
#: not a field the holder can share``): left out of the row whatever it holds, a
#: person's name as much as a number (atk44 F2)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')


def audit_refused_changes(
    changes: Mapping[str, RefusedChange],
    record: Callable[[Caller, str, str, str, AskedOf], Awaitable[None]],
    attempts: Mapping[str, RefusedChange] | None = None,
) -> RefusedCall:
    """A :data:`RefusedCall` that records with ``record(caller, action, subject, why,
    asked)`` a call of ``changes`` (full method name -> :class:`RefusedChange`)
    refused for the caller's kind (``why`` its message), and a call of ``attempts``
    (methods whose every attempt is one audit row) refused on the way in for any
    reason (``why``: :func:`refusal_why`); its subject only when it has its shape
    and no personal data (:func:`certseal.audit.recordable`, ``-`` otherwise and for
    a request that could not be decoded), and what it asked; nothing for any other
    method (a read) or refusal (a change's malformed request: not audited)."""
    attempted = attempts or {}

    async def audit(
        caller: Caller, method: str, request: Any, error: CertsealError
    ) -> None:
        change = attempted.get(method)
        if change is not None:
            why = refusal_why(error)
        elif isinstance(error, KindRefused) and method in changes:
            change, why = changes[method], error.message
        else:
            return
        decoded = isinstance(request, Message)
        subject = recordable(change.subject(request), change.check) if decoded else "-"
        asked = change.asked(request) if change.asked and decoded else {}
        await record(caller, change.action, subject, why, asked)

    return audit


def audit_refused_to(
    changes: Mapping[str, RefusedChange], refusals: RefusalAudit, clock: Clock
) -> RefusedCall:
    """:func:`audit_refused_changes` writing each row through a service's
    :class:`certseal.storage.audit.RefusalAudit` at ``clock()``: the feed's and the
    seal service's changes refused for the caller's kind (what they asked is not
    recorded: their changes name nothing beyond the subject)."""

    async def record(
        caller: Caller, action: str, subject: str, why: str, asked: AskedOf
    ) -> None:
        await refusals.audit_refusal(
            at=clock(), actor=str(caller), action=action, subject=subject, why=why
        )

    return audit_refused_changes(changes, record)
