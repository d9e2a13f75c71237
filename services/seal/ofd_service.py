"""The seal service's OFD use cases: seal an OFD document and verify its signatures.

Sealing an OFD (any suite; sm2 seals are the ecosystem's usual case):
1. check the caller is one of the seal's signers and the seal may be used now
   (:meth:`SealService.usable`; a refusal is audited);
2. off the event loop, read the package within bounds and add the seal's files
   (:func:`services.seal.ofd_sign.prepare_seal`);
3. sign the digest of the new ``Signature.xml`` (:meth:`SealService.seal_document`);
4. off the event loop, write ``SignedValue.dat`` and zip the package, refused when
   it is over ``max_document_bytes`` (VerifyOfd would refuse it:
   :mod:`services.seal.limits`); then ``seal_document`` stores the
   ``document.sealed`` event with the signature's digest and the audit row.

Verifying an OFD reads every document of ``OFD.xml`` (one ``DocBody`` each, at most
:data:`services.seal.ofd.MAX_OFD_DOCUMENTS`), every signature of each document's
``Signatures.xml``, and verifies each over
its ``Signature.xml``: a seal's SES_Signature in the design's check order
(:meth:`SealService.verify`), a digital signature's GB/T 35275 SignedData
(:func:`services.seal.ofd_sign_verify.sign_facts`); then the check ``references``:
every file the signature protects still has the digest it had, it covers what the
document is drawn from (:func:`services.seal.ofd_drawn.drawn_files`), and every other
entry of the list is one it saw or a VALID signature
(:func:`services.seal.ofd_results.list_growth_checked`); otherwise MODIFIED. Every
reference digest is reported whatever the verdict. Each document and the file get
a verdict (:class:`services.seal.ofd_results.OfdFileResult`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass

from certseal.bounds import MAX_DOCUMENT_BYTES
from certseal.crypto import Suite, digest
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.rpc import Caller
from services.seal.domain import SealCheck, SealVerdict, SealVerification
from services.seal.limits import check_document_size, check_sealed_size
from services.seal.ofd import (
    MAX_OFD_SIGNATURES,
    OfdDocument,
    SignatureEntry,
    SignatureFile,
    check_references,
    read_signature_file,
    signature_entries,
    signatures_documents,
)
from services.seal.ofd_package import read_package
from services.seal.ofd_results import KINDS as _KINDS
from services.seal.ofd_results import Found as _Found
from services.seal.ofd_results import (
    OfdDocumentResult,
    OfdFileResult,
    list_growth_checked,
    own_signatures,
    result_of,
)
from services.seal.ofd_results import OfdSignatureResult as OfdSignatureResult
from services.seal.ofd_sign import (
    PreparedSeal,
    StampPlace,
    finish_seal,
    prepare_seal,
)
from services.seal.ofd_sign_verify import sign_facts
from services.seal.ofd_unlisted import (
    MAX_SIGNED_VALUES,
    Unlisted,
    entry_for,
    is_evidence,
    taken_out,
    unlisted,
)
from services.seal.ofd_xml import EndsRequest, admitted_bytes
from services.seal.ofd_zip import declared_sizes
from services.seal.offload import SealOffload
from services.seal.service import SealService
from services.seal.ses import SUITE_BY_OID, SESeal, check_ses_size
from services.seal.ses_read import SesFormatError, read_signature

MAX_OFD_REPLY_BYTES = 4 * 1024 * 1024
"""What VerifyOfd's report of one OFD may come to (paths, digests, details): the
default limit of a gRPC client's message. A legitimate report is far smaller (a
500-page document with 1,500 files and five seals: about 1 MB)."""


@dataclass(frozen=True)
class SealedOfd:
    """A sealed OFD, its SHA-256 and where the new signature is."""

    ofd: bytes
    ofd_digest: bytes  # SHA-256 of ``ofd``
    signed_at: dt.datetime  # whole seconds
    signature_id: str
    signature_path: str  # e.g. "Doc_0/Signs/Sign_0/Signature.xml"
    page: int


def _malformed(detail: str) -> SealVerification:
    return SealVerification(
        SealVerdict.MALFORMED, (SealCheck("decode", False, detail),)
    )


class OfdSealService:
    """Sealing and verifying OFD documents with the seals of :class:`SealService`."""

    def __init__(
        self, *, seals: SealService, max_document_bytes: int = MAX_DOCUMENT_BYTES
    ):
        self._seals = seals
        self.max_document_bytes = max_document_bytes

    def _check_size(self, ofd: bytes) -> None:
        if not ofd:
            raise invalid("ofd", "is required: the OFD document (a ZIP package)")
        check_document_size("ofd", len(ofd), self.max_document_bytes)

    async def seal_ofd(
        self, caller: Caller, seal_id: str, *, ofd: bytes, place: StampPlace
    ) -> SealedOfd:
        """The OFD sealed with ``seal_id``'s stamp on ``place`` (see the module).

        Raises ``CertsealError``: NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION
        (the seal is not usable now) or INVALID_ARGUMENT (``ofd`` over
        ``max_document_bytes``, or the sealed OFD over it (nothing is recorded:
        :mod:`services.seal.limits`), or not a bounded OFD package, ``page`` not in the
        document, ``keyword`` on no page).
        """
        row, now = await self._seals.usable(caller, seal_id)
        self._check_size(ofd)
        picture = SESeal.load(row.seal)["e_seal_info"]["picture"]
        # the picture's printed size in mm (GB/T 38540); 40 mm if it gives none
        size = (
            float(picture["width"].native) or 40.0,
            float(picture["height"].native) or 40.0,
        )
        offload = self._seals.offload
        async with offload.admit("SealOfd", await _admitted(offload, ofd)):
            stamp_at = now.astimezone(dt.UTC).replace(microsecond=0)
            prepared = await offload.run(
                "ofd",
                prepare_seal,
                ofd,
                seal=row.seal,
                suite=Suite(row.suite),
                stamp_mm=size,
                place=place,
                signed_at_text=stamp_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
            finished: list[tuple[bytes, bytes]] = []

            async def finish(signature: bytes) -> None:
                # zipped before the use is recorded: an OFD VerifyOfd would refuse
                # is neither given out nor recorded as sealed
                out, out_digest = await offload.run("ofd", _finish, prepared, signature)
                limit = self.max_document_bytes
                check_sealed_size("ofd", "OFD", len(ofd), len(out), limit)
                finished.append((out, out_digest))

            sealed = await self._seals.seal_document(
                caller,
                seal_id,
                document=prepared.signature_xml,
                document_hash=None,
                property_info="/" + prepared.signature_path,
                before_record=finish,
            )
            ((out, out_digest),) = finished
        return SealedOfd(
            out,
            out_digest,
            sealed.signed_at,
            prepared.signature_id,
            prepared.signature_path,
            prepared.page,
        )

    async def verify_ofd(self, ofd: bytes) -> OfdFileResult:
        """Every signature of every document of the OFD, verified (see the module).

        A document with no signatures has none in its result. Raises
        INVALID_ARGUMENT (``ofd``) when it is over ``max_document_bytes``, is not a
        bounded OFD package, holds more than
        :data:`services.seal.ofd.MAX_OFD_DOCUMENTS` documents or lists more than
        :data:`services.seal.ofd.MAX_OFD_SIGNATURES` signatures (its documents'
        together), or its report would be over :data:`MAX_OFD_REPLY_BYTES`.
        """
        self._check_size(ofd)
        offload = self._seals.offload
        async with offload.admit("VerifyOfd", await _admitted(offload, ofd)):
            listed = await offload.run("ofd", _open, ofd)
            every: list[list[_Found]] = []
            size = 0
            for index, (document, entries) in enumerate(listed):
                found: list[_Found] = []
                every.append(found)
                for at, entry in enumerate(entries):
                    one = await self._verify_one(document, entry, index, at)
                    size += _reported_bytes(result_of(one, one.references))
                    if size > MAX_OFD_REPLY_BYTES:
                        raise invalid(
                            "ofd",
                            f"its report would be over {MAX_OFD_REPLY_BYTES} bytes "
                            f"({sum(len(e) for _, e in listed)} signatures; "
                            f"{len(one.references)} references in one of them)",
                        )
                    found.append(one)
            # a document holds only signatures of its own (atk33 A1); judging each
            # list adds at most one reference and a bounded detail each
            contents = await offload.run("ofd", _contents, listed)
            owned = own_signatures(every, contents)
            results = [list_growth_checked(found) for found in owned]
            # and the seals taken out of a list that the package still holds
            for unlisted_one in await self._taken_out(listed, contents):
                results[unlisted_one.document].append(unlisted_one)
                size += _reported_bytes(unlisted_one)
                if size > MAX_OFD_REPLY_BYTES:
                    raise invalid(
                        "ofd", f"its report would be over {MAX_OFD_REPLY_BYTES} bytes"
                    )
            return OfdFileResult(
                tuple(
                    OfdDocumentResult(
                        index,
                        document.doc_root,
                        tuple(found),
                        document.doc_root in document.package.files,
                    )
                    for index, ((document, _), found) in enumerate(
                        zip(listed, results, strict=True)
                    )
                )
            )

    async def _taken_out(
        self,
        listed: list[tuple[OfdDocument, list[SignatureEntry]]],
        contents: list[list[bytes | None]],
    ) -> list[OfdSignatureResult]:
        """The signatures the package holds that no list names, each verified as
        its document's and reported (:mod:`services.seal.ofd_unlisted`), in name
        order: those whose signature holds over their ``Signature.xml``, and those
        that cannot be decided but may (past what is verified, or with a signed
        value that holds)."""
        documents = [document for document, _ in listed]
        candidates = await self._seals.offload.run("ofd", unlisted, listed)
        known = {key for keys in contents for key in keys if key is not None}
        found = []
        for how in candidates:
            if how.key in known:
                continue  # a listed signature's copy: that signature, listed
            document = documents[how.document]
            if how.signature is None:
                held = await self._undecided(document, how)
                if held is not None:  # else unsigned: anyone may write it
                    found.append(taken_out(*held))
                continue
            one = await self._verify_one(document, entry_for(how), how.document, -1)
            if is_evidence(one):
                found.append(taken_out(one, how))
        return found

    async def _undecided(
        self, document: OfdDocument, how: Unlisted
    ) -> tuple[_Found, Unlisted] | None:
        """``how`` (a Signature document that cannot be read to the end) verified by
        each file its signed value may be: the first that holds a signature over it
        (and ``how`` naming that file); unverified past
        :data:`~services.seal.ofd_unlisted.MAX_SIGNED_VALUES` such files; None when
        none holds."""
        listing, package = document.signatures_path or "", document.package
        signature_xml = package.get(how.path) or b""
        if len(how.values) > MAX_SIGNED_VALUES:
            told = _malformed("its signed value cannot be told")
            return _Found(entry_for(how), told, (), "", (), False, listing), how
        for path in how.values:
            verification, matches = await self._verify_value(
                how.kind, package.get(path) or b"", signature_xml, how.signed_at_text
            )
            one = _Found(entry_for(how), verification, (), "", (), matches, listing)
            if is_evidence(one):
                one = dataclasses.replace(one, document=how.document)
                return one, dataclasses.replace(how, values=(path,))
        return None

    async def _verify_one(
        self, document: OfdDocument, entry: SignatureEntry, index: int, at: int
    ) -> _Found:
        package = document.package
        listing = document.signatures_path or ""
        unreadable = ""
        signature_xml = None if entry.ambiguous else package.get(entry.path)
        if signature_xml is None:  # or readers differ on which file it is
            missing = _malformed(entry.ambiguous or f"{entry.path} is missing")
            return _Found(entry, missing, (), "", (), False, listing, index)
        try:
            signature: SignatureFile | None = await self._seals.offload.run(
                "ofd", read_signature_file, package, entry.path
            )
        except EndsRequest:
            raise  # past the request's XML budget, a location past reading: it ends
        except CertsealError as exc:
            # a damaged Signature.xml: its SignedValue.dat, where it conventionally
            # is, still tells whether it was changed (the data hash covers it)
            signature, unreadable = None, exc.message
        if signature is not None:
            references = await self._seals.offload.run(
                "ofd", check_references, document, signature, entry, at
            )
            value_path = signature.signed_value_path
            stamps = tuple(s.page_ref for s in signature.stamps)
            check_method = signature.check_method
        else:
            references, stamps, check_method = [], (), ""
            value_path = entry.path.rsplit("/", 1)[0] + "/SignedValue.dat"
        signed_value = package.get(value_path)
        if signed_value is None and entry.kind in _KINDS:  # named, or conventional
            verification, hash_matches = (
                _malformed(
                    f"{entry.path} cannot be read: {unreadable}; {value_path}, where "
                    "its signed value conventionally is, is missing"
                    if unreadable
                    else f"{value_path} is missing"
                ),
                False,
            )
        else:
            verification, hash_matches = await self._verify_value(
                entry.kind,
                signed_value or b"",
                signature_xml,
                signature.signed_at_text if signature else "",
            )
        if signature is None and verification.verdict is SealVerdict.VALID:
            verification = _malformed(f"{entry.path} cannot be read: {unreadable}")
        return _Found(
            entry,
            verification,
            tuple(references),
            check_method,
            stamps,
            hash_matches,
            listing,
            index,
        )

    async def _verify_value(
        self, kind: str, signed_value: bytes, signature_xml: bytes, signed_at: str
    ) -> tuple[SealVerification, bool]:
        """A ``Signature.xml``'s signed value verified over it, by its ``kind`` (an
        entry's ``Type``), and whether it signs that file's digest, whoever made it
        (``signed_at``: its ``SignatureDateTime`` as written)."""
        if kind not in _KINDS:
            return _malformed(
                f"Type {kind!r}: only electronic seals (Seal, GB/T 38540) and "
                "digital signatures (Sign, GB/T 35275) are verified here"
            ), False
        if kind == "Sign":
            facts = await self._seals.offload.verify(
                "ofd",
                sign_facts,
                signed_value,
                signature_xml=signature_xml,
                signed_at_text=signed_at,
                trust=self._seals.trust,
            )
            return facts.verification, facts.bound
        try:
            check_ses_size(signed_value, "ofd")
            verification = await self._seals.verify(
                signed_value, document=signature_xml
            )
        except CertsealError as exc:
            if exc.kind is ErrorKind.RESOURCE_EXHAUSTED:
                raise  # the service is busy: no verdict on this signature
            verification = _malformed(f"the SES_Signature cannot be read: {exc}")
        except Exception as exc:  # the SES verifier promises not to raise
            verification = _malformed(f"the SES_Signature cannot be read: {exc}")
        return verification, _signed_hash_matches(signed_value, signature_xml)


async def _admitted(offload: SealOffload, ofd: bytes) -> int:
    """:func:`_held`, read on the light worker thread before the request is
    admitted, not on the event loop (atk16 F4): reading a directory is linear in its
    headers (at most :data:`~services.seal.ofd_zip_end.MAX_OFD_ENTRIES`, each at most
    :data:`~services.seal.ofd_zip.MAX_ZIP_EXTRA_FIELDS` extra fields), and the
    threads' waiting room bounds how many wait to be read."""
    return await offload.run("ofd", _held, ofd)


