"""Changes refused for the caller's kind, recorded in the audit log: the one way the
issuer and the event feed record the refusals the interceptor makes
(:data:`certseal.rpc.RefusedCall`; docs/operations.md, "Refusals in the audit
log")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from google.protobuf.message import Message

from certseal.audit import recordable
from certseal.rpc import Caller, RefusedCall

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


def audit_refused_changes(
    changes: Mapping[str, RefusedChange],
    record: Callable[[Caller, str, str, str, AskedOf], Awaitable[None]],
) -> RefusedCall:
    """A :data:`RefusedCall` that records a refused call of ``changes`` (full method
    name -> :class:`RefusedChange`) with ``record(caller, action, subject, why,
    asked)``: its subject only when it has its shape and no personal data
    (:func:`certseal.audit.recordable`, ``-`` otherwise and for a request that could
    not be decoded), and what it asked; nothing for any other method (a read)."""

    async def audit(caller: Caller, method: str, request: Any, why: str) -> None:
        change = changes.get(method)
        if change is None:
            return
        decoded = isinstance(request, Message)
        subject = recordable(change.subject(request), change.check) if decoded else "-"
        asked = change.asked(request) if change.asked and decoded else {}
        await record(caller, change.action, subject, why, asked)

    return audit
