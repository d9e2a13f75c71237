"""The one rule for a document's size in the seal service: ``[seal]
max_document_bytes`` bounds what it takes (a PDF, an OFD or a document to seal or
verify) and what it gives back sealed, so the service never makes a sealed document
it would refuse to verify (a new user's trial: a PDF just under the limit sealed to
36 KiB over it, and ``seal verify-pdf`` refused the service's own output). Pure: no
I/O."""

from __future__ import annotations

from certseal.errors import invalid
from certseal.sizes import beyond, byte_size

SETTING = "[seal] max_document_bytes"


def check_document_size(field: str, size: int, limit: int, *, hint: str = "") -> None:
    """INVALID_ARGUMENT (``field``) when a document of ``size`` bytes is over
    ``limit``, saying both in MiB (``is 100.0 MiB (104,857,600 bytes); the limit
    is 60 MiB ([seal] max_document_bytes)``) and then ``hint``, what to do."""
    if size > limit:
        shown, limit_shown = beyond(size, limit)
        raise invalid(
            field, f"is {shown}; the limit is {limit_shown} ({SETTING}){hint}"
        )


def check_sealed_size(
    field: str, what: str, given: int, sealed: int, limit: int
) -> None:
    """INVALID_ARGUMENT (``field``) when the sealed document (``sealed`` bytes, made
    from ``given`` bytes) is over ``limit``: verifying it would be refused, so it is
    not given out. ``what`` names the kind (``PDF``, ``OFD``). The refusal says the
    size given and how many bytes it must lose (trial38: "compress or split the PDF
    to at most about 60.0 MiB" of a 59.96 MiB PDF read as already met)."""
    if sealed <= limit:
        return
    shown, limit_shown = beyond(sealed, limit)
    added, most = sealed - given, limit - (sealed - given)
    smaller = (
        f"the {what} given is {beyond(given, most)[0]} and sealing adds about "
        f"{byte_size(added)}: make the {what} at least {byte_size(sealed - limit)} "
        f"smaller (compress or split it), to at most {most:,} bytes"
        if added > 0 and most > 0
        else f"the {what} given is {byte_size(given)}: compress or split it"
    )
    raise invalid(
        field,
        f"the sealed {what} would be {shown}, over the {limit_shown} a document may "
        f"have here ({SETTING}), so it could not be verified; {smaller}, or raise "
        f"{SETTING}",
    )
