"""What VerifyOfd finds in an OFD: each signature's result, judged with the other
entries of its document's ``Signatures.xml`` (:func:`list_growth_checked`), each
document's verdict and the file's (:class:`OfdFileResult`).

A file may hold several documents (GB/T 33190 §7.4: one ``DocBody`` each, with its
own ``DocRoot`` and ``Signatures``), and a reader shows every one of them. So the
file is VALID only when every document holds a signature and every signature of every
document is VALID: one VALID seal beside a forged or changed one, or beside a document
that holds none, is not a VALID file (docs/architecture.md, "Sealed OFD documents").

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from services.seal.domain import SealCheck, SealVerdict, SealVerification
from services.seal.ofd import ENTRY_UNSIGNED, ReferenceResult, SignatureEntry
from services.seal.values import SEVERITY, most_serious

#: a document (or a file) with no signature at all
UNSEALED = "UNSEALED"

KINDS = ("Seal", "Sign")  # electronic seals (GB/T 38540), digital signatures


@dataclass(frozen=True)
class OfdSignatureResult:
    """One signature of an OFD: where it is, the verification and the references."""

    entry: SignatureEntry
    verification: SealVerification
    references: tuple[ReferenceResult, ...]
    check_method: str = ""
    stamp_pages: tuple[str, ...] = ()
    intact: bool = False  # Signature.xml and every file it protects are unchanged
    document: int = 0  # which document of the file (OFD.xml's DocBody), 0-based
    listed: bool = True  # False: no list names it (ofd_unlisted; atk40ofd L1)


def _verdict(
    verification: SealVerification,
    references: list[ReferenceResult],
    unvouched: str = "",
) -> SealVerification:
    """The SES verdict, and when every SES check up to ``data hash`` passed, the check
    ``references`` after it: a changed, missing or unsupported file is MODIFIED, and so
    is a list holding ``unvouched`` entries (see :func:`list_growth_checked`).

    As in the design's order, checks after the first failure are not run; the reference
    digests are reported separately whatever the verdict.
    """
    if verification.verdict is not SealVerdict.VALID:
        return verification
    bad = [r for r in references if not r.holds]
    if not references:
        check = SealCheck("references", False, "the signature protects no file")
    elif bad or unvouched:
        detail = "; ".join(
            [f"/{r.file} {r.status}" + (f" ({r.note})" if r.note else "") for r in bad]
            + ([unvouched] if unvouched else [])
        )
        check = SealCheck("references", False, detail[:4000])
    else:
        signed = [r for r in references if r.status != ENTRY_UNSIGNED]
        detail = f"{len(signed)} files have their signed digests"
        if len(signed) < len(references):
            detail += "; OFD.xml is not covered: its DocInfo is not sealed"
        check = SealCheck("references", True, detail)
    checks = list(verification.checks)
    names = [c.name for c in checks]
    at = names.index("data hash") + 1 if "data hash" in names else len(checks)
    checks.insert(at, check)
    if check.passed:
        return dataclasses.replace(verification, checks=tuple(checks))
    return SealVerification(
        SealVerdict.MODIFIED,
        tuple(c for c in checks if c.name != "seal status"),
        seal_id=verification.seal_id,
        seal_name=verification.seal_name,
        signer=verification.signer,
        signed_at=verification.signed_at,
    )


@dataclass(frozen=True)
class Found:
    """One signature as verified on its own, before the list's growth is judged."""

    entry: SignatureEntry
    verification: SealVerification  # the SES checks, without ``references``
    references: tuple[ReferenceResult, ...]
    check_method: str
    stamp_pages: tuple[str, ...]
    hash_matches: bool  # the SES_Signature's dataHash is Signature.xml's digest
    listing_path: str  # the document's Signatures.xml
    document: int = 0  # which document of the file, 0-based


def _owns(one: Found) -> bool:
    """Whether the signature signed its own document's list: its references hold
    ``Signatures.xml`` as it signed it, or grown by later entries."""
    return any(r.file == one.listing_path and r.holds for r in one.references)


