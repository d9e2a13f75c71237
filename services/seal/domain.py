"""Verifying a sealed document: a pure function of the signature, the document (or its
hash), the seal CA, the seal's registered status and the time.

The checks run in the design's order (ARCHITECTURE section 3) and the first failure
decides the verdict; every check that ran is reported:

1. ``signature``: the document signature over DER(toSign) with the signer certificate;
2. ``signer``: the signer certificate is in the seal's certList;
3. ``seal``: the seal maker's certificate leads to a trusted seal CA (the platform's
   own or a configured one, :mod:`services.seal.trust`) at the time it made the seal
   (``createDate``), it is an authorised seal maker (the platform's own seal CA's, or
   one ``[seal] seal_makers`` names for its platform: :func:`maker_problem`) and
   neither its certificate nor its key is one of the seal's signers', its signature
   over the seal holds, and the seal was valid (dates; for seals made here, not
   revoked) at signing time;
4. ``signer certificate``: leads to a trusted seal CA, valid at signing time;
5. ``data hash``: the document's hash is the signed one;
1a. ``timestamp`` (an RFC 3161 token in v4 ``timeStamp`` or v1 ``timeInfo``): it
   holds over the signature value (v1: the document, ``dataHash``), its TSA chains to
   a trusted TSA root (:mod:`services.seal.timestamp`); its ``genTime`` is then the
   signing time the checks below use, instead of the signer's own ``timeInfo``;
6. ``seal status``: the seal's current status (a seal revoked after signing leaves the
   document sealed while it was valid; the current status is shown, not failed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from certseal.crypto import InvalidSignature, Suite, digest, verify
from services.seal.certificates import read_certificate, suite_of
from services.seal.makers import maker_problem, maker_signs
from services.seal.ses import (
    CERT_LIST_CERTS,
    SUITE_BY_OID,
    digest_list_problem,
    signature_value,
)
from services.seal.ses_read import (
    SealData,
    SesFormatError,
    SignatureData,
    read_signature,
)
from services.seal.timestamp import SM3, Imprints, TokenError, check_token, stamp_detail
from services.seal.trust import TrustStore, validate_path
from services.seal.values import (
    Seal as Seal,  # re-exported: the registry's value, as before
)
from services.seal.values import (
    SealCheck,
    SealStatus,
    SealVerdict,
    SealVerification,
)


def _verify(oid: str, cert: bytes, data: bytes, signature: bytes) -> Suite:
    suite = SUITE_BY_OID.get(oid)
    if suite is None:
        raise InvalidSignature(
            f"signature algorithm {oid} is not supported: it is not sm2, es256 or "
            "ed25519"
        )
    public_key = read_certificate(cert).public_key_der
    if suite_of(public_key) is not suite:
        raise InvalidSignature(f"the certificate's key is not of suite {suite.value}")
    verify(suite, public_key, data, signature_value(suite, signature))
    return suite


def pdf_seal_verdict(
    *,
    intact: bool,
    modified: bool,
    trusted: bool,
    signed_at: dt.datetime | None,
    seal_valid: tuple[dt.datetime, dt.datetime] | None,
    status: SealStatus | None,
) -> SealVerdict:
    """The verdict on one seal of a PDF: what PAdES validation found (the signed bytes
    intact, nothing but signatures added after it, the chain at the seal CA) and the
    registry's seal (``seal_valid`` and ``status`` are None when it is unknown)."""
    if not intact:
        return SealVerdict.BAD_SIGNATURE
    if modified:
        return SealVerdict.MODIFIED
    if not trusted:
        return SealVerdict.UNTRUSTED_SEAL
    if seal_valid is None or status is None:
        return SealVerdict.UNKNOWN_SEAL
    if signed_at is None or not seal_valid[0] <= signed_at <= seal_valid[1]:
        return SealVerdict.SEAL_NOT_VALID
    if status.revoked_at is not None and signed_at >= status.revoked_at:
        return SealVerdict.SEAL_NOT_VALID
    return SealVerdict.VALID


def verify_sealed_document(
    signature_der: bytes,
    *,
    document: bytes | None = None,
    document_hash: bytes | None = None,
    seal_ca: bytes = b"",
    trust: TrustStore | None = None,
    seal_status: SealStatus | None,
    now: dt.datetime,
    tsa_trust: TrustStore | None = None,
    parsed: SignatureData | None = None,
) -> SealVerification:
    """Verify an ``SES_Signature`` (GB/T 38540 v4 or GM/T 0031 v1) against the
    document or its hash (SM3 for sm2, SHA-256 otherwise).

    ``seal_ca`` is the platform's own seal CA (DER); ``trust`` the configured
    trusted seal CAs (:mod:`services.seal.trust`). ``seal_status`` is the registry's
    record of the seal (None: not registered here); it is consulted for seals whose
    maker chains to the platform's own CA, since only those are registered here.
    ``tsa_trust`` holds the trusted TSA roots for a ``timeStamp`` token (none: a
    token is UNTRUSTED_TIMESTAMP). ``parsed``: ``signature_der`` as
    :func:`services.seal.ses_read.read_signature` read it already (it is then not
    read again). Never raises: bad input of any kind is MALFORMED, with the reason.

    It is :func:`seal_verdict` over :func:`seal_facts`: what the bytes alone show,
    then the registry's status.
    """
    facts = seal_facts(
        signature_der,
        document=document,
        document_hash=document_hash,
        seal_ca=seal_ca,
        trust=trust,
        tsa_trust=tsa_trust,
        parsed=parsed,
    )
    return seal_verdict(facts, seal_status)