def _held(ofd: bytes) -> int:
    """The bytes a request with the OFD ``ofd`` is admitted for
    (:func:`~services.seal.ofd_xml.admitted_bytes`): the package, what its entries
    declare they inflate to (read_package holds them to it), not only the compressed
    bytes (a 1 MiB package may inflate to 256 MiB), and what parsing its XML may
    take, by its largest XML file (its trees are held to it: atk16 F2). A package
    whose ZIP directory cannot be read is admitted for its own bytes: reading it
    refuses it at its first step, with the reason (INVALID_ARGUMENT ``ofd``)."""
    try:
        sizes = declared_sizes(ofd, "ofd")
    except CertsealError:
        return len(ofd)
    xml = [size for name, size in sizes if name.lower().endswith(".xml")]
    inflated = sum(size for _name, size in sizes)
    return admitted_bytes(len(ofd), inflated, max(xml, default=0))


def _reported_bytes(result: OfdSignatureResult) -> int:
    """About what one signature's result adds to the reply (an upper bound of its
    variable parts; the fixed fields are a few hundred bytes)."""
    size = 256 + sum(len(p) for p in result.stamp_pages) + len(result.check_method)
    size += sum(len(c.name) + len(c.detail) + 8 for c in result.verification.checks)
    for ref in result.references:
        size += 16 + len(ref.file) + len(ref.expected) + len(ref.actual or b"")
    return size + len(result.entry.path) + len(result.entry.signature_id)