def own_signatures(
    documents: list[list[Found]], contents: list[list[bytes | None]]
) -> list[list[Found]]:
    """Each document's signatures, a signature listed by several documents
    (``contents``: each entry's ``Signature.xml`` by its digest, None when there is
    none to read) counting only for those whose list it signed (atk33 A1).

    A signature is one signing act, and its ``Signature.xml``'s bytes are what it
    signs: a copy, or another list's entry naming the same file, is the same
    signature. Listed by several documents, it counts for a document only when its
    references hold that document's ``Signatures.xml`` (unchanged or ``list
    grown``: it signed that list); in every other document its entry is MALFORMED
    (check ``document``), so a list anyone may add, naming another document's
    seal, seals nothing. Listed by one document, it is that document's, as before.
    """
    where: dict[bytes, list[tuple[int, int]]] = {}
    for doc, keys in enumerate(contents):
        for at, key in enumerate(keys):
            if key is not None:
                where.setdefault(key, []).append((doc, at))
    out = [list(found) for found in documents]
    for places in where.values():
        if len({doc for doc, _ in places}) < 2:
            continue
        for doc, at in places:
            one = documents[doc][at]
            if _owns(one):
                continue
            others = ", ".join(
                f"document {d}'s /{documents[d][a].entry.path}"
                for d, a in places[:5]
                if (d, a) != (doc, at)
            )
            detail = (
                f"the same signature as {others}: it did not sign /"
                f"{one.listing_path}, so it seals no document {doc}"
            )
            check = SealCheck("document", False, detail[:2000])
            out[doc][at] = dataclasses.replace(
                one, verification=SealVerification(SealVerdict.MALFORMED, (check,))
            )
    return out


def result_of(
    one: Found, references: tuple[ReferenceResult, ...], unvouched: str = ""
) -> OfdSignatureResult:
    """``one`` as reported, with ``references`` (its own, or with the list's growth
    judged): its verdict with the ``references`` check (:func:`_verdict`: MODIFIED
    for a reference that does not hold, or for ``unvouched`` entries added to its
    list after it), and ``intact`` only when its hash matches and every reference
    holds."""
    return OfdSignatureResult(
        one.entry,
        _verdict(one.verification, list(references), unvouched),
        references,
        one.check_method,
        one.stamp_pages,
        one.hash_matches and bool(references) and all(r.holds for r in references),
        one.document,
    )


def _not_holding(result: OfdSignatureResult) -> str:
    """Why ``result`` is no seal or Sign whose own files hold, whoever made it ("" when
    its signature verifies by its signer's certificate and it is ``intact``)."""
    if result.entry.kind not in KINDS:
        return f"Type {result.entry.kind}, not verified here"
    if not any(c.name == "signature" and c.passed for c in result.verification.checks):
        return "its signature does not verify"
    if not result.intact:
        return "its files are not as it signed them"
    return ""


def _named(results: list[OfdSignatureResult]) -> str:
    return ", ".join(
        f"{r.entry.signature_id or '?'} ({r.verification.verdict.value})"
        for r in results[:5]
    )


def _named_not_holding(results: list[OfdSignatureResult]) -> str:
    """Entries that are no seals that hold, each with why: the reason, after the
    verdict unless that is VALID, so the detail never reads as a seal that holds."""
    return ", ".join(
        f"{r.entry.signature_id or '?'} ("
        + (
            ""
            if r.verification.verdict is SealVerdict.VALID
            else r.verification.verdict.value + ": "
        )
        + _not_holding(r)
        + ")"
        for r in results[:5]
    )


def list_growth_checked(found: list[Found]) -> list[OfdSignatureResult]:
    """The results of the document's signatures, in ``Signatures.xml``'s order, each
    judged with the other entries of the list, whose stamps show on the same pages.

    For each signature, every other entry must be one it saw (its ``Signature.xml``
    among this signature's references, unchanged; or ``Signatures.xml`` itself
    unchanged) or a seal that answers for itself. Decided from the last entry back,
    since a later seal's own list depends on those after it (an entry before this one
    is judged by its own verdict without this rule, which would otherwise go round).
    So ``list grown`` (a later seal or Sign appended its entry, as GB/T 38540 seals
    and GB/T 35275 signatures are) is accepted only for such signatures:

    - an entry that is no seal or Sign whose files hold (no signature, an unknown
      Type, a signature that does not verify or names no certificate, a changed or
      damaged one) makes ``Signatures.xml`` ``changed`` (``unsigned`` when this
      signature does not cover it): not ``intact``, MODIFIED;
    - one whose files hold but that is not VALID here (untrusted, expired, revoked:
      its stamp paints the same pages, vouched by no one trusted) leaves the files
      ``intact`` (nothing was changed but by a real signature), and the check
      ``references`` fails naming it: MODIFIED.
    """
    alone = [result_of(one, one.references) for one in found]
    results: list[OfdSignatureResult] = list(alone)
    for at in range(len(found) - 1, -1, -1):
        one = found[at]
        ok = {r.file for r in one.references if r.status == "ok"}
        listing = [r for r in one.references if r.file == one.listing_path]
        if listing and any(r.status != "list grown" for r in listing):
            continue  # ok: the list as this signature saw it; else it fails already
        unseen = [
            results[i] if i > at else alone[i]
            for i in range(len(found))
            if i != at and found[i].entry.path not in ok
        ]
        broken = [r for r in unseen if _not_holding(r)]
        untrusted = [
            r
            for r in unseen
            if not _not_holding(r) and r.verification.verdict is not SealVerdict.VALID
        ]
        if not broken and not untrusted:
            continue
        references = one.references
        if broken:
            note = "the list holds entries that are no seals that hold: " + (
                _named_not_holding(broken)
            )
            if listing:
                references = tuple(
                    dataclasses.replace(r, status="changed", note=note)
                    if r.status == "list grown"
                    else r
                    for r in references
                )
            else:
                references = (
                    *references,
                    ReferenceResult(one.listing_path, b"", None, "unsigned", note),
                )
        unvouched = (
            f"/{one.listing_path} lists seals not VALID here: {_named(untrusted)}"
            if untrusted
            else ""
        )
        results[at] = result_of(one, references, unvouched)
    return results


