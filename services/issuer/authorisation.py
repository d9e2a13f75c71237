"""授权用证, the pure rules: who may redeem a holder's authorisation, and what the
annotated copy (加注件) says.

An authorisation lets one department (or one of its counters) use one licence for one
purpose until its expiry, seeing the fields the holder chose. :func:`redemption_refusal`
decides a redemption; the order of its checks is the order of the reasons a caller can
learn, so that a stranger learns nothing about another's authorisation:

1. the redeeming department is not the one authorised → ``not_found`` (a stranger
   cannot tell a wrong department from an unknown code);
2. a counter was named and the redeeming counter is another → ``other_counter``;
3. the holder withdrew it → ``withdrawn``;
4. ``now`` is at or after ``expires_at`` → ``expired`` (an authorisation is valid
   strictly before its expiry instant).

Then the licence itself (:func:`licence_refusal`, also when the holder authorises): a
use of a licence is a use within its validity, so the lineage's current version must
be valid (01) and ``valid_from <= now < valid_until``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from certseal.codes import MalformedCode, normalise_code_text
from certseal.errors import CertsealError, ErrorKind, denied, invalid, precondition
from certseal.identifiers import is_account_name
from services.issuer.document_overlay import CopyAnnotation
from services.issuer.domain import LicenceRecord, Status

#: the authorisation code's alphabet: Crockford base32 without look-alikes
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 bits: hopeless to guess even unthrottled (there is no throttle;
# every refused redemption is audited, authorisation.redeem denied)
CODE_PREFIX = "AU-"
MAX_PURPOSE_CHARS = 64
MAX_VALIDITY = dt.timedelta(days=90)
MAX_FIELDS = 64
#: characters of a withdrawal's reason (published in licence.authorisation_revoked
#: and kept with the row); a longer one is INVALID_ARGUMENT, never cut
MAX_REASON_CHARS = 200
BEIJING = dt.timezone(dt.timedelta(hours=8))


def said_in_cst(at: dt.datetime) -> str:
    """``at`` as a clerk reads it: ``2026年12月11日 00:00 China Standard Time (UTC+8)``
    (the date as the annotated copy draws it, :func:`copy_annotation`)."""
    local = at.astimezone(BEIJING)
    return (
        f"{local.year}年{local.month}月{local.day}日 {local:%H:%M} "
        "China Standard Time (UTC+8)"
    )


@dataclass(frozen=True, slots=True)
class Authorisation:
    """One holder's authorisation of one department to use one licence version's
    lineage for one purpose (times UTC)."""

    authorisation_id: str
    lineage: str
    identifier: str  # the version authorised
    holder_ref: str
    department_code: str
    counter: str  # "" = any counter of the department
    purpose: str
    fields: tuple[str, ...]
    expires_at: dt.datetime
    created_at: dt.datetime
    created_by: str  # the holder app
    revoked_at: dt.datetime | None = None

    def status(self, now: dt.datetime) -> str:
        """``revoked``, ``expired`` (from ``expires_at`` on) or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


MISREAD_CODE = (
    f"is not an authorisation code ({CODE_PREFIX} and {CODE_LENGTH} characters of "
    "0-9 and A-Z but I, L, O and U): it looks cut short or misread; scan it again "
    "or type it"
)
"""What a text that cannot be an authorisation code is told (field ``code``)."""


def new_code() -> str:
    """A fresh authorisation code, ``AU-`` and 12 base32 characters."""
    return CODE_PREFIX + "".join(
        secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)
    )


def normalise_code(text: str) -> str | None:
    """The code as issued, or None when ``text`` cannot be one.

    The text is first read as a scanned licence code's is
    (:func:`certseal.codes.normalise_code_text`: a scanner's framing and symbology
    identifier such as ``]Q1``, invisible characters, full-width forms, case; a
    character that stays outside ASCII makes it no code). Then spaces and dashes
    after the prefix are removed and O→0, I/L→1 read as Crockford reads them."""
    try:  # as a licence code's text: framing, invisible characters, full width, case
        body = normalise_code_text(text)
    except MalformedCode:  # characters no code has (named there), or far too long
        return None
    body = body.replace("-", "").replace(" ", "")
    # the prefix, however it was separated ("AU-", "AU ", "AU"): only when the body
    # after it has the code's length, since a bare body may begin with "AU" too
    bare_prefix = CODE_PREFIX.rstrip("-")
    if len(body) == CODE_LENGTH + len(bare_prefix) and body.startswith(bare_prefix):
        body = body[len(bare_prefix) :]
    body = body.translate(str.maketrans("OIL", "011"))
    if len(body) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in body):
        return None
    return CODE_PREFIX + body