@dataclass(frozen=True)
class SealFacts:
    """What verifying a sealed document finds in its bytes alone (the signature, the
    document or its hash, and this process's trust stores): every check but the
    registry's status. :func:`seal_verdict` gives the verdict with a status.

    ``decided`` is a verdict no status changes (a failure before the seal's status
    is asked, or a malformed signature). Otherwise ``before`` holds the checks that
    passed before it (decode, signature, timestamp, signer), ``own`` whether the seal
    maker chains to the platform's own CA (the registry then knows the seal),
    ``stamped`` whether the signing time came from a token, and ``after`` the checks
    that follow the seal's (signer certificate, data hash) as they ran: passed, or
    the last one failed with ``after_verdict``. ``after_error``: those checks raised
    this (the verdict is then MALFORMED, as when any check raises). ``raised``: a
    check raised (``decided`` is then MALFORMED): such facts may come from a passing
    fault (memory, a library's bug) rather than from the bytes, so they are not kept
    (:meth:`kept_safely`).
    """

    decided: SealVerification | None
    seal_id: str = ""
    seal_name: str = ""
    signer: str = ""
    signed_at: dt.datetime | None = None
    stamped: bool = False
    own: bool = False
    before: tuple[SealCheck, ...] = ()
    after: tuple[SealCheck, ...] = ()
    after_verdict: SealVerdict | None = None
    after_error: str | None = None
    raised: bool = False

    @property
    def kept_safely(self) -> bool:
        """Whether these facts are the bytes' alone: no check raised on the way."""
        return not self.raised and self.after_error is None

    @property
    def needs_status(self) -> bool:
        """Whether the verdict depends on the registry's status of ``seal_id``."""
        return self.decided is None and self.own


def _malformed(exc: Exception) -> SealVerification:
    return SealVerification(
        SealVerdict.MALFORMED,
        (SealCheck("decode", False, f"cannot be verified: {exc}"),),
    )


def seal_facts(
    signature_der: bytes,
    *,
    document: bytes | None = None,
    document_hash: bytes | None = None,
    seal_ca: bytes = b"",
    trust: TrustStore | None = None,
    tsa_trust: TrustStore | None = None,
    parsed: SignatureData | None = None,
) -> SealFacts:
    """Every check of :func:`verify_sealed_document` that the bytes alone decide (a
    function of its arguments: the same bytes and trust stores give the same facts).
    Never raises."""
    try:
        return _facts(
            signature_der,
            parsed=parsed,
            document=document,
            document_hash=document_hash,
            trust=_trust(seal_ca, trust),
            tsa_trust=tsa_trust or TrustStore(),
        )
    except Exception as exc:  # the promise: a verdict, never an exception
        return SealFacts(_malformed(exc), raised=True)


def _trust(seal_ca: bytes, trust: TrustStore | None) -> TrustStore:
    store = trust or TrustStore()
    return store.with_own(seal_ca) if seal_ca else store