@dataclass(frozen=True)
class OfdDocumentResult:
    """One document of the file and its signatures."""

    index: int
    """Its place among ``OFD.xml``'s ``DocBody`` elements, 0-based."""
    doc_root: str
    """Its ``Document.xml`` ("" when ``OFD.xml`` is damaged: the signatures were
    found at the package's one ``Signs/Signatures.xml``)."""
    signatures: tuple[OfdSignatureResult, ...]
    """Its ``Signatures.xml``'s entries, in that list's order."""
    root_held: bool = True
    """Whether the package holds ``doc_root`` (a ``DocRoot`` may name a file it
    does not: nothing of that document is drawn, and the report says so)."""

    @property
    def verdict(self) -> str:
        """VALID when it holds signatures and each is VALID; :data:`UNSEALED` when it
        holds none; else the most serious of their verdicts (a changed document
        over an untrusted signer: :func:`services.seal.values.most_serious`)."""
        if not self.signatures:
            return UNSEALED
        return most_serious(s.verification.verdict for s in self.signatures).value

    @property
    def name(self) -> str:
        """How the report names it: ``document 1 (/Doc_1/Document.xml)``, with
        ``not in the package`` when the package does not hold that file, or ``(no
        DocRoot read)`` when there is none (trial33: ``document 1 holds no seal``
        named neither)."""
        if not self.doc_root:
            return f"document {self.index} (no DocRoot read)"
        missing = "" if self.root_held else ", not in the package"
        return f"document {self.index} (/{self.doc_root}{missing})"


@dataclass(frozen=True)
class OfdFileResult:
    """Every document of an OFD with its signatures, and the file's verdict."""

    documents: tuple[OfdDocumentResult, ...]
    """In ``OFD.xml``'s order (at most :data:`services.seal.ofd.MAX_OFD_DOCUMENTS`)."""

    @property
    def signatures(self) -> list[OfdSignatureResult]:
        """Every document's signatures, in document order."""
        return [s for document in self.documents for s in document.signatures]

    @property
    def verdict(self) -> str:
        """VALID only when every document holds a signature and every signature is
        VALID. Else the most serious verdict of any signature
        (:func:`services.seal.values.most_serious`; a seal that does not hold says
        more than a missing one), or :data:`UNSEALED` when what is wrong is only a
        document without a signature."""
        worst = most_serious(s.verification.verdict for s in self.signatures)
        if worst is not SealVerdict.VALID:
            return worst.value
        unsealed = not self.documents or any(not d.signatures for d in self.documents)
        return UNSEALED if unsealed else SealVerdict.VALID.value

    @property
    def detail(self) -> str:
        """What keeps the file from being VALID, each document named ("" when VALID);
        at most five of each kind, the most serious verdicts first."""
        if not self.documents:
            return "the OFD holds no document"
        wrong = sorted(
            (
                (d, s)
                for d in self.documents
                for s in d.signatures
                if s.verification.verdict is not SealVerdict.VALID
            ),
            key=lambda found: SEVERITY.index(found[1].verification.verdict),
        )
        not_valid = [
            f"{d.name}: "
            + (
                f"{s.entry.signature_id or '?'} /{s.entry.path}"
                if s.listed
                else f"/{s.entry.path}, a signature no list names (taken out, or "
                "a file added),"
            )
            + f" {s.verification.verdict.value}"
            for d, s in wrong
        ]
        unsealed = [
            f"{d.name} holds no seal or signature"
            for d in self.documents
            if not d.signatures
        ]
        return "; ".join(not_valid[:5] + unsealed[:5])
