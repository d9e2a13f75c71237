"""Who a verifier request acts as, and what a request may carry: pure rules.

Every Verifier RPC acts as one counter. A department (``dept:<code>``) acts as itself; an
operator (``operator:<name>``) as the platform, with the default field rights; the
counter console (``service:console``) acts on behalf of the clerk signed in to it, whose
department and console account it names in two metadata entries
(:data:`COUNTER_METADATA`, :data:`CLERK_METADATA`). Only the console (and the seal
service, below) may name a counter: the same metadata from any other caller is refused,
so no department verifies, or records usage, in another's name. The group's counter allow-list applies to the
department acted for, on every RPC (docs/operations.md, "Security model").

The seal service (``service:seal``) verifies the licence code of a licence file (or an
annotated copy) someone gave it: it names that party in the same metadata
(``dept:<code>``, the console's counter and clerk, or the caller's own identity such
as ``app:<name>``), so the usage record names who verified the file, never the seal
service (atk39holder). It keeps only the verdict, so it acts with the platform's
default field rights, and the allow-list does not apply (as when it acted as itself).

Pure: the servicer reads the caller and the metadata and hands them over as text.
"""

from __future__ import annotations

import unicodedata
import urllib.parse
from collections.abc import Collection
from dataclasses import dataclass

from certseal.errors import denied, invalid
from certseal.identifiers import is_identity_name, validate_uscc
from certseal.personal import check_published

CONSOLE = "service:console"
#: the seal service, which verifies the licence code a licence file carries when it
#: verifies the file (VerifyPdf), as itself with the platform's default field rights
SEAL_SERVICE = "service:seal"
"""It verifies on behalf of whoever gave it the file (:func:`acting_for`)."""

#: the identities the seal service may name as the party that verified a file: its
#: own callers' kinds (no integrator calls it)
_FILE_READERS = ("dept", "app", "operator", "service")
#: characters of an identity's name the seal service may name
_MAX_NAME_CHARS = 128

COUNTER_METADATA = "x-certseal-counter"
"""gRPC metadata naming the counter the console verifies for: ``dept:<code>``; from the
seal service, the party it verifies a file for, percent-encoded UTF-8 (RFC 3986)."""

CLERK_METADATA = "x-certseal-clerk"
"""gRPC metadata naming the console account of the clerk who verifies: UTF-8,
percent-encoded (RFC 3986) because gRPC metadata is ASCII; an ASCII name as it is."""

MAX_CLERK_CHARS = 64
"""Characters of a clerk's account name (after percent-decoding)."""

MAX_PURPOSE_CHARS = 200
"""Characters of a purpose of use (用证事由); a longer one is INVALID_ARGUMENT. Every
usage event repeats it, so it bounds what one verification can publish."""


@dataclass(frozen=True, slots=True)
class Acting:
    """Who a request acts as."""

    counter: str
    """The counter ``licence.used`` names: ``dept:<code>``, or the operator itself."""
    department: str
    """The counter's department code, whose field rights apply ('' for an operator:
    the default rules)."""
    clerk: str = ""
    """The clerk's console account, when the console acts for a counter."""
    via: str = ""
    """The identity that called on the counter's behalf (``service:console``, or
    ``service:seal`` for whoever gave it a licence file), or ''."""


def acting_for(
    caller: str,
    *,
    counter: str | None,
    clerk: str | None,
    counters: Collection[str],
    group: str,
    need_counter: bool = True,
    one_code: bool = False,
) -> Acting:
    """Who a request from ``caller`` (``kind:name``) acts as.

    ``counter`` and ``clerk`` are the values of :data:`COUNTER_METADATA` and
    :data:`CLERK_METADATA` (None: absent); ``counters`` the group's allow-list (empty:
    every department). The console must name both unless ``need_counter`` is False (its
    operator page reads the index status as itself). :data:`SEAL_SERVICE` acts as the
    platform only for ``one_code`` (VerifyCode: the code of the licence file it
    verifies), on behalf of the party it names (:func:`_file_reader`); every other
    request of it is refused (atk-authz 5). Raises
    PERMISSION_DENIED for a caller that may not act so, and INVALID_ARGUMENT for
    malformed metadata.
    """
    kind, _, name = caller.partition(":")
    if caller == SEAL_SERVICE and one_code:
        return _file_reader(counter, clerk)
    if caller != CONSOLE:
        if counter is not None or clerk is not None:
            raise denied(_naming_refused(caller), field=COUNTER_METADATA)
        if kind == "operator" or (caller == SEAL_SERVICE and one_code):
            return Acting(counter=caller, department="")
        if kind != "dept":
            raise denied(f"{caller} may not call the verifier", field="as")
        return Acting(counter=caller, department=_allowed(name, counters, group))
    if counter is None and clerk is None and not need_counter:
        return Acting(counter=caller, department="")
    if counter is None or clerk is None:
        raise denied(
            f"{CONSOLE} verifies on behalf of a counter: send {COUNTER_METADATA} "
            f"(dept:<code>) and {CLERK_METADATA} (the clerk's account)",
            field=COUNTER_METADATA if counter is None else CLERK_METADATA,
        )
    code = counter.removeprefix("dept:")
    if code == counter:
        raise invalid(COUNTER_METADATA, f"{counter!r} is not dept:<code>")
    validate_uscc(code, COUNTER_METADATA)
    return Acting(
        counter=counter,
        department=_allowed(code, counters, group),
        clerk=_clerk(clerk),
        via=CONSOLE,
    )