def _signed_hash_matches(signed_value: bytes, signature_xml: bytes) -> bool:
    """Whether the SES_Signature's dataHash is the digest of ``signature_xml`` (by
    its signature algorithm's suite), whoever made it: integrity without trust.

    Read by :func:`services.seal.ses_read.read_signature`, the verifier's reader, so
    a GM/T 0031 v1 signature (its algorithm inside ``toSign``) is read as the verifier
    reads it, and the two never disagree about what the signature holds."""
    try:
        sig = read_signature(signed_value)
    except SesFormatError:  # not an SES_Signature: nothing is known to be intact
        return False
    suite = SUITE_BY_OID.get(sig.algorithm)
    return suite is not None and sig.data_hash == digest(suite, signature_xml)


def _finish(prepared: PreparedSeal, signed_value: bytes) -> tuple[bytes, bytes]:
    """The sealed package and its SHA-256 (in a worker thread)."""
    out = finish_seal(prepared, signed_value)
    return out, hashlib.sha256(out).digest()


def _contents(
    listed: list[tuple[OfdDocument, list[SignatureEntry]]],
) -> list[list[bytes | None]]:
    """Each entry's ``Signature.xml`` by its SHA-256 (in a worker thread): what the
    signature signs, so one signature however it is listed or copied
    (:func:`~services.seal.ofd_results.own_signatures`; None: none to read)."""
    return [
        [
            None
            if entry.ambiguous or entry.path not in document.package.files
            else document.digest_of("sha256", entry.path)  # kept per package
            for entry in entries
        ]
        for document, entries in listed
    ]


def _open(ofd: bytes) -> list[tuple[OfdDocument, list[SignatureEntry]]]:
    """Every document of the OFD with its signatures' entries, refused
    (INVALID_ARGUMENT ``ofd``) past :data:`~services.seal.ofd.MAX_OFD_SIGNATURES`
    entries in all: several documents may not multiply the work."""
    listed = []
    total = 0
    for document in signatures_documents(read_package(ofd, "ofd"), "ofd"):
        entries, _ = signature_entries(document, "ofd")
        total += len(entries)
        if total > MAX_OFD_SIGNATURES:
            raise invalid(
                "ofd",
                f"its documents list at least {total} signatures in all; the limit "
                f"is {MAX_OFD_SIGNATURES}",
            )
        listed.append((document, entries))
    return listed