def _facts(
    signature_der: bytes,
    *,
    document: bytes | None,
    document_hash: bytes | None,
    trust: TrustStore,
    tsa_trust: TrustStore,
    parsed: SignatureData | None = None,
) -> SealFacts:
    checks: list[SealCheck] = []
    try:
        # the reader `seal inspect` uses
        sig = parsed if parsed is not None else read_signature(signature_der)
    except SesFormatError as exc:
        return SealFacts(
            SealVerification(
                SealVerdict.MALFORMED,
                (SealCheck("decode", False, f"not an SES_Signature: {exc}"),),
            )
        )
    seal = sig.seal
    try:
        signer = read_certificate(sig.signer_cert).common_name
    except ValueError:
        signer = ""  # the signature check below names it
    signed_at = sig.signed_at
    note = f"; {sig.time_note}" if sig.time_note else ""
    checks.append(SealCheck("decode", True, f"seal {seal.es_id}{note}"))
    shown: dict[str, Any] = {
        "seal_id": seal.es_id,
        "seal_name": seal.name,
        "signer": signer,
        "signed_at": signed_at,
    }

    def failed(verdict: SealVerdict, name: str, detail: str) -> SealFacts:
        checks.append(SealCheck(name, False, detail))
        return SealFacts(SealVerification(verdict, tuple(checks), **shown))

    # 1. the document signature
    try:
        suite = _verify(sig.algorithm, sig.signer_cert, sig.signed, sig.signature)
    except (InvalidSignature, ValueError) as exc:
        return failed(SealVerdict.BAD_SIGNATURE, "signature", str(exc) or "mismatch")
    checks.append(SealCheck("signature", True, f"{suite.value} by {signer}"))

    # 1a. the trusted time: an RFC 3161 token over the signature value
    if sig.time_stamp is not None:
        try:
            stamped: bytes | Imprints = sig.signature
            if sig.stamps_document:  # v1: a token in timeInfo, over the document
                name = SM3 if suite is Suite.SM2 else "sha256"
                stamped = Imprints({name: sig.data_hash}, document)
            stamp = check_token(sig.time_stamp, stamped=stamped, trust=tsa_trust)
        except TokenError as exc:
            verdict = (
                SealVerdict.UNTRUSTED_TIMESTAMP
                if exc.check == "TSA certificate"
                else SealVerdict.BAD_TIMESTAMP
            )
            return failed(verdict, "timestamp", f"{exc.check}: {exc.detail}")
        signed_at = stamp.gen_time
        shown["signed_at"] = signed_at
        detail = stamp_detail(stamp.tsa, signed_at, of_document=sig.stamps_document)
        checks.append(SealCheck("timestamp", True, detail))

    # 2. the signer is one the seal lists
    if seal.cert_list_type == CERT_LIST_CERTS:
        unlisted = None
        if sig.signer_cert not in seal.certs:
            unlisted = "is not in the seal's certificate list"
    else:
        unlisted = digest_list_problem(seal.digests, sig.signer_cert)
    if unlisted:
        return failed(
            SealVerdict.SIGNER_NOT_AUTHORISED, "signer", f"{signer} {unlisted}"
        )
    checks.append(SealCheck("signer", True, f"{signer} is listed"))

    # 3. the seal: its maker trusted when it made the seal, its signature right, the
    # seal valid when it was used (for seals made here, not revoked then: the
    # registry's part, in seal_verdict)
    maker = validate_path(seal.maker_cert, trust, seal.created, role="seal maker")
    if not maker.ok:
        return failed(SealVerdict.UNTRUSTED_SEAL, "seal", maker.detail)
    # a seal CA's certificate may sign with a seal; it makes one only when it is an
    # authorised maker, and never a seal that lists it (or its key) as a signer
    problem = maker_problem(maker, trust) or maker_signs(seal, sig.signer_cert)
    if problem:
        return failed(SealVerdict.UNTRUSTED_SEAL, "seal", problem)
    if not _maker_signed(seal):
        return failed(
            SealVerdict.UNTRUSTED_SEAL, "seal", "the seal maker's signature is wrong"
        )
    if not seal.valid_start <= signed_at <= seal.valid_end:
        return failed(
            SealVerdict.SEAL_NOT_VALID,
            "seal",
            f"signed {signed_at.isoformat()}, outside the seal's validity "
            f"{seal.valid_start.isoformat()} to {seal.valid_end.isoformat()}",
        )
    after, after_verdict, after_error = _after_seal(
        sig, suite, signed_at, trust, document, document_hash
    )
    return SealFacts(
        None,
        before=tuple(checks),
        own=maker.own,
        stamped=sig.time_stamp is not None,
        after=after,
        after_verdict=after_verdict,
        after_error=after_error,
        **shown,
    )


def _after_seal(
    sig: SignatureData,
    suite: Suite,
    signed_at: dt.datetime,
    trust: TrustStore,
    document: bytes | None,
    document_hash: bytes | None,
) -> tuple[tuple[SealCheck, ...], SealVerdict | None, str | None]:
    """Checks 4 and 5 as they run after the seal's: (the checks, the failed one's
    verdict or None, what they raised or None)."""
    checks: list[SealCheck] = []
    try:
        # 4. the signer certificate, to a trusted seal CA at the signing time
        path = validate_path(
            sig.signer_cert, trust, signed_at, role="signer certificate"
        )
        if not path.ok:
            checks.append(SealCheck("signer certificate", False, path.detail))
            return tuple(checks), SealVerdict.CERTIFICATE_NOT_VALID, None
        until = read_certificate(sig.signer_cert).not_after
        checks.append(
            SealCheck("signer certificate", True, f"valid until {until.isoformat()}")
        )

        # 5. the document itself
        actual = digest(suite, document) if document is not None else document_hash
        if actual is None:
            checks.append(SealCheck("data hash", False, "no document or hash given"))
            return tuple(checks), SealVerdict.MALFORMED, None
        if actual != sig.data_hash:
            checks.append(
                SealCheck(
                    "data hash", False, "the document differs from what was sealed"
                )
            )
            return tuple(checks), SealVerdict.MODIFIED, None
        checks.append(
            SealCheck(
                "data hash",
                True,
                f"{'SM3' if suite is Suite.SM2 else 'SHA-256'} matches",
            )
        )
    except Exception as exc:  # reported only if the seal's check passes
        return (), None, f"{exc}"
    return tuple(checks), None, None


