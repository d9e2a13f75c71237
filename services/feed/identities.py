"""Who the feed's callers and entitlements name: ``integrator:<name>`` identities,
and the holder apps (``app:<name>``) that are none, except the integrators' old
``app:`` certificates the operator still honours (``[feed] legacy_app_integrators``).
Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable

from certseal.errors import denied, invalid

_INTEGRATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: a webhook's name: 1 to 40 of a-z, 0-9 and '-'
WEBHOOK_NAME = re.compile(r"[a-z0-9-]{1,40}")


def check_webhook_name(name: str) -> str:
    """``name`` when it is a webhook's name (:data:`WEBHOOK_NAME`); INVALID_ARGUMENT
    (``name``) otherwise, for a registration and before any look-up alike: text no
    webhook can have is a mistake, not a webhook to look for."""
    if not WEBHOOK_NAME.fullmatch(name):
        raise invalid("name", "use 1 to 40 of a-z, 0-9 and '-'")
    return name


def integrator_identity(text: str, field: str = "integrator") -> str:
    """``text`` when it is an integrator identity ``integrator:<name>``;
    INVALID_ARGUMENT on ``field`` for anything else. ``app:<name>`` is a holder app's
    identity, not an integrator's, and is refused too (an operator may let an old
    ``app:<name>`` integrator certificate read ``integrator:<name>``'s feed:
    :func:`feed_identity`)."""
    kind, _, name = text.partition(":")
    if kind == "app":
        raise invalid(
            field,
            f"{text} names a holder app; name the integrator as integrator:{name}",
        )
    if kind != "integrator" or not _INTEGRATOR_NAME.fullmatch(name):
        raise invalid(
            field,
            "must be an integrator identity integrator:<name> (name: 1 to 64 "
            "of A-Z, a-z, 0-9, '.', '_', '-')",
        )
    return text


def check_integrator_names(names: Iterable[str]) -> None:
    """ValueError for a name that no ``integrator:<name>`` identity has (``[feed]
    legacy_app_integrators`` lists names, without a kind)."""
    for name in names:
        if not _INTEGRATOR_NAME.fullmatch(name):
            raise ValueError(
                f"legacy_app_integrators: {name!r} is not an integrator name (1 to "
                "64 of A-Z, a-z, 0-9, '.', '_', '-'; no kind: acme, not app:acme)"
            )


def feed_identity(kind: str, name: str, legacy_apps: frozenset[str]) -> str:
    """The integrator identity whose entitlement a caller ``kind:name`` of the feed
    reads: its own for an integrator; for a holder app (``app:<name>``) the
    ``integrator:<name>`` of an integrator whose old ``app:`` certificate the
    operator still honours (``legacy_apps``, ``[feed] legacy_app_integrators``), and
    PERMISSION_DENIED for any other: holder apps do not read the feed, and a holder
    app named like an integrator must not read its events."""
    if kind == "app" and name not in legacy_apps:
        raise denied(
            f"app:{name} is a holder app's identity; holder apps do not read the "
            "event feed (integrators call with an integrator:<name> certificate)",
            field="as",
        )
    return f"integrator:{name}" if kind == "app" else f"{kind}:{name}"
