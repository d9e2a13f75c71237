"""The usage record (用证记录), pure: its entry kinds, its entries, and the rules of
what an entry may hold and how long it is kept (no I/O; time is a parameter).

Entries come from three places (docs/architecture.md, "The usage record"):
verifications from ``licence.used`` records (certseal.licence-usage.v1), the holder's
authorisations and their withdrawal from ``licence.authorised`` and
``licence.authorisation_revoked`` (certseal.licence-events.v1), and views, downloads,
redemptions and refused redemptions from the issuer's own use cases, written in their
transaction.
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
    REDEMPTION_REFUSED = "redemption_refused"
    """The authorised department's redemption was refused (:data:`REFUSALS`)."""


#: why a redemption of an authorisation made out to the redeeming department was
#: refused (the ``why`` of its ``authorisation.redeem`` audit row,
#: services/issuer/authorisation.py) -> the verdict its ``redemption_refused`` entry
#: keeps and the words the holder reads (Chinese, English). A redemption refused as
#: ``not_found`` (an unknown code, or one made out to another department) identifies
#: nobody's authorisation and makes no entry.
REFUSALS: dict[str, tuple[str, str, str]] = {
    "other_counter": (
        "OTHER_COUNTER",
        "授权指定了该部门的其他窗口",
        "the authorisation is for another counter of the department",
    ),
    "withdrawn": ("WITHDRAWN", "授权已撤回", "the authorisation had been withdrawn"),
    "expired": ("EXPIRED", "授权已过期", "the authorisation had expired"),
    "licence_no_longer_valid": (
        "LICENCE_NO_LONGER_VALID",
        "证照已失效",
        "the licence was no longer valid",
    ),
    "licence_not_yet_valid": (
        "LICENCE_NOT_YET_VALID",
        "证照尚未生效",
        "the licence was not yet valid",
    ),
    "licence_changed": (
        "LICENCE_CHANGED",
        "制作加注件时证照已变更",
        "the licence changed while the copy was made",
    ),
    # printable.NOT_DRAWABLE: the copy would leave out a character of the licence
    "not_drawable": (
        "COPY_NOT_DRAWABLE",
        "证照含加注件无法显示的字符，未能制作加注件",
        "the copy could not be made: the licence holds a character it cannot draw",
    ),
}

# A refused redemption makes an entry unless the lineage's record has one of the same
# authorisation and verdict: at most one per authorisation and reason (``REFUSALS``:
# seven), however often and for however long a department tries the code, so its
# attempts cannot grow the holder's record (checked under the authorisation's row
# lock, ``services.issuer.storage.usage.insert_refusal``). The counter is not part of
# the rule (it is always the authorised department's, ``dept:<code>``: another
# department's attempt makes no entry), nor is the clerk (the console names any
# clerk it signs in): the entry names the first. Every attempt is audited all the
# same (``authorisation.redeem`` denied). An entry past retention is deleted like
# any other; a refusal after that makes one again.


def refusal_verdict(why: str) -> str:
    """The verdict a refusal for ``why`` is kept with; ValueError for ``not_found``
    and anything else that makes no entry."""
    try:
        return REFUSALS[why][0]
    except KeyError:
        raise ValueError(f"a refusal for {why!r} makes no usage entry") from None


def refusal_words(verdict: str, *, chinese: bool = False) -> str:
    """What a ``redemption_refused`` entry's ``verdict`` says, in the holder's words;
    a verdict this version does not know, as it is."""
    for code, zh, en in REFUSALS.values():
        if code == verdict:
            return zh if chinese else en
    return verdict


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


def refused_redemption(
    *,
    entry_id: str,
    lineage: str,
    identifier: str,
    at: dt.datetime,
    authorisation_id: str,
    department_code: str,
    purpose: str,
    counter: str,
    clerk: str,
    why: str,
) -> UsageEntry:
    """The entry of a redemption refused for ``why`` (:data:`REFUSALS`) at ``at``: the
    authorised department, the redeeming ``counter`` (``dept:<code>``) as ``actor``
    and ``counter``, the ``clerk`` at the counter console (left out when it is no
    printable text), the authorisation's purpose and id (``reference``), and the
    verdict; no field value, no name. ``identifier`` is the version it would have
    used (the lineage's current one)."""
    return UsageEntry(
        entry_id=entry_id,
        lineage=lineage,
        identifier=identifier,
        kind=UsageKind.REDEMPTION_REFUSED,
        occurred_at=at,
        department_code=department_code,
        counter=counter,
        clerk=clerk if clerk.isprintable() else "",
        purpose=purpose,
        verdict=refusal_verdict(why),
        actor=counter,
        reference=authorisation_id,
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