def seal_verdict(facts: SealFacts, seal_status: SealStatus | None) -> SealVerification:
    """The verdict of :func:`verify_sealed_document` from what the bytes showed and
    the registry's status of the seal (None: not registered here). Cheap: no
    decoding, no signature. Never raises."""
    if facts.decided is not None:
        return facts.decided
    try:
        return _with_status(facts, seal_status)
    except Exception as exc:  # the promise: a verdict, never an exception
        return _malformed(exc)


def _with_status(facts: SealFacts, seal_status: SealStatus | None) -> SealVerification:
    checks = list(facts.before)
    shown: dict[str, Any] = {
        "seal_id": facts.seal_id,
        "seal_name": facts.seal_name,
        "signer": facts.signer,
        "signed_at": facts.signed_at,
    }

    def failed(verdict: SealVerdict, name: str, detail: str) -> SealVerification:
        checks.append(SealCheck(name, False, detail))
        return SealVerification(verdict, tuple(checks), **shown)

    signed_at = facts.signed_at
    if signed_at is None:  # set whenever the checks reached the seal's
        raise ValueError("no signing time")
    revoked_at = None
    if facts.own:  # made here: the registry knows it
        if seal_status is None:
            return failed(
                SealVerdict.UNKNOWN_SEAL,
                "seal",
                f"seal {facts.seal_id} is not registered here",
            )
        revoked_at = seal_status.revoked_at
        # timeInfo has whole seconds; a token's genTime may have a fraction
        if revoked_at is not None:
            cutoff = revoked_at
            if not facts.stamped:
                cutoff = revoked_at.replace(microsecond=0)
            if signed_at >= cutoff:
                return failed(
                    SealVerdict.SEAL_NOT_VALID,
                    "seal",
                    f"signed {signed_at.isoformat()}, after the seal was revoked "
                    f"{revoked_at.isoformat()}",
                )
        shown["current_status"] = seal_status.status  # a changed document's too
    checks.append(SealCheck("seal", True, f"{facts.seal_name} valid when used"))
    if facts.after_error is not None:
        return _malformed(ValueError(facts.after_error))
    checks.extend(facts.after)
    if facts.after_verdict is not None:  # with its status, as VALID (words39)
        return SealVerification(facts.after_verdict, tuple(checks), **shown)

    # 6. the seal now
    if not facts.own or seal_status is None:
        checks.append(
            SealCheck(
                "seal status",
                True,
                "made by another seal platform: its current status is kept there",
            )
        )
        return SealVerification(SealVerdict.VALID, tuple(checks), **shown)
    current = seal_status.status + (
        f" since {revoked_at.isoformat()}" if revoked_at is not None else ""
    )
    checks.append(SealCheck("seal status", True, current))
    return SealVerification(
        SealVerdict.VALID, tuple(checks), revoked_at=revoked_at, **shown
    )


MAKER_CACHE = 4096
"""Seal makers' signature checks kept (:func:`_maker_signed`)."""
_makers: dict[bytes, bool] = {}


def _maker_signed(seal: SealData) -> bool:
    """Whether the seal maker's signature on the seal holds: a function of the
    seal's bytes alone, so the last :data:`MAKER_CACHE` answers are kept, keyed by
    SHA-256 over the algorithm, certificate, signed bytes and signature (each with its
    length): every document sealed with a seal carries the same seal (checking it
    again was about 6 % of VerifySealedDocument's CPU, bench/seal_bench.py)."""
    key = hashlib.sha256()
    parts = (seal.maker_algorithm.encode(), seal.maker_cert, seal.maker_signed)
    for part in (*parts, seal.maker_signature):
        key.update(len(part).to_bytes(8, "big") + part)
    found = _makers.get(key.digest())
    if found is not None:
        return found
    try:
        _verify(
            seal.maker_algorithm,
            seal.maker_cert,
            seal.maker_signed,
            seal.maker_signature,
        )
        found = True
    except (InvalidSignature, ValueError):
        found = False
    if len(_makers) >= MAKER_CACHE:
        # the oldest answer (another verifying thread may take it first)
        with contextlib.suppress(RuntimeError, StopIteration):
            _makers.pop(next(iter(_makers)), None)
    _makers[key.digest()] = found
    return found
