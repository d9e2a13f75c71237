"""Signatures an OFD holds that no ``Signatures.xml`` lists: seals taken out of their
list (atk40ofd L1), or files added.

A sealer adds its entry to the list and then signs, so a ``Signature.xml`` in the
package whose signature verifies over it was listed when it signed, or was copied
in. Not listed now, no reader shows its stamp or lists it, and a later seal over the
list without it signed that list, so its own digests hold. Reported as a document's,
MODIFIED, its first check ``listed`` naming the list and saying what is known: a
seal by X whose signature holds over this ``Signature.xml``, which of the document's
files its references name, "a seal taken out of the list, or a file added". The
two cannot be told apart (a real ``Signature.xml`` of another document copied in is
a signature over itself too), and either way the file is not what its list says.

Evidence is not lost to what an attacker ADDS or RENAMES after the fact (atk41d):

- a ``Signature.xml`` that reads as a GB/T 33190 ``Signature`` (its root element)
  but whose locations cannot be decided (readings naming two files, a decoy where
  another reader reads its ``SignedValue``) is verified with every file its signed
  value may be (each reading, and ``SignedValue.dat`` beside it); one holding a
  signature over it is reported MALFORMED ("cannot be decided"), and one with more
  such files than :data:`MAX_SIGNED_VALUES` is reported MALFORMED unverified. Only
  a file that is no Signature document (not XML, another root element) and one
  whose every possible signed value fails to sign it ("unsigned": anyone may write
  it) change nothing;
- the document it belongs to (:func:`owner`) is the one beside whose list or
  root it lies, else the one whose list, root or own files (drawn from its root, or
  below its folder) its references name, or whose files hold its references'
  digests (renamed since); when none tells, the first document: a signature over
  itself is never dropped as "no document's", whatever was moved or renamed after.
  One naming nothing of the package (another OFD's ``Signature.xml`` copied in)
  is reported so too, its ``listed`` check saying its references name no file of
  the document: a file added, or a seal whose document was renamed since.

A copy of a listed ``Signature.xml`` is that signature, listed: nothing. A removal
whose ``Signature.xml`` went too (or was changed: its signature no longer verifies
over it) leaves nothing to tell by.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET  # types; parsing is defusedxml
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from certseal.errors import CertsealError, invalid
from services.seal.domain import SealCheck, SealVerdict, SealVerification
from services.seal.ofd import (
    MAX_OFD_REFERENCES,
    MAX_OFD_SIGNATURES,
    OfdDocument,
    SignatureEntry,
    SignatureFile,
    read_signature_file,
)
from services.seal.ofd_drawn import drawn_files
from services.seal.ofd_loc import (
    attribute_values,
    element_texts,
    ofd_js_signed_value,
    readings,
)
from services.seal.ofd_package import (
    OfdPackage,
    child,
    children,
    file_key,
    local,
    package_xml,
    text_of,
)
from services.seal.ofd_results import Found, OfdSignatureResult
from services.seal.ofd_xml import EndsRequest

_NAME = "signature.xml"  # a Signature.xml's name, as file_key gives it

MAX_SIGNED_VALUES = 4
"""Files an undecided ``Signature.xml``'s signed value may be that are verified
(a sealer's own, with a plain ``SignedValue``, has at most three: its own and where
ofd.js and ofdrw read it again); past it, it is reported unverified."""


@dataclass(frozen=True)
class Unlisted:
    """A ``Signature.xml`` no list names that reads as a GB/T 33190 Signature."""

    path: str
    key: bytes  # its SHA-256: a copy of a listed Signature.xml is that signature
    document: int  # the document it is attributed to (:func:`owner`)
    why: str  # what of that document its references name, for the report
    kind: str  # Seal | Sign
    signature: SignatureFile | None  # None: something in it cannot be decided
    undecided: str = ""  # what cannot be decided
    values: tuple[str, ...] = ()  # undecided: each distinct file it may sign by
    signed_at_text: str = ""


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


def unlisted(
    listed: list[tuple[OfdDocument, list[SignatureEntry]]],
) -> list[Unlisted]:
    """The ``Signature.xml`` files no list names that read as Signature documents,
    each attributed to a document (in a worker thread). INVALID_ARGUMENT (``ofd``)
    past :data:`~services.seal.ofd.MAX_OFD_SIGNATURES` with the listed ones."""
    if not listed:
        return []
    documents = [document for document, _ in listed]
    package = documents[0].package
    named = [entry.path for _, entries in listed for entry in entries]
    paths = unlisted_paths(package, named)
    if len(named) + len(paths) > MAX_OFD_SIGNATURES:
        raise invalid(
            "ofd",
            f"it holds {len(paths)} Signature.xml files no signature list names "
            f"beside the {len(named)} signatures listed; the limit is "
            f"{MAX_OFD_SIGNATURES} signatures in all",
        )
    out = []
    for path in paths:
        try:
            root = package_xml(package, path, "ofd")
        except EndsRequest:
            raise
        except CertsealError:
            continue  # not XML: no signature
        if local(root.tag) != "Signature":
            continue  # XML, but no Signature document
        key = documents[0].digest_of("sha256", path) or b""
        try:
            signature = read_signature_file(package, path)
        except EndsRequest:
            raise
        except CertsealError as exc:  # a Signature, but something cannot be decided
            out.append(_undecided(documents, path, root, key, exc.message))
            continue
        names = [ref.file for ref in signature.references]
        index, why = owner(documents, path, names, signature)
        out.append(Unlisted(path, key, index, why, kind_of(signature), signature))
    return out


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _undecided(
    documents: list[OfdDocument],
    path: str,
    root: ET.Element,
    key: bytes,
    reason: str,
) -> Unlisted:
    """A Signature document that :func:`read_signature_file` does not decide: every
    file its signed value may be (each reading of each ``SignedValue``, and
    ``SignedValue.dat`` beside it; distinct contents only), what its references
    may name, in any reading."""
    package, base = documents[0].package, _folder(path)
    texts = element_texts(root, "SignedValue")
    found = readings(texts + ofd_js_signed_value(texts), (base,), again=True)
    found.append(f"{base}/SignedValue.dat" if base else "SignedValue.dat")
    values: dict[bytes, str] = {}
    for file in dict.fromkeys(f for f in map(package.find, found) if f is not None):
        values.setdefault(hashlib.sha256(package.files[file]).digest(), file)
    info = child(root, "SignedInfo")
    refs = child(info, "References") if info is not None else None
    items = children(refs, "Reference")[:MAX_OFD_REFERENCES] if refs is not None else []
    names = [
        name
        for ref in items
        for name in readings(
            attribute_values(ref, "FileRef"), (base,), explicit_relative=True
        )
    ]
    index, why = owner(documents, path, names)
    seal = child(info, "Seal") if info is not None else None
    kind = "Seal" if any(t.strip() for t in element_texts(seal, "BaseLoc")) else "Sign"
    at = text_of(child(info, "SignatureDateTime")) if info is not None else ""
    return Unlisted(
        path, key, index, why, kind, None, reason, tuple(values.values()), at
    )


def owner(
    documents: list[OfdDocument],
    path: str,
    named: list[str],
    signature: SignatureFile | None = None,
) -> tuple[int, str]:
    """The document a signature not listed at ``path``, whose references name the
    files ``named`` (``signature``: what it says, when it reads), belongs to, and
    what of that document its references name (:func:`_relation`).

    Its place first (a sealer writes ``Sign_N`` beside the list it adds to; one
    copied in is a file added there): the first document below whose list's
    folder it lies, else below whose root's folder; else the first whose list its
    references name, else whose root, else whose own files (:func:`_own_files`),
    else one of whose own files has a referenced digest (renamed since); else the
    first document. No name an attacker changes later (a list moved, a root
    renamed, a document's folder) leaves it no document's."""
    keys = {file_key(name) for name in named}
    where = file_key(path)

    def lies(folder: str) -> bool:
        return bool(folder) and where.startswith(file_key(folder) + "/")

    tests: tuple[Callable[[OfdDocument], bool], ...] = (
        lambda d: lies(_folder(d.signatures_path or "")),
        lambda d: lies(_folder(d.doc_root)),
        lambda d: file_key(d.signatures_path or "") in keys,
        lambda d: file_key(d.doc_root) in keys,
        lambda d: _own_files(d, keys),
        lambda d: signature is not None and _renamed(d, signature),
    )
    for test in tests:
        for index, document in enumerate(documents):
            if test(document):
                return index, _relation(document, keys, signature)
    return 0, _relation(documents[0], keys, signature)


def _own(document: OfdDocument) -> dict[str, str]:
    """The files of the package ``document``'s root draws, itself and on through
    what each names (:func:`drawn_files` is every document's: ``OFD.xml`` names
    each root), each with its :func:`file_key`; kept for the request."""
    kept = document.cache.get("own " + document.doc_root)
    if kept is not None:
        return cast("dict[str, str]", kept)
    names: dict[str, list[str]] = {}
    if document.doc_root:
        for file, by in drawn_files(document).items():
            for namer in by:
                names.setdefault(namer, []).append(file)
    own, todo = {document.doc_root}, [document.doc_root]
    while todo:
        for file in names.get(todo.pop(), ()):
            if file not in own and file != "OFD.xml":
                own.add(file)
                todo.append(file)
    found = {f: file_key(f) for f in own if f in document.package.files}
    document.cache["own " + document.doc_root] = found
    return found


def _own_files(document: OfdDocument, keys: set[str]) -> bool:
    """Whether ``keys`` (referenced files, by :func:`file_key`) hold a file below
    ``document``'s root's folder, or one its root draws (:func:`_own`)."""
    folder = _folder(document.doc_root)
    if folder and any(k.startswith(file_key(folder) + "/") for k in keys):
        return True
    return not keys.isdisjoint(_own(document).values())


def _renamed(document: OfdDocument, signature: SignatureFile) -> bool:
    """Whether ``document``'s root or a file it draws (:func:`_own`) has the digest
    one of ``signature``'s references gives, by its ``CheckMethod``: a file it
    signed, renamed since. Each file is digested once per request (the documents
    share the package's digests)."""
    signed = {ref.check_value for ref in signature.references}
    method = signature.check_method
    return any(document.digest_of(method, file) in signed for file in _own(document))


def _relation(
    document: OfdDocument, keys: set[str], signature: SignatureFile | None
) -> str:
    """What of ``document`` a signature's references (``keys``) name, for the
    report."""
    if file_key(document.signatures_path or "") in keys:
        return "its references name this document's list"
    if file_key(document.doc_root) in keys:
        return "its references name this document's root"
    if _own_files(document, keys):
        return "its references name files of this document"
    if signature is not None and _renamed(document, signature):
        return "its references hold files of this document, renamed since"
    return "its references name no file of this document"


def kind_of(signature: SignatureFile) -> str:
    """What a signature not listed is, its entry's ``Type`` gone: a seal when it
    names one (``Seal/BaseLoc``), else a digital signature."""
    return "Seal" if signature.seal_path else "Sign"


def entry_for(one: Unlisted) -> SignatureEntry:
    """The entry a signature not listed is verified under: no ID, no attributes."""
    return SignatureEntry("", one.kind, one.path, ())


def is_evidence(one: Found) -> bool:
    """Whether ``one`` (a signature not listed, verified) is a signature over its
    ``Signature.xml``: its signature verifies by its own certificate and its signed
    value's digest is that file's, whoever signed it."""
    signed = any(c.name == "signature" and c.passed for c in one.verification.checks)
    return signed and one.hash_matches


def taken_out(one: Found, how: Unlisted) -> OfdSignatureResult:
    """``one``, a signature no list names (:class:`Unlisted` ``how``), as reported:
    MODIFIED, or MALFORMED when it cannot be decided; its first check ``listed``
    saying what is known with its own verdict, then its own checks; never
    ``intact`` (the list it signed is gone)."""
    own = one.verification
    where = f"/{one.listing_path}" if one.listing_path else "its document's list"
    what = "a seal" if one.entry.kind == "Seal" else "a signature"
    if is_evidence(one):
        who = f" by {own.signer}" if own.signer else ""
        value = f" (its signed value: /{how.values[0]})" if how.undecided else ""
        found = (
            f"{what}{who} (its own checks: {own.verdict.value}) whose signature "
            f"holds over this Signature.xml{value}; {how.why}: {what} taken out of "
            "the list, or a file added"
        )
    else:  # undecided, past MAX_SIGNED_VALUES: not verified
        found = (
            f"a Signature.xml whose signed value may be any of {len(how.values)} "
            f"files, not verified; {how.why}: if {what}, one taken out of the list, "
            "or a file added"
        )
    undecided = f"; what it names cannot be decided: {how.undecided}"
    detail = (
        f"not listed in {where}: {found}; no reader shows it"
        f"{undecided if how.undecided else ''}"
    )
    kept = (c for c in own.checks if c.name != "seal status")
    checks = (SealCheck("listed", False, detail[:2000]), *kept)
    verification = SealVerification(
        SealVerdict.MALFORMED if how.undecided else SealVerdict.MODIFIED,
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
