"""Signatures an OFD holds that no ``Signatures.xml`` lists: seals taken out of their
list (atk40ofd L1).

A sealer adds its entry to the list and then signs, so a ``Signature.xml`` in the
package whose signature verifies over it and that signed a document (its list or
its root among the references) was listed when it signed. Not listed now, it was
taken out: no reader shows its stamp or lists it, and a later seal over the list
without it signed that list, so its own digests hold. Reported as the document's,
MODIFIED, its first check ``listed`` naming the list, the file is not VALID "sealed
by B" without a word of the seal taken out. A removal whose ``Signature.xml`` went
too (or was changed, which is the same: its signature no longer verifies over it)
leaves nothing to tell by.

A file that is no such signature (not XML, a signature that does not verify over
it, a copy of a listed ``Signature.xml``, which is that signature) changes nothing:
a file nothing names is drawn by no reader.

Pure: no I/O.
"""

from __future__ import annotations

from services.seal.domain import SealCheck, SealVerdict, SealVerification
from services.seal.ofd import OfdDocument, SignatureEntry, SignatureFile
from services.seal.ofd_package import OfdPackage, file_key
from services.seal.ofd_results import Found, OfdSignatureResult

_NAME = "signature.xml"  # a Signature.xml's name, as file_key gives it


def unlisted_paths(package: OfdPackage, named: list[str]) -> list[str]:
    """The package's files named ``Signature.xml`` (case and the like ignored, as a
    reader unpacking the package finds it: :func:`file_key`) that are none of the
    ``named`` (every list's entries), in name order."""
    listed = {file_key(path) for path in named}
    return sorted(
        path
        for path in package.files
        if (key := file_key(path)).rsplit("/", 1)[-1] == _NAME and key not in listed
    )


def owner(documents: list[OfdDocument], signature: SignatureFile) -> int | None:
    """The document a signature not listed signed: the first whose list its
    references hold, else whose root they hold, else whose list's folder holds it;
    None for a signature of no document of the file."""
    signed = {ref.file for ref in signature.references}
    for test in (
        lambda d: d.signatures_path in signed,
        lambda d: d.doc_root in signed,
        lambda d: (
            bool(d.signatures_path)
            and signature.path.startswith(d.signatures_path.rsplit("/", 1)[0] + "/")
        ),
    ):
        for index, document in enumerate(documents):
            if document.doc_root and test(document):
                return index
    return None


def kind_of(signature: SignatureFile) -> str:
    """What a signature not listed is, its entry's ``Type`` gone: a seal when it
    names one (``Seal/BaseLoc``), else a digital signature."""
    return "Seal" if signature.seal_path else "Sign"


def entry_for(signature: SignatureFile) -> SignatureEntry:
    """The entry a signature not listed is verified under: no ID, no attributes."""
    return SignatureEntry("", kind_of(signature), signature.path, ())


def is_evidence(one: Found) -> bool:
    """Whether ``one`` (a signature not listed, verified) is a signature over its
    ``Signature.xml``: its signature verifies by its own certificate and its signed
    value's digest is that file's, whoever signed it."""
    signed = any(c.name == "signature" and c.passed for c in one.verification.checks)
    return signed and one.hash_matches


def taken_out(one: Found) -> OfdSignatureResult:
    """``one``, a signature taken out of its document's list, as reported: MODIFIED,
    its first check ``listed`` saying so with its own verdict, then its own checks;
    never ``intact`` (the list it signed is gone)."""
    own = one.verification
    where = f"/{one.listing_path}" if one.listing_path else "its document's list"
    what = "a seal" if one.entry.kind == "Seal" else "a signature"
    who = f" by {own.signer}" if own.signer else ""
    detail = (
        f"not listed in {where}: {what}{who} (its own checks: "
        f"{own.verdict.value}), whose signature holds over this Signature.xml and "
        "which signed this document, was taken out of the list; no reader shows it"
    )
    kept = (c for c in own.checks if c.name != "seal status")
    checks = (SealCheck("listed", False, detail[:2000]), *kept)
    verification = SealVerification(
        SealVerdict.MODIFIED,
        checks,
        seal_id=own.seal_id,
        seal_name=own.seal_name,
        signer=own.signer,
        signed_at=own.signed_at,
    )
    return OfdSignatureResult(
        one.entry,
        verification,
        one.references,
        one.check_method,
        one.stamp_pages,
        False,
        one.document,
        listed=False,
    )
