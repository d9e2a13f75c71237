"""Free text the issuer publishes about a licence (a change's reason, an
authorisation's purpose), checked for personal data before it is kept or published
(docs/events.md, "Types": no name, identity number or personal field is ever in an
event)."""

from __future__ import annotations

from collections.abc import Iterable

from certseal.personal import check_published
from services.issuer.domain import LicenceRecord, validate_text


def validate_reason(
    reason: str, *, required: bool, personal: Iterable[str] = ()
) -> str:
    """Check a licence change's reason (at most 500 characters, published in the
    change's event and kept in its audit row): as :func:`validate_text`, and holding
    no personal number nor any of ``personal``
    (:func:`certseal.personal.check_published`). INVALID_ARGUMENT ``reason``."""
    validate_text("reason", reason, required=required, limit=500)
    return check_published("reason", reason, personal=personal)


def holder_texts(record: LicenceRecord) -> tuple[str, ...]:
    """The name and identity number of ``record``'s holder (none when it was read
    without them), which no text published about the licence may hold
    (:func:`certseal.personal.check_published`)."""
    holder = record.holder
    return () if holder is None else (holder.name, holder.id_number)


def published_about(record: LicenceRecord, **texts: str) -> None:
    """Check each of ``texts`` (field name -> text), published about ``record``'s
    licence, for personal numbers and its holder's own name and number
    (:func:`certseal.personal.check_published`). INVALID_ARGUMENT naming the field."""
    for field, text in texts.items():
        check_published(field, text, personal=holder_texts(record))
