"""What a seal registration carries and the rules it must meet before anything is made.

Kept apart from :mod:`services.seal.service` (which re-exports
:class:`RegisterSealInput`) so that each module stays within the floor plan's size.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Collection
from dataclasses import dataclass

from certseal.crypto import Suite
from certseal.errors import invalid
from certseal.identifiers import mint_serial, require_ascii, validate_uscc
from certseal.personal import check_published
from certseal.rpc import CALLER_KINDS, Caller, check_identity
from certseal.text import check_display_name, with_article
from services.seal.picture import check_png
from services.seal.ses import CERTSEAL_KINDS

SEAL_TYPES = frozenset(CERTSEAL_KINDS)
SIGNER_KINDS = frozenset({"dept", "app", "service"})
"""The caller kinds a seal may list as signers. Not ``operator``: operators manage
seals of any owner, and one listed as a signer would seal documents as a department
(docs/operations.md, "Caller kinds": operators hold no licence contents)."""
#: the signer kinds as the help and the refusals say them
SIGNERS_SAID = "app:<name>, dept:<code> or service:<name>"
MAX_VALIDITY = dt.timedelta(days=3660)


SEAL_ID_SERIAL = 10
"""The random characters after the owner's code in a seal id (0-9A-Z)."""
_SEAL_ID_CHARS = frozenset(string.digits + string.ascii_uppercase)


def new_seal_id(owner_code: str) -> str:
    """A fresh seal id (GB/T 38540 ``esID``): the owner's 18-character unified social
    credit code (GB 32100) and :data:`SEAL_ID_SERIAL` random characters of 0-9A-Z."""
    return f"{owner_code}{mint_serial(SEAL_ID_SERIAL)}"


def check_seal_id(seal_id: str) -> str:
    """``seal_id`` when it has a seal id's shape (:func:`new_seal_id`: 28 characters of
    0-9A-Z, the first 18 a unified social credit code with its check character);
    INVALID_ARGUMENT (``seal_id``) otherwise, before any lookup: text no seal can have
    is a mistake to name, not a seal to look for."""
    if not seal_id:
        raise invalid("seal_id", "is required: the id of the seal")
    require_ascii(seal_id, "seal_id")  # a full-width character named as such
    shape = (
        "a seal id is 28 characters of 0-9 and A-Z, the owner's 18-character "
        f"unified social credit code followed by {SEAL_ID_SERIAL} more"
    )
    for position, char in enumerate(seal_id, 1):
        if char not in _SEAL_ID_CHARS:
            kind = "lower-case " if char.islower() else ""
            raise invalid(
                "seal_id",
                f"character {position} of {seal_id!r} is {kind}{char!r}: {shape}",
            )
    if len(seal_id) != 18 + SEAL_ID_SERIAL:
        raise invalid(
            "seal_id",
            f"{seal_id!r} is not a seal id: it is {len(seal_id)} characters; {shape}",
        )
    validate_uscc(seal_id[:18], "seal_id")
    return seal_id


def revocation_reason(reason: str) -> str:
    """``reason`` if a seal's revocation may give it: not blank, and holding no
    personal number (it is in the seal.revoked event:
    :func:`certseal.personal.check_published`). INVALID_ARGUMENT ``reason``."""
    if not reason.strip():
        raise invalid("reason", "say why the seal is revoked")
    return check_published("reason", reason)


def may_sign(caller: Caller, signers: Collection[str]) -> bool:
    """Whether ``caller`` may use a seal listing ``signers``: listed, and of a kind
    in :data:`SIGNER_KINDS` (an operator listed by a seal registered before that
    rule is no signer either: atk-authz 4)."""
    return caller.kind in SIGNER_KINDS and str(caller) in signers


def check_signer(text: str, field: str = "signers") -> str:
    """``text`` if a seal may list it as a signer: an identity a certificate could
    name (:func:`certseal.rpc.check_identity`: a ``dept:`` code well formed with its
    check character, onboarded or not) of a kind in :data:`SIGNER_KINDS`; else
    INVALID_ARGUMENT naming ``field``: a kind that is no caller's names only the
    kinds a signer may be (trial2b: it listed six, of which three are taken)."""
    if text.partition(":")[0] not in CALLER_KINDS:
        raise invalid(field, f"{text!r} is not a signer: use one of {SIGNERS_SAID}")
    kind = check_identity(text, field).kind
    if kind not in SIGNER_KINDS:
        raise invalid(field, f"{text!r}: {with_article(kind)} may not use seals")
    return text


# RFC 5280 times start in 1950 (UTCTime); the seal's certificate shares its validity
EARLIEST_START = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class RegisterSealInput:
    """A seal to register."""

    owner_code: str
    seal_type: str
    name: str
    suite: Suite
    valid_start: dt.datetime
    valid_end: dt.datetime
    signers: tuple[str, ...]
    picture_png: bytes = b""


def validate_registration(data: RegisterSealInput) -> None:
    """Raise ``CertsealError`` INVALID_ARGUMENT naming the first field ``data`` gets
    wrong: the owner's USCC (GB 32100), the seal type, the name (1 to 64 visible
    characters), the validity (from 1950, at most ten years), the signers (identities
    that may use seals) and the picture (a bounded PNG)."""
    validate_uscc(data.owner_code, "owner_code")
    if data.seal_type not in SEAL_TYPES:
        raise invalid("seal_type", f"must be one of {', '.join(sorted(SEAL_TYPES))}")
    if not data.name.strip() or len(data.name) > 64:
        raise invalid("name", "must have 1 to 64 characters")
    check_display_name(data.name, "name")  # printed on the seal: no invisible ones
    if data.valid_start < EARLIEST_START:
        raise invalid(
            "valid_start", "must be on or after 1950-01-01 (X.509's earliest)"
        )
    if data.valid_end <= data.valid_start:
        raise invalid("valid_end", "must be after valid_start")
    if data.valid_end - data.valid_start > MAX_VALIDITY:
        raise invalid("valid_end", "a seal is valid for at most ten years")
    if not data.signers:
        raise invalid("signers", "name at least one identity that may use the seal")
    for signer in data.signers:
        check_signer(signer)
    if data.picture_png:
        check_png(data.picture_png)
