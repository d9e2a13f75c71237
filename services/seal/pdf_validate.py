"""pyHanko's validation of one PDF signature, for :mod:`services.seal.pdf_verify`
(split from it by size): with its difference analysis, and without it for a
signature whose validation failed."""

from __future__ import annotations

from typing import Any

from pyhanko.sign.validation import (
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from services.seal.pdf import PdfNestingError, nesting_refused
from services.seal.pdf_form import DIFF_POLICY


async def validate(
    signature: EmbeddedPdfSignature, context: Any, ts_context: Any, *, skip_diff: bool
) -> Any:
    """pyHanko's validation of ``signature`` (a document timestamp as one), its
    difference analysis under :data:`DIFF_POLICY` unless ``skip_diff``."""
    if signature.sig_object_type == "/DocTimeStamp":
        return await async_validate_pdf_timestamp(
            signature, ts_context, diff_policy=DIFF_POLICY, skip_diff=skip_diff
        )
    return await async_validate_pdf_signature(
        signature,
        context,
        ts_validation_context=ts_context,
        diff_policy=DIFF_POLICY,
        skip_diff=skip_diff,
    )


async def undiffed(
    signature: EmbeddedPdfSignature, context: Any, ts_context: Any
) -> Any | None:
    """:func:`validate` without the difference analysis, for a signature whose
    validation failed, or None when it fails too: a signature whose bytes hold
    while pyHanko cannot read what came after it (an object it cannot read, atk43
    F4) is modified, not broken."""
    try:
        return await validate(signature, context, ts_context, skip_diff=True)
    except PdfNestingError:
        raise nesting_refused() from None
    except Exception:
        return None
