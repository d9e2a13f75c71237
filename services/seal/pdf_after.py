"""What came after a PDF signature that still holds, in a seal officer's words.

pyHanko says how much of the file a signature covers (``coverage``) and what the
revisions after it changed (its modification level). A signed PDF with bytes
appended after its last ``%%EOF`` that are no PDF update (no cross-reference
section: a reader never sees them) covers its revision only and has no revision
after it; trial 2a saw such a file said to have "nothing added after it": bytes
were added, only nothing a reader shows. Split from
:mod:`services.seal.pdf_verify` by size.
"""

from __future__ import annotations

from typing import Any

from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

#: what was added after a signature that still holds, in a seal officer's words
ADDED = {
    ModificationLevel.NONE: "nothing added after it",
    ModificationLevel.LTA_UPDATES: "added after it: validation data only",
    ModificationLevel.FORM_FILLING: "added after it: later signatures only",
}

#: a signed last revision with bytes after it that no cross-reference reaches
TRAILING_BYTES = (
    "bytes follow the signed revision but are no PDF update (nothing a reader shows)"
)


def after_note(signature: EmbeddedPdfSignature, status: Any, modified: bool) -> str:
    """The note on what came after ``signature`` (pyHanko's ``status`` of it), with
    pyHanko's modification level for those who read it."""
    level = status.modification_level
    name = level.name if level is not None else "unknown"
    if modified or level not in ADDED:
        return f"changed after it (pyHanko level {name})"
    if level is ModificationLevel.NONE and _bytes_after(signature, status):
        return f"{TRAILING_BYTES} (pyHanko level {name})"
    return f"{ADDED[level]} (pyHanko level {name})"


def _bytes_after(signature: EmbeddedPdfSignature, status: Any) -> bool:
    """Whether bytes follow ``signature``'s revision, the file's last, that are
    no revision: it covers its revision, not the entire file."""
    if status.coverage is not SignatureCoverageLevel.ENTIRE_REVISION:
        return False
    revision = signature.signed_revision
    return revision is not None and (
        revision == signature.reader.xrefs.total_revisions - 1
    )