def _naming_refused(caller: str) -> str:
    """Why ``caller``'s request naming a counter or clerk is refused: only the
    console names them, and the seal service on VerifyCode only (atk40 V1: the seal
    service was told only the console may, though it may on VerifyCode)."""
    named = f"{caller} may not name a counter or clerk ({COUNTER_METADATA}, {CLERK_METADATA})"
    if caller == SEAL_SERVICE:
        return (
            f"{named} on this method: it names the party it verifies a licence "
            "file for on VerifyCode only"
        )
    return f"{named}: only {CONSOLE} verifies on a counter's behalf"


def _file_reader(counter: str | None, clerk: str | None) -> Acting:
    """Who the seal service verifies a licence file's code for: the identity it names
    in :data:`COUNTER_METADATA`, percent-encoded UTF-8 (RFC 3986) as the clerk is, and
    decoded here (a department, app, operator or service whose name certseal's identity
    rules accept, ``app:政务钱包`` too; the clerk only with a department, the console's
    counter), with the default field rights. Naming nobody (a seal service of an
    earlier version) it acts as itself."""
    if counter is None:
        if clerk is not None:
            raise invalid(COUNTER_METADATA, "name the counter the clerk is at")
        return Acting(counter=SEAL_SERVICE, department="")
    try:  # percent-encoded UTF-8: gRPC metadata is ASCII, an identity need not be
        counter = urllib.parse.unquote(counter, errors="strict")
    except UnicodeDecodeError:
        raise invalid(COUNTER_METADATA, "is not percent-encoded UTF-8") from None
    kind, sep, name = counter.partition(":")
    if (
        not sep
        or kind not in _FILE_READERS
        or len(name) > _MAX_NAME_CHARS
        or not is_identity_name(name)
    ):
        raise invalid(
            COUNTER_METADATA,
            f"{counter[:_MAX_NAME_CHARS]!r} is not the identity of a caller of the "
            "seal service",
        )
    if kind == "dept":
        validate_uscc(name, COUNTER_METADATA)
    elif clerk is not None:
        raise invalid(CLERK_METADATA, "a clerk is at a department's counter only")
    return Acting(
        counter=counter,
        department="",
        clerk=_clerk(clerk) if clerk is not None else "",
        via=SEAL_SERVICE,
    )


def _allowed(department: str, counters: Collection[str], group: str) -> str:
    if counters and department not in counters:
        raise denied(
            f"department {department} is not a counter of verifier group {group}",
            field="as",
        )
    return department


def _clerk(value: str) -> str:
    try:
        name = urllib.parse.unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise invalid(CLERK_METADATA, "is not percent-encoded UTF-8") from None
    if not name.strip():
        raise invalid(CLERK_METADATA, "is empty: name the clerk's console account")
    if len(name) > MAX_CLERK_CHARS:
        raise invalid(
            CLERK_METADATA,
            f"is {len(name)} characters; the limit is {MAX_CLERK_CHARS}",
        )
    _printable(name, CLERK_METADATA)
    return check_published(CLERK_METADATA, name)  # it is in the usage record


def check_purpose(purpose: str) -> str:
    """``purpose`` if it is a purpose of use a usage event may carry, else raise
    INVALID_ARGUMENT (field ``purpose``): required, at most :data:`MAX_PURPOSE_CHARS`
    characters, no control characters or lone surrogates, no personal number (it
    is published in the usage record: :func:`certseal.personal.check_published`)."""
    if not purpose.strip():
        raise invalid("purpose", "is required: the purpose of use (用证事由)")
    if len(purpose) > MAX_PURPOSE_CHARS:
        raise invalid(
            "purpose",
            f"is {len(purpose)} characters; the limit is {MAX_PURPOSE_CHARS}",
        )
    _printable(purpose, "purpose")
    return check_published("purpose", purpose)


def _printable(text: str, field: str) -> None:
    for position, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise invalid(
                field,
                f"has the control character U+{ord(char):04X} at position {position}",
            )
