"""Verifying sealed PDFs (VerifyPdf): every signature's report, read within
:data:`services.seal.pdf.PDF_DECODE_LIMITS`.

Per signature (pyHanko's validation): intact (the signed bytes are unchanged),
trusted (the chain ends at a trusted seal CA) and modified: anything but further
signatures that themselves hold was added after it (ISO 32000-1 §12.8.2.2 permits
signing after a signature; pyHanko's difference analysis, with form filling after a
seal not allowed: a refilled field is a visible change), or active content (actions,
JavaScript) was added, changed or removed after it, whatever level pyHanko gives the
update (:mod:`services.seal.pdf_revisions`). A later signature that shows on a page
is named in ``shown_after``: the service makes the seal MODIFIED unless it is VALID
there (:func:`painted_over`). Each signature's report is built on its own, so one
signer's odd signature cannot stop the others' verification.
Every signature's ``/Contents`` passes :func:`certseal.der.check_outside` in BER (CMS
is BER, RFC 5652 §1.2: indefinite lengths with end-of-contents, bounded as DER is)
before any parser reads it; one that fails, or is no CMS SignedData, is reported as
that signature's failure (never the request's error), so a junk signature appended
to a sealed PDF cannot hide the seal's verdict (and, if it shows nothing and came
after the seal, does not turn the seal MODIFIED either:
:func:`services.seal.pdf_revisions.excused_fields`).

A document timestamp (/DocTimeStamp, /SubFilter /ETSI.RFC3161; PAdES B-LTA, ETSI EN
319 142-1 §5.5) is validated as one (pyHanko's ``async_validate_pdf_timestamp``:
imprint over the byte ranges, the TSA's signature, its chain to the TSA roots, the
same difference analysis) and reported with ``document_timestamp`` set.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature, extract_contents
from pyhanko_certvalidator import ValidationContext

from certseal import der

# importing it also makes asn1crypto read ediPartyName
from certseal.certificates import common_name
from certseal.errors import invalid
from certseal.pdfend import check_opened, check_revisions, read_to_end
from services.seal.pdf import (
    PDF_DECODE_LIMITS,
    PdfNestingError,
    nesting_refused,
    reading_pdf,
)
from services.seal.pdf_after import (
    SIGNED_BYTES_CHANGED,
    after_notes,
    annotations_added,
    changes_after,
    unexplained_note,
    untrusted_note,
)
from services.seal.pdf_form import drawing_changes
from services.seal.pdf_open import authenticate
from services.seal.pdf_revisions import read_revisions
from services.seal.pdf_shows import excused_fields
from services.seal.pdf_trailers import check_catalog, trailers_after
from services.seal.pdf_twice import TwiceFinder, hearing, signature_refused
from services.seal.pdf_validate import undiffed, validate
from services.seal.pdf_versions import LinearReader, read_linearly


def _contents_refused(value: Any) -> str:
    """Why a filled signature's ``/Contents`` (a CMS, zero-padded) may not reach
    asn1crypto, or "": it is held to :func:`certseal.der.check_outside` in BER (CMS is
    BER, RFC 5652 §1.2: BouncyCastle writes SignedData with indefinite lengths): a tag
    number over four bytes (whose reading costs asn1crypto time quadratic in its
    length), nesting deeper than 32, a length past its container, an indefinite length
    without its end-of-contents, anything but zeros after the CMS."""
    try:
        contents = extract_contents(value.get_object())
    except PdfError:
        return ""  # no /Contents: pyHanko names it
    try:
        der.check_outside(contents, padded=True, ber=True)
    except der.DerError as exc:
        return f"its /Contents is not a CMS within the BER bounds: {exc}"
    return ""


def _signatures(reader: PdfFileReader) -> tuple[list[EmbeddedPdfSignature], list[Any]]:
    """The filled signature fields: those pyHanko can read, in signing order (as
    :attr:`PdfFileReader.embedded_signatures`), and ``(name, why)`` for each other
    one (its /Contents out of bounds or no CMS, an unknown /SubFilter): each such
    field is reported as its own failed signature, never the request's error, so that
    a stranger's odd or junk signature cannot hide the others' verdicts."""
    readable, failed = [], []
    read: dict[Any, str] = {}  # an object a signature's field is in: read once
    for name, value, field in enumerate_sig_fields(reader, filled_status=True):
        why = _contents_refused(value) or signature_refused(reader, field, read)
        if not why:
            try:
                readable.append(EmbeddedPdfSignature(reader, field, name))
                continue
            except PdfNestingError:
                raise
            except Exception as exc:
                why = f"its /Contents is no readable CMS SignedData: {exc or repr(exc)}"
        failed.append((str(name), why[:300]))
    readable.sort(key=lambda e: e.signed_revision)
    return readable, failed


@dataclass(frozen=True)
class _Validated:
    """One signature as pyHanko found it: its status, or why it could not say."""

    signature: EmbeddedPdfSignature
    status: Any | None
    error: str = ""
    #: signature fields made after it that show nothing
    #: (:func:`services.seal.pdf_revisions.excused_fields`)
    excused: frozenset[str] = frozenset()
    #: where active content was added, changed or removed after it
    #: (:func:`services.seal.pdf_revisions.active_changes`)
    active: tuple[str, ...] = ()
    #: bytes after the file's last end section, never read (``pdfend.read_to_end``)
    tail: int = 0
    #: why something after it changes what readers show though pyHanko allows it:
    #: an object after the file's end, one named before it was defined, the title,
    #: what the form's fields are drawn with (``pdf_after.changes_after``,
    #: ``pdf_form.drawing_changes``)
    changed_after: str = ""

    @property
    def holds(self) -> bool:
        """Its signed bytes are intact, its CMS signature holds, and its own field is
        unchanged since it signed (a later revision that repaints it shows here)."""
        result = self.signature.diff_result
        return bool(
            self.status is not None
            and self.status.intact
            and self.status.valid
            and isinstance(result, DiffResult)
            and self.signature.field_name not in result.changed_form_fields
        )


def _modified(found: _Validated, every: Sequence[_Validated]) -> tuple[bool, str]:
    """Whether anything but further signatures changed the document after
    ``found`` signed it, and what (for the detail).

    ISO 32000-1 12.8.2.2 (DocMDP P=2) lets signing follow a signature; pyHanko
    counts a new visible signature field at ModificationLevel.FORM_FILLING, with
    its name among the changed form fields. Under :data:`services.seal.pdf_form.DIFF_POLICY` every such
    name must be the field of a later signature that :attr:`_Validated.holds` (whose
    appearance, if it shows, must be a seal VALID here: :func:`painted_over`), or a
    signature field made after it that shows nothing
    (:func:`services.seal.pdf_revisions.excused_fields`: a junk or BER-odd signature
    appended invisibly, listed with its own failure); an unsigned signature field
    with an appearance, a signature that does not hold or a field repainted after
    its signature is a change (pyHanko levels ANNOTATIONS and OTHER always are). So
    is an indirect object after the file's last end section
    (:func:`services.seal.pdf_after.object_after_end`), and active content added,
    changed or removed after it at any level (atk16 F6: pyHanko rates an invisible
    field carrying a script LTA_UPDATES)."""
    status = found.status
    result = found.signature.diff_result
    level = status.modification_level if status is not None else None
    if status is None or not status.intact:
        return True, SIGNED_BYTES_CHANGED
    if found.changed_after:
        return True, found.changed_after
    if found.active:
        return (
            True,
            "active content (actions, JavaScript) added or changed after it: "
            + ", ".join(where[:120] for where in found.active[:8]),
        )
    if level is None or level > ModificationLevel.FORM_FILLING:
        # what changed in a clerk's words, pyHanko's level after it (words39)
        added = annotations_added(
            found.signature.reader, found.signature.signed_revision
        )
        if not isinstance(result, DiffResult):
            return True, unexplained_note(result, added)
        if added or level is ModificationLevel.ANNOTATIONS:
            return (
                True,
                added or "annotations (comments, stamps or drawings) changed after it",
            )
        return True, "the document changed after it in a way no signing explains"
    if not isinstance(result, DiffResult):
        return True, unexplained_note(result)
    # pyHanko leaves docmdp_ok None for a document timestamp (no DocMDP of its own)
    if not status.docmdp_ok and not (_is_stamp(found) and status.docmdp_ok is None):
        return True, "changes after it that its certification (DocMDP) forbids"
    if level <= ModificationLevel.LTA_UPDATES:
        return False, ""
    after = found.signature.signed_revision
    signed_later = {
        v.signature.field_name
        for v in every
        if v.signature.signed_revision > after and v.holds
    }
    others = sorted(result.changed_form_fields - signed_later - found.excused)
    if others:
        return True, (
            "form fields changed after it that hold no later signature: "
            + ", ".join(repr(n) for n in others[:8])
        )
    return False, ""


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """A time the CMS carries, or None when it has no zone: RFC 5652 11.3 wants
    signingTime in UTC (a UTCTime or GeneralizedTime ending in Z, as X.690 11.7 DER
    writes it); without one it is some unknown local time, which certseal does not
    guess (the verdict then lacks a signing time)."""
    if value is None or value.tzinfo is None or value.utcoffset() is None:
        return None
    return value


@dataclass(frozen=True)
class PdfSeal:
    """One signature of a PDF, as found."""

    field_name: str
    signer: str  # the certificate's common name, e.g. seal:<id>
    signed_at: dt.datetime | None
    intact: bool
    trusted: bool
    modified: bool
    detail: str
    #: the RFC 3161 signature timestamp's time (PAdES B-T), and whether it holds and
    #: chains to a trusted TSA root; None: no timestamp
    timestamped_at: dt.datetime | None = None
    timestamp_intact: bool = False
    timestamp_trusted: bool = False
    #: a PAdES document timestamp (/DocTimeStamp, ETSI.RFC3161; ETSI EN 319 142-1
    #: B-LTA), no signature: ``signer`` is its TSA, ``signed_at`` and
    #: ``timestamped_at`` its genTime, ``trusted`` whether it chains to a TSA root
    document_timestamp: bool = False
    #: the fields of later signatures that hold and show on a page: each must be
    #: VALID here, or this one is MODIFIED (:func:`painted_over`, atk16 F5)
    shown_after: tuple[str, ...] = ()


def _shown_after(
    found: _Validated, every: Sequence[_Validated], shown: frozenset[str]
) -> tuple[str, ...]:
    """The fields of the signatures after ``found`` that hold (:attr:`_Validated.holds`;
    one that does not makes it modified already) and show on a page (``shown``:
    :func:`services.seal.pdf_revisions.shows_on_a_page`)."""
    after = found.signature.signed_revision
    return tuple(
        sorted(
            {
                str(v.signature.field_name)
                for v in every
                if v.signature.signed_revision > after
                and v.holds
                and str(v.signature.field_name) in shown
            }
        )
    )


def painted_over(found: PdfSeal, unvouched: Sequence[tuple[str, str]]) -> PdfSeal:
    """``found`` made MODIFIED because later signatures that are not VALID here
    (``unvouched``: field name and verdict) show on a page (atk16 F5): a signature's
    appearance is any content in any rectangle, so a stranger's (self-signed,
    untrusted, revoked) may paint over what the seal signed; only a seal VALID here
    answers for what its appearance shows. A trusted TSA's document timestamp does
    not either: a TSA stamps a digest it never sees drawn."""
    names = ", ".join(f"{name[:80]!r}: {verdict}" for name, verdict in unvouched[:8])
    one = len(unvouched) == 1
    note = (
        f"added after it: {'a visible signature' if one else 'visible signatures'} "
        f"not valid here (field{'' if one else 's'} {names})"
    )
    # what changed first, pyHanko's finding after it (words39)
    return dataclasses.replace(found, modified=True, detail=f"{note}; {found.detail}")


def _is_stamp(found: _Validated) -> bool:
    """Whether ``found`` is a document timestamp (/Type /DocTimeStamp)."""
    return bool(found.signature.sig_object_type == "/DocTimeStamp")


async def read_pdf_seals(
    pdf: bytes, *, ca: bytes, password: str = "", tsa_roots: Sequence[bytes] = ()
) -> list[PdfSeal]:
    """Every signature of ``pdf`` with what holds of it; an encrypted PDF opens with
    ``password`` (or the empty user password). A signature timestamp is validated
    against the TSA roots ``tsa_roots`` (DER). The file is read up to its last end
    section, which must start in its last 1,024 bytes
    (:func:`certseal.pdfend.read_to_end`): its last revision's signatures say that
    bytes follow it, and an indirect object after it makes every signature modified.

    Raises ``CertsealError`` INVALID_ARGUMENT (an unreadable PDF, a wrong password) or
    FAILED_PRECONDITION (encryption certseal cannot open, a password needed).
    """
    if not pdf.startswith(b"%PDF-"):
        raise invalid("pdf", "is not a PDF (no %PDF- header)")
    # pyHanko logs each key given twice each time it parses one (100,000 of them a
    # parse); they are heard where they count (services.seal.pdf_twice), not logged
    with hearing():
        return await _read_seals(pdf, ca, password, tsa_roots)


async def _read_seals(
    pdf: bytes, ca: bytes, password: str, tsa_roots: Sequence[bytes]
) -> list[PdfSeal]:
    """:func:`read_pdf_seals`."""
    with reading_pdf():
        reader, tail = read_to_end(
            pdf,
            lambda pdf: LinearReader(
                io.BytesIO(pdf), strict=False, decode_limits=PDF_DECODE_LIMITS
            ),
            lambda reader: reader.xrefs,
        )
        check_revisions(reader.xrefs)
        authenticate(reader, password)
        check_opened(reader.xrefs)
        check_catalog(reader)
        read_linearly(reader)  # before pyHanko reads the fields
        embedded, failed = _signatures(reader)
        trailers = trailers_after(reader)
        finder = TwiceFinder(reader)
        changed = changes_after(
            reader, pdf, len(pdf) - tail, bool(embedded or failed), finder
        )
        twice = finder.found
        excused = excused_fields(reader, embedded)
        active, shown = read_revisions(reader, (e.signed_revision for e in embedded))
        drawn = drawing_changes(
            reader, (e.signed_revision for e in embedded), twice.unread
        )
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(ca)], allow_fetching=False
    )
    ts_context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(r) for r in tsa_roots],
        allow_fetching=False,
    )
    validated = []
    for signature in embedded:
        revision = signature.signed_revision
        after = (
            trailers(revision)
            or twice.after(revision)
            or changed(revision)
            or drawn[revision]
        )
        try:
            status = await validate(signature, context, ts_context, skip_diff=False)
        except PdfNestingError:  # met while reading lazily: the PDF, not a seal
            raise nesting_refused() from None
        except Exception as exc:  # a signature pyHanko cannot even evaluate
            status = await undiffed(signature, context, ts_context)
            if status is None:
                validated.append(_Validated(signature, None, str(exc) or repr(exc)))
                continue
            # its own bytes hold: what came after it is what pyHanko could not read
            after = after or f"what came after it cannot be compared with it: {exc}"
        validated.append(
            _Validated(
                signature,
                status,
                "",
                excused[id(signature)],
                tuple(active[revision]),
                tail,
                after,
            )
        )
    return [_reported(v, validated, shown) for v in validated] + [
        PdfSeal(name, "", None, False, False, True, f"not verified: {why}")
        for name, why in failed
    ]


def _reported(
    found: _Validated, every: Sequence[_Validated], shown: frozenset[str]
) -> PdfSeal:
    """:func:`_found`, or, when what pyHanko returned for this signature cannot be
    read (a signer's odd certificate or attribute), the signature as one that does
    not hold: one signer's odd signature never stops the others' verification."""
    try:
        return _found(found, every, shown)
    except Exception as exc:
        name = str(found.signature.field_name)
        return PdfSeal(name, "", None, False, False, True, f"unreadable: {exc}")


def _found(
    found: _Validated, every: Sequence[_Validated], shown: frozenset[str]
) -> PdfSeal:
    """What :func:`read_pdf_seals` reports of one validated signature; ``shown``:
    the signature fields that show on a page (:func:`_shown_after`)."""
    status = found.status
    name = found.signature.field_name
    if status is None:
        return PdfSeal(name, "", None, False, False, True, found.error)
    modified, why = _modified(found, every)
    shown_after = () if modified else _shown_after(found, every, shown)
    if _is_stamp(found):
        return _document_timestamp(found, status, modified, why, shown_after)
    signer = common_name(status.signing_cert.subject)
    stamp = status.timestamp_validity
    signed_at = _aware(status.signer_reported_dt)
    notes = after_notes(found.signature, status, why, found.tail)
    if stranger := untrusted_note(status):  # who signed and why not trusted
        notes.insert(1 if why else 0, stranger)
    if status.signer_reported_dt is not None and signed_at is None:
        notes.append("its signingTime has no zone (RFC 5652 11.3: UTC); not used")
    stamped_at = _aware(stamp.timestamp) if stamp else None
    if stamp and stamped_at is None:
        notes.append("its timestamp's genTime has no zone; not used")
    return PdfSeal(
        field_name=name,
        signer=str(signer),
        signed_at=signed_at,
        intact=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        modified=modified,
        detail=", ".join(notes),
        timestamped_at=stamped_at,
        timestamp_intact=bool(stamp and stamped_at and stamp.intact and stamp.valid),
        timestamp_trusted=bool(stamp and stamped_at and stamp.trusted),
        shown_after=shown_after,
    )


def _document_timestamp(
    found: _Validated,
    status: Any,
    modified: bool,
    why: str,
    shown_after: tuple[str, ...],
) -> PdfSeal:
    """What :func:`read_pdf_seals` reports of a document timestamp, validated by
    pyHanko's ``async_validate_pdf_timestamp`` (the token's imprint over the signed
    byte ranges, its CMS signature, its TSA's chain to the configured TSA roots)."""
    tsa = common_name(status.signing_cert.subject)
    stamped_at = _aware(status.timestamp)
    holds = bool(status.intact and status.valid and stamped_at)
    notes = after_notes(found.signature, status, why, found.tail)
    # what changed, when it did, is the first thing said (words39)
    notes.insert(
        1 if why else 0, f"document timestamp (PAdES, ETSI.RFC3161) by {tsa!r}"
    )
    if not (status.intact and status.valid):
        notes.append("its token does not hold (imprint or TSA signature)")
    if stamped_at is None:
        notes.append("its genTime has no zone; not used")
    return PdfSeal(
        field_name=found.signature.field_name,
        signer=str(tsa),
        signed_at=stamped_at,
        intact=holds,
        trusted=bool(holds and status.trusted),
        modified=modified,
        detail=", ".join(notes),
        timestamped_at=stamped_at,
        timestamp_intact=holds,
        timestamp_trusted=bool(holds and status.trusted),
        document_timestamp=True,
        shown_after=shown_after,
    )
