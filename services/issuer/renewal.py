"""A renewal's validity (延续), the pure rule. No I/O; time is a parameter.

A renewal takes effect when it is made: its new version supersedes the current one at
once, and a superseded version never verifies as valid. So the new version must be
valid from then, or the holder is left with no valid licence until it starts (a new
version valid from the old end, as renewals once were, left a holder with none for the
whole of the old validity). Hence:

- ``valid_from``: by default now; one given must be now or earlier (there is no
  allowance for clock skew: the issuer's clock decides, as at issuance). A current
  version that is not valid yet (issued to start later) gives its holder nothing
  before its start, so its renewal starts there by default and may start no later
  (atk16b F3: starting it now would let the licence be used before the issuer meant);
- ``valid_until``: by default the later of the current version's end and the start
  plus the type's default validity (``default_validity_days``), so a renewal never
  shortens what the holder had; one given is taken as it is (after the start and
  after now, :func:`services.issuer.domain.resolve_validity`).
"""

from __future__ import annotations

import datetime as dt

from certseal.errors import invalid
from certseal.timestamps import shifted
from services.issuer.domain import LicenceType, Validity, resolve_validity

STARTS_NOW = (
    "a renewal supersedes the current version at once; its new version must be "
    "valid from now or earlier"
)
"""What a ``valid_from`` after now is told."""


def renewal_validity(
    licence_type: LicenceType,
    current_until: dt.datetime,
    valid_from: dt.datetime | None,
    valid_until: dt.datetime | None,
    now: dt.datetime,
    *,
    current_from: dt.datetime | None = None,
) -> Validity:
    """The new version's validity when the version valid from ``current_from`` (None:
    already valid) until ``current_until`` is renewed at ``now`` (see the module
    docstring); INVALID_ARGUMENT naming ``valid_from`` (after now, or after the start
    of a current version not valid yet) or ``valid_until`` (not after the start, or
    past)."""
    latest = max(now, current_from) if current_from is not None else now
    if valid_from is not None and valid_from > latest:
        if latest == now:
            raise invalid(
                "valid_from", f"{valid_from.isoformat()} is after now: {STARTS_NOW}"
            )
        raise invalid(
            "valid_from",
            f"{valid_from.isoformat()} is after {latest.isoformat()}, when the "
            "current version starts: a renewal supersedes it at once, so its new "
            "version must be valid from then or earlier",
        )
    start = valid_from or latest
    if valid_until is None:
        default = dt.timedelta(days=licence_type.default_validity_days)
        valid_until = max(current_until, shifted(start, default, "valid_from"))
    return resolve_validity(licence_type, start, valid_until, now)
