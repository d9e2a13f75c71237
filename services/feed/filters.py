"""What an entitlement, a subscription or a webhook may name: departments, licence
types and event types some event carries (a filter that would deliver nothing,
silently, is refused), and, for a subscription, only what its entitlement lets
through. Pure: no I/O."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from certseal.errors import CertsealError, ErrorKind, denied, invalid, status_details
from certseal.events import EVENT_TYPES
from certseal.identifiers import validate_type_code, validate_uscc
from certseal.text import did_you_mean, nearest_of_kind
from services.feed.domain import (
    EVENT_TOPICS,
    MAX_LIST_VALUES,
    Entitlement,
    Filter,
    Patterns,
    _matches,
)


def _listed(types: list[str]) -> str:
    """Event types by family, short enough for an error's 400 characters (nu25: a
    plain list was cut off): ``key.{activated,retired}; seal.registered``."""
    families = itertools.groupby(sorted(types), key=lambda t: t.split(".", 1)[0])
    parts = []
    for family, members in families:
        names = [t.split(".", 1)[1] for t in members]
        one = len(names) == 1
        parts.append(
            f"{family}.{names[0]}" if one else f"{family}.{{{','.join(names)}}}"
        )
    return "; ".join(parts)


def check_event_types(
    requested: frozenset[str] | set[str] | list[str],
    entitled: frozenset[str],
    *,
    field: str = "event_types",
    published: Iterable[str] = EVENT_TOPICS,
    who: str = "this caller",
) -> None:
    """INVALID_ARGUMENT (``field``) for an asked event type that no event could ever
    match: one not ``published`` (default :data:`EVENT_TOPICS`, the feed's; ``*``
    and ``prefix.*`` patterns must match at least one), or one ``entitled`` (the
    caller's entitlement's types, ``who`` its holder as said) never lets through. A
    silently empty subscription is worse than a refusal."""
    known = sorted(published)
    allowed = Patterns.of(entitled)
    for wanted in requested:
        matching = [t for t in known if _matches(frozenset({wanted}), t)]
        elsewhere = sorted(
            {EVENT_TYPES[t] for t in EVENT_TYPES if _matches(frozenset({wanted}), t)}
        )
        if not matching and elsewhere:
            raise invalid(
                field,
                f"{wanted!r}: published on {', '.join(elsewhere)}, which the event "
                "feed does not carry (read that topic from the broker)",
            )
        if not matching:
            raise invalid(
                field,
                f"{wanted!r} is not an event type; {did_you_mean(wanted, known)}"
                f"known: {_listed(known)} (or a pattern such as licence.*)",
            )
        if not any(allowed.matches(t) for t in matching):
            raise invalid(
                field,
                f"{wanted!r} is not among the event types {who} is entitled to "
                f"({', '.join(sorted(entitled)) or 'none'})",
            )


def check_sizes(lists: Filter | Entitlement) -> None:
    """INVALID_ARGUMENT naming the list (``departments``, ``licence_types`` or
    ``event_types``) of an entitlement or a filter that holds more than
    :data:`MAX_LIST_VALUES` values: checking and keeping such a list costs every
    other subscriber of the feed; ``*`` or a ``prefix.*`` pattern says more."""
    for name in ("departments", "licence_types", "event_types"):
        count = len(getattr(lists, name))
        if count > MAX_LIST_VALUES:
            raise invalid(
                name,
                f"has {count} values; at most {MAX_LIST_VALUES} are allowed "
                "('*' is any; event types may be a pattern such as licence.*)",
            )


def check_codes(departments: frozenset[str], licence_types: frozenset[str]) -> None:
    """INVALID_ARGUMENT (``departments`` or ``licence_types``) for a value no event
    could carry: each is ``*`` or a unified social credit code (GB 32100) or a
    licence type code (GB/T 36904 identifiers,
    :func:`certseal.identifiers.validate_type_code`). A mistyped code entitled or
    asked for nothing, silently."""
    for code in sorted(departments - {"*"}):
        validate_uscc(code, "departments")
    for code in sorted(licence_types - {"*"}):
        validate_type_code(code, "licence_types")


def check_within(
    wanted: Filter, entitlement: Entitlement, who: str = "this caller"
) -> None:
    """:func:`check_codes` of a subscription's filter, and INVALID_ARGUMENT
    (``departments`` or ``licence_types``) for one its entitlement never lets
    through: asked for, it would deliver nothing, silently; its event types by
    :func:`check_event_types`, and (``event_types``) a filter whose event types the
    entitlement lets nothing through of (:meth:`Entitlement.nothing_through`: licence
    events only, while it names no licence type). ``who``: the entitlement's holder
    as the refusal says it (a webhook's is its integrator)."""
    check_codes(wanted.departments, wanted.licence_types)
    for name, asked, entitled in (
        ("departments", wanted.departments, entitlement.departments),
        ("licence_types", wanted.licence_types, entitlement.licence_types),
    ):
        allowed = Patterns.of(entitled)
        for code in sorted(asked - {"*"}):
            if not allowed.matches(code):
                raise invalid(
                    name,
                    f"{code!r} is not among the {name.replace('_', ' ')} {who} "
                    f"is entitled to ({', '.join(sorted(entitled)) or 'none'})",
                )
    check_event_types(wanted.event_types, entitlement.event_types, who=who)
    # the entitlement's own rule of letting nothing through, over the types asked
    # (atk70: licence events only, under no licence type, delivered nothing, silently)
    wants = Patterns.of(wanted.event_types or frozenset({"*"}))
    types = [t for t in EVENT_TOPICS if wants.matches(t)]
    if why := entitlement.nothing_through(types):
        raise invalid(
            "event_types",
            f"the entitlement of {who} lets none of the event types asked for "
            f"({_listed(types)}) through: {why}",
        )


def check_still_within(wanted: Filter, entitlement: Entitlement) -> None:
    """PERMISSION_DENIED (the field :func:`check_within` names) for a running
    subscription whose entitlement, read again, no longer covers its filter: what
    :func:`check_within` refuses at subscribe time ends the stream. Narrowed so that
    the filter matched nothing, a stream stayed open and delivered nothing."""
    try:
        check_within(wanted, entitlement)
    except CertsealError as exc:
        if exc.kind is not ErrorKind.INVALID_ARGUMENT:
            raise
        # what to do before the refusal's list of the rights left, which may run
        # past the 400 characters a caller reads (atk70: the hint was cut off)
        raise denied(
            f"the entitlement of {entitlement.integrator} was narrowed since this "
            "subscription began (subscribe again with a filter within it, from the "
            f"last position token): {exc.message}",
            field=exc.field,
        ) from None


def check_webhook_filter(wanted: Filter, entitled: Entitlement | None) -> None:
    """A webhook's own filter: :func:`check_sizes`, :func:`check_codes`, event types
    some event carries, and, once its integrator is entitled, an entitlement that
    lets something through (PERMISSION_DENIED ``integrator``,
    :func:`check_lets_through`) and a filter within it (INVALID_ARGUMENT,
    :func:`check_within`: as a subscription's, never silent). An entitlement set or
    narrowed later is said then (:func:`webhooks_outside`)."""
    check_sizes(wanted)
    check_codes(wanted.departments, wanted.licence_types)
    if entitled is not None:
        try:
            check_lets_through(entitled)
        except CertsealError as exc:  # said of the webhook's integrator, not a caller
            raise CertsealError(exc.kind, exc.message, field="integrator") from None
        check_within(wanted, entitled, who=entitled.integrator)
    check_event_types(wanted.event_types, frozenset({"*"}))


def webhooks_outside(
    entitlement: Entitlement, filters: Mapping[str, Filter]
) -> dict[str, str]:
    """Of the integrator's webhooks (name → its own filter), those ``entitlement``
    does not cover, each with why: every list of its filter that is outside, as
    :func:`check_within` refuses it (``field: problem``, each bounded as a status's
    details, joined by "; "). Such a webhook posts only what the entitlement lets
    through, since its deliveries read the entitlement again, and without this
    nothing would say so (a stream is ended instead, :func:`check_still_within`)."""
    outside = {}
    for name, wanted in sorted(filters.items()):
        reasons = []
        for part in (
            Filter(departments=wanted.departments),
            Filter(licence_types=wanted.licence_types),
            Filter(event_types=wanted.event_types),
        ):
            try:
                check_within(part, entitlement, who=entitlement.integrator)
            except CertsealError as exc:
                reasons.append(status_details(exc))
        if reasons:
            outside[name] = "; ".join(reasons)
    return outside


def check_entitlement(entitlement: Entitlement) -> None:
    """:func:`check_sizes` and :func:`check_codes` of an entitlement, and
    INVALID_ARGUMENT naming the list for one that would let nothing through: an event
    type, or a ``prefix.*`` pattern, that matches none the feed carries
    (:data:`EVENT_TOPICS`, which the Kafka ACLs of :func:`kafka_topics` read too),
    or an empty list that stops every event (:meth:`Entitlement.nothing_through`).
    A subscription under it would stay open and deliver nothing; every right is
    withdrawn with RemoveEntitlement instead."""
    check_sizes(entitlement)
    check_codes(entitlement.departments, entitlement.licence_types)
    check_event_types(sorted(entitlement.event_types), frozenset({"*"}))
    why = entitlement.nothing_through(EVENT_TOPICS)
    if why is None:
        return
    if not entitlement.departments:
        field, give = "departments", "a department code or *"
    elif not entitlement.event_types:
        field, give = "event_types", "an event type or a pattern (licence.*, *)"
    else:
        field, give = "licence_types", "a licence type code or *"
    raise invalid(
        field,
        f"is empty, so the entitlement lets no event through ({why}): give {give}; "
        "to withdraw every right, remove the entitlement (certseal feed revoke)",
    )


def check_lets_through(entitlement: Entitlement) -> None:
    """PERMISSION_DENIED, saying why, for an entitlement that lets no event the feed
    carries through (:meth:`Entitlement.nothing_through`): a stream under it would
    stay open and never deliver, a webhook never post. One whose rights were all
    withdrawn (RemoveEntitlement: every list empty) is said as withdrawn."""
    if not (
        entitlement.departments or entitlement.licence_types or entitlement.event_types
    ):  # RemoveEntitlement's
        raise denied(
            f"every right of {entitlement.integrator} to the event feed was withdrawn "
            "(certseal feed revoke; an operator gives them again: certseal feed "
            "entitle)",
            field="as",
        )
    why = entitlement.nothing_through(EVENT_TOPICS)
    if why is not None:
        raise denied(
            f"the entitlement of {entitlement.integrator} lets no event through: "
            f"{why} (an operator widens it: certseal feed entitle)",
            field="as",
        )


def nothing_to_withdraw(
    integrator: str, *, withdrawn: bool, known: Iterable[str] = ()
) -> CertsealError:
    """RemoveEntitlement's NOT_FOUND (field ``integrator``) for an integrator with no
    right left: its rights ``withdrawn`` already, or never entitled (trial56: both
    were "a right of … to withdraw not found"), then with the one of the ``known``
    integrators its name is likely a typo of (trial71: none was offered)."""
    if withdrawn:
        said = f"every right of {integrator} was withdrawn already: nothing to withdraw"
    else:
        near = nearest_of_kind(integrator, known)
        said = (
            f"{integrator} was never entitled: nothing to withdraw ("
            + (f"did you mean {near}? " if near else "")
            + "certseal feed entitlements lists the integrators that are)"
        )
    return CertsealError(ErrorKind.NOT_FOUND, said, field="integrator")