def code_digest(code: str) -> str:
    """What the store keeps of a code: SHA-256 hex of the normalised code (the code
    itself is shown once, to the holder)."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def asked_expiry(
    expires_at: dt.datetime | None, valid_days: int, now: dt.datetime
) -> tuple[dt.datetime | None, str]:
    """The expiry an AuthoriseUse request asks for and the field that asks it:
    ``expires_at``, or ``valid_days`` days from ``now`` (the service's clock, so that a
    request repeated with its idempotency key is the same request: the CLI's
    ``--days`` sent as a time of its own made every repeat another request, trial48).
    Raises INVALID_ARGUMENT for both given, or more days than :data:`MAX_VALIDITY`."""
    if not valid_days:
        return expires_at, "expires_at"
    if expires_at is not None:
        raise invalid("valid_days", "give expires_at or valid_days, not both")
    if valid_days > MAX_VALIDITY.days:
        raise invalid(
            "valid_days", f"is {valid_days} days; at most {MAX_VALIDITY.days} days"
        )
    return now + dt.timedelta(days=valid_days), "valid_days"


def expiry_problem(
    expires_at: dt.datetime | None,
    now: dt.datetime,
    licence_ends: dt.datetime | None = None,
) -> str | None:
    """Why ``expires_at`` is not an acceptable expiry (after now, not after
    ``licence_ends``, the licence's ``valid_until``, and at most
    :data:`MAX_VALIDITY` ahead), or None: an authorisation does not outlive the
    licence (its sealed copy would say it is valid to a date the licence is not).
    The refusal of a later expiry also says how many whole days the licence has left,
    the longest ``holder authorise --days`` that works."""
    if expires_at is None:
        return "is required"
    if expires_at <= now:
        return "must be after now"
    if licence_ends is not None and expires_at > licence_ends:
        whole = (licence_ends - now) // dt.timedelta(days=1)
        days = "1 whole day" if whole == 1 else f"{whole} whole days"
        left = f"{days} from now" if whole else "less than a day from now"
        return (
            "must not be after the licence's end: the licence is valid until "
            f"{said_in_cst(licence_ends)}, {left}"
        )
    if expires_at - now > MAX_VALIDITY:
        return f"must be at most {MAX_VALIDITY.days} days ahead"
    return None


def redemption_refusal(
    auth: Authorisation,
    *,
    department_code: str,
    counter: str,
    now: dt.datetime,
) -> str | None:
    """Why the redemption by ``department_code`` at ``counter`` is refused at ``now``,
    as one of ``not_found``, ``other_counter``, ``withdrawn``, ``expired``; None when
    it may proceed. See the module docstring for the order."""
    if department_code != auth.department_code:
        return "not_found"
    if auth.counter and counter != auth.counter:
        return "other_counter"
    if auth.revoked_at is not None:
        return "withdrawn"
    if now >= auth.expires_at:
        return "expired"
    return None


def licence_refusal(record: LicenceRecord, now: dt.datetime) -> tuple[str, str] | None:
    """Why licence version ``record`` (a lineage's current version) may not be used
    (authorised, redeemed) at ``now``: (``licence_not_yet_valid`` or
    ``licence_no_longer_valid``, what the caller is told), or None."""
    if record.status is not Status.VALID:
        state = f"it is {record.status.label}"
    elif now < record.valid_from:
        return (
            "licence_not_yet_valid",
            f"licence {record.identifier} is not yet valid: it is valid from "
            f"{record.valid_from.isoformat()}",
        )
    elif now >= record.valid_until:
        state = f"it was valid until {record.valid_until.isoformat()}"
    else:
        return None
    return (
        "licence_no_longer_valid",
        f"licence {record.identifier} is no longer valid: {state}",
    )


def refusal_error(why: str, auth: Authorisation | None) -> CertsealError:
    """The error a redemption refused for ``why`` (:func:`redemption_refusal`)
    answers, on field ``code``, with ``why`` as its reason (sent beside it for the
    console: :data:`certseal.rpcerrors.ERROR_REASON_KEY`)."""
    if why == "not_found" or auth is None:
        return CertsealError(
            ErrorKind.NOT_FOUND,
            "no authorisation with this code for your department",
            field="code",
            reason="not_found",
        )
    if why == "other_counter":
        return denied(
            f"authorisation {auth.authorisation_id} is for another counter",
            field="code",
            reason=why,
        )
    text = {"withdrawn": "was withdrawn by the holder", "expired": "has expired"}[why]
    return precondition(
        f"authorisation {auth.authorisation_id} {text}", field="code", reason=why
    )


def copy_valid_until(auth: Authorisation, record: LicenceRecord) -> dt.datetime:
    """The moment the annotated copy of ``record`` (the lineage's current version at
    redemption) made for ``auth`` says it is valid before: the earlier of the
    authorisation's expiry and the licence's ``valid_until``. The expiry was bounded
    by the licence's end when the holder authorised, but a renewal may shorten the
    licence after it (atk39b_holder 2)."""
    return min(auth.expires_at, record.valid_until)


def copy_annotation(
    department_name: str, purpose: str, valid_until: dt.datetime
) -> CopyAnnotation:
    """The annotated copy's 加注 for ``department_name``: "仅供<department>使用，<date>
    前有效", the date ``valid_until`` in China Standard Time: its day alone when it
    ends at midnight (``2026年12月11日``), else its day and minute, never later than
    the end (``2026年12月13日16时33分`` for 16:33:45): a copy ending at 16:33 said
    "2026年12月13日前有效", read as ended that morning (trial44). And the holder's
    ``purpose``, drawn apart from the statement, never inside it (atk40: a purpose
    held a validity date of its own)."""
    return CopyAnnotation(department_name, copy_until_said(valid_until), purpose)


def copy_until_said(valid_until: dt.datetime) -> str:
    """``valid_until`` (aware) as the copy says it before "前有效", in China Standard
    Time: ``2026年12月11日`` at midnight, else ``2026年12月13日16时33分``, the minute
    it falls in (never later than ``valid_until``)."""
    local = valid_until.astimezone(BEIJING)
    said = f"{local.year}年{local.month}月{local.day}日"
    if local.time() != dt.time(0):
        said += f"{local.hour}时{local.minute:02d}分"
    return said


_AUTHORISATION_ID = re.compile(r"au-[0-9a-f]{16}", re.ASCII)


def new_authorisation_id() -> str:
    """A fresh authorisation id: ``au-`` and 16 hex digits (64 random bits)."""
    return f"au-{secrets.token_hex(8)}"


def is_authorisation_id(text: str) -> bool:
    """Whether ``text`` has an authorisation id's shape (``au-`` and 16 hex digits)."""
    return _AUTHORISATION_ID.fullmatch(text) is not None


def asked_authorisation(text: str) -> str:
    """An authorisation id as a caller sent it, for an audit row's subject: itself
    (stripped) when it has an id's shape, else ``-`` (a caller's text may hold
    anything, an identity number too)."""
    text = text.strip()
    return text if _AUTHORISATION_ID.fullmatch(text) else "-"


def check_counter(counter: str) -> str:
    """``counter`` (empty: any counter of the department) if it can name the
    console account of a counter; INVALID_ARGUMENT (``counter``) otherwise: a blank
    one would have been stored as "any counter", one of another shape could never
    be redeemed."""
    if counter and not is_account_name(counter):
        raise invalid(
            "counter",
            "is no counter's console account: 1 to 64 ASCII letters, digits and "
            ". _ @ -, a letter or digit first (give none for any counter)",
        )
    return counter
