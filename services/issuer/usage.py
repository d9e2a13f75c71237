"""The usage record (用证记录), pure: its entry kinds, its entries, and the rules of
what an entry may hold and how long it is kept (no I/O; time is a parameter).

Entries come from three places (docs/architecture.md, "The usage record"):
verifications from ``licence.used`` records (certseal.licence-usage.v1), the holder's
authorisations and their withdrawal from ``licence.authorised`` and
``licence.authorisation_revoked`` (certseal.licence-events.v1), and views, downloads and
redemptions from the issuer's own use cases, written in their transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, fields, replace

#: the longest text any entry field keeps (a purpose is at most 200 characters at the
#: verifier; anything longer from the topics is cut, never refused)
MAX_TEXT = 256

#: the default retention, as long as the usage topic keeps its records (docs/events.md)
DEFAULT_RETENTION_DAYS = 180


class UsageKind(enum.Enum):
    """What happened to the licence; the values are the stored names."""

    VERIFIED = "verified"
    AUTHORISED = "authorised"
    AUTHORISATION_REVOKED = "authorisation_revoked"
    REDEEMED = "redeemed"
    DOWNLOADED = "downloaded"
    VIEWED = "viewed"


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One use of a licence lineage.

    ``entry_id`` is stable across redeliveries (an event's id, and ``/<n>`` for the
    n-th use of a verification record), so storing an entry twice stores it once.
    ``department_code`` is the verifying, authorised or redeeming department;
    ``counter`` the verifying identity; ``actor`` who acted (a holder app for a view);
    ``action`` the read a view was (``licence.get``, ...); ``reference`` an
    authorisation id; ``nonce_hash`` the hash of a presentation code's nonce (a claim,
    docs/architecture.md §2c: of the VALID entries of one nonce only the first stays
    VALID, a later one is stored as REPLAYED, what its counter was answered). No field
    value of the licence is ever an entry's.
    """

    entry_id: str
    lineage: str
    identifier: str
    kind: UsageKind
    occurred_at: dt.datetime
    department_code: str = ""
    counter: str = ""
    clerk: str = ""
    verifier_group: str = ""
    purpose: str = ""
    verdict: str = ""
    actor: str = ""
    action: str = ""
    reference: str = ""
    department_name: str = ""
    nonce_hash: str = ""

    def clipped(self) -> UsageEntry:
        """This entry with every text cut to :data:`MAX_TEXT` characters."""
        texts = {
            f.name: getattr(self, f.name)[:MAX_TEXT]
            for f in fields(self)
            if isinstance(getattr(self, f.name), str)
        }
        return replace(self, **texts)

    @property
    def page_key(self) -> str:
        """The entry's place in its record (oldest first), as a page key: the time
        in microseconds since the epoch, zero-padded, then the entry id."""
        return f"{micros(self.occurred_at):020d}|{self.entry_id}"


@dataclass(frozen=True)
class LicenceUse:
    """One use of a licence by the holder side: ``downloaded`` (the licence file) or
    ``redeemed`` (an authorisation), by ``actor`` at ``at``
    (``services.issuer.service.holder.HolderSide.record_use``)."""

    kind: str
    identifier: str
    holder_ref: str
    actor: str
    at: dt.datetime
    authorisation_id: str = ""
    department_code: str = ""
    purpose: str = ""
    counter: str = ""
    """The redeeming counter, ``dept:<code>`` (as a verification's entry names it)."""
    clerk: str = ""
    """The clerk's console account, for a redemption at the counter console."""

    def entry(self, entry_id: str, lineage: str) -> UsageEntry:
        """The use as the usage record's entry of ``lineage`` (the redemption's
        authorisation id as ``reference``)."""
        return UsageEntry(
            entry_id=entry_id,
            lineage=lineage,
            identifier=self.identifier,
            kind=UsageKind(self.kind),
            occurred_at=self.at,
            department_code=self.department_code,
            counter=self.counter,
            clerk=self.clerk,
            purpose=self.purpose,
            actor=self.actor,
            reference=self.authorisation_id,
        )


def micros(at: dt.datetime) -> int:
    """``at`` (aware) as microseconds since 1970-01-01T00:00Z."""
    delta = at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def after_key(key: str) -> tuple[dt.datetime, str] | None:
    """The (time, entry id) of a page key made by :attr:`UsageEntry.page_key`; None
    for "" (the first page) and for anything else (the caller refuses the token)."""
    if not key:
        return None
    stamp, sep, entry_id = key.partition("|")
    if not sep or len(stamp) != 20 or not stamp.isdigit() or not entry_id:
        raise ValueError("not a usage page key")
    at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(stamp))
    return at, entry_id


def retention_cutoff(now: dt.datetime, retention_days: int) -> dt.datetime:
    """Entries that occurred before this instant are past retention: kept exactly
    ``retention_days`` days (an entry at ``now - retention_days`` is still kept)."""
    return now - dt.timedelta(days=retention_days)


def use_entry_id(event_id: str, place: int) -> str:
    """The entry id of the ``place``-th use (from 1) of verification record
    ``event_id``: the id the feed gives the record's views as well, stable across
    redeliveries."""
    return f"{event_id}/{place}"


def department_of(identity: str) -> str:
    """The department code of a caller identity ``dept:<code>``; "" for any other
    identity (a service, an app)."""
    kind, sep, name = identity.partition(":")
    return name if sep and kind == "dept" else ""
