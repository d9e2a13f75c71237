"""Trusted seal CAs and certificate-path validation for SM2 and ECDSA certificates.

The seal service trusts its own seal CA plus a configured set of seal CAs (files of
PEM or DER certificates: roots and intermediates of national or provincial seal
platforms). A seal maker's or signer's certificate is valid when a path leads from it
through trusted intermediates to a trusted root, and every certificate on that path
(RFC 5280 section 6, without policies or name constraints):

- is signed by the next one's key: SM2-with-SM3 (GB/T 32918, the signer id
  ``1234567812345678`` of GM/T 0009) through :func:`certseal.crypto.verify`, or
  ECDSA with SHA-256/384/512; the outer ``signatureAlgorithm`` equals the
  ``tbsCertificate.signature`` and matches the issuer's key;
- names the next one as issuer;
- below the trust anchor: is valid at the signing time;
- if it issues (every intermediate; a trust anchor is taken as configured, RFC 5280
  section 6.1): is a CA by basic constraints,
  within its path length, and, when it has a key usage, may sign certificates
  (``keyCertSign``);
- as the leaf: when it has a key usage, may sign (``digitalSignature`` or
  ``nonRepudiation``);
- has no critical extension this validation does not understand.

Structure is read with asn1crypto (``cryptography`` holds no SM2 key). Paths are at
most :data:`MAX_PATH` certificates long.

Making a seal is not signing with one (atk15 F13). GB/T 38540 tells the seal maker
(制章者: the seal-making system whose signature over ``eSealInfo`` makes the seal) from
the seal's signers (用章者: the certificates in its ``certList``). A seal CA's
certificate alone does not make its holder a maker: a seal maker must also be
authorised (:func:`services.seal.makers.maker_problem`) by one of the store's
:class:`~services.seal.makers.MakerRule` s (``[seal]
seal_makers``, one or more per trusted platform: its seal-making systems' certificates
themselves, or a maker CA whose certificates carry a required extended key usage or
certificate policy), or chain to the platform's own seal CA, which certifies nothing
but the platform's own seal makers and seal keys, all held by this platform.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certseal import der

# importing it also makes asn1crypto read ediPartyName
from certseal.certificates import common_name, name_decodes, name_values, same_name
from certseal.crypto import InvalidSignature, Suite, signature_from_der, verify
from certseal.errors import invalid
from certseal.files import read_regular_file, without_bom

if TYPE_CHECKING:  # the rules live beside the check that reads them
    from services.seal.makers import MakerRule

MAX_PATH = 6
"""Certificates on a path, leaf and root included."""
CACHE_ENTRIES = 4096
"""Parsed certificates and issuer signature results kept (both are functions of the
bytes alone), so verifying many documents of the same seals does not redo them."""
KEPT_BYTES = 8 * 1024  # the largest certificate kept (0.5 to 2 KiB is usual)
_parsed: dict[bytes, asn1_x509.Certificate] = {}
_signatures: dict[tuple[bytes, bytes], str | None] = {}
MAX_TRUST_FILE_BYTES = 1024 * 1024

SM2_WITH_SM3 = "1.2.156.10197.1.501"
_ECDSA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "1.2.840.10045.4.3.2": hashes.SHA256,
    "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}
_SM2_CURVE = "1.2.156.10197.1.301"
_UNDERSTOOD = frozenset(
    {
        "basic_constraints",
        "key_usage",
        "extended_key_usage",
        "subject_alt_name",
        "key_identifier",
        "authority_key_identifier",
        "certificate_policies",
        "crl_distribution_points",
        "authority_information_access",
    }
)


@dataclass(frozen=True)
class TrustedCa:
    """One trusted CA certificate (``own``: the platform's own seal CA)."""

    der: bytes
    cert: asn1_x509.Certificate = field(repr=False, compare=False)
    own: bool = False

    @property
    def name(self) -> str:
        """The subject, as one line."""
        return subject_of(self.cert)


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors (self-signed roots, and the platform's own seal CA) and the
    intermediates that may lead to them, and who of other platforms may make seals
    (``makers``; :func:`maker_problem`)."""

    anchors: tuple[TrustedCa, ...] = ()
    intermediates: tuple[TrustedCa, ...] = ()
    makers: tuple[MakerRule, ...] = ()

    @classmethod
    def of(
        cls,
        certificates: Iterable[bytes],
        *,
        own: Iterable[bytes] = (),
        makers: Iterable[MakerRule] = (),
    ) -> TrustStore:
        """A store of DER certificates: self-signed ones are anchors, the others
        intermediates; every certificate in ``own`` is an anchor (the platform's seal
        CA); ``makers``: who may make seals under the configured CAs. ValueError for
        bytes that are not a certificate."""
        anchors: list[TrustedCa] = []
        intermediates: list[TrustedCa] = []
        for data in own:
            anchors.append(TrustedCa(data, der_certificate(data), own=True))
        for data in certificates:
            cert = der_certificate(data)
            if _self_issued(cert):
                anchors.append(TrustedCa(data, cert))
            else:
                intermediates.append(TrustedCa(data, cert))
        return cls(tuple(anchors), tuple(intermediates), tuple(makers))

    def with_own(self, ca_cert: bytes) -> TrustStore:
        """This store plus the platform's own seal CA as an anchor."""
        own = TrustedCa(ca_cert, der_certificate(ca_cert), own=True)
        return TrustStore((own, *self.anchors), self.intermediates, self.makers)


def _self_issued(cert: asn1_x509.Certificate) -> bool:
    """Whether ``cert`` names itself as its issuer (asn1crypto's ``self_signed``
    "maybe" or "yes", but with :func:`same_name`: asn1crypto's comparison raises for
    a name that does not decode), and no key identifiers say otherwise."""
    if not same_name(cert.subject, cert.issuer):
        return False
    key, authority = cert.key_identifier, cert.authority_key_identifier
    return not (key and authority and key != authority)


_BEGIN = re.compile(rb"-----BEGIN ")


def load_trust_files(
    files: Iterable[str], field: str = "seal.trusted_ca_files"
) -> list[bytes]:
    """The DER certificates in ``files`` (each PEM with one or more certificates, or
    one DER certificate, at most :data:`MAX_TRUST_FILE_BYTES`).

    Raises INVALID_ARGUMENT (``field``) naming the file that cannot be read or holds
    something else.
    """
    found: list[bytes] = []
    for name in files:
        # a byte order mark dropped: asn1crypto would skip the marked BEGIN line
        # as text between blocks, and that certificate with it, silently
        data = without_bom(read_regular_file(Path(name), field, MAX_TRUST_FILE_BYTES))
        try:
            blobs = (
                [body for _kind, _headers, body in pem.unarmor(data, multiple=True)]
                if pem.detect(data)
                else [data]
            )
        except ValueError:  # binascii's "Incorrect padding", an unclosed armour
            raise invalid(field, f"{name} holds no PEM certificate") from None
        if not blobs:
            raise invalid(field, f"{name} holds no certificate")
        begun = len(_BEGIN.findall(data)) if pem.detect(data) else 1
        if begun != len(blobs):  # a block the reader skipped: never drop one quietly
            raise invalid(
                field,
                f"{name} has {begun} BEGIN lines but {len(blobs)} PEM blocks could "
                "be read: a block is damaged (a BEGIN line not at a line's start?)",
            )
        for blob in blobs:
            try:
                der_certificate(blob)
            except ValueError as exc:
                raise invalid(field, f"{name}: {exc}") from None
            found.append(blob)
    return found


@dataclass(frozen=True)
class PathResult:
    """What validating one certificate found: ``ok``, the path's subjects from the
    leaf up, whether it ends at the platform's own CA, and why it failed."""

    ok: bool
    detail: str
    path: tuple[str, ...] = ()
    own: bool = False
    chain: tuple[bytes, ...] = ()
    """The path's certificates (DER), leaf first."""


#: Validity windows the time checks of one validation looked at: (not_before,
#: not_after, passed) per check.
_Windows = list[tuple[dt.datetime, dt.datetime, bool]]
#: validated paths: (leaf DER, role) -> (the store, from, until, result)
_paths: dict[
    tuple[bytes, str], tuple[TrustStore, dt.datetime, dt.datetime, PathResult]
] = {}


def validate_path(
    leaf: bytes, trust: TrustStore, at: dt.datetime, *, role: str = "certificate"
) -> PathResult:
    """Validate ``leaf`` (DER) to one of ``trust``'s anchors at the time ``at``.

    Never raises: a certificate that does not decode is a failed result.

    A path found valid is kept (the last :data:`CACHE_ENTRIES`) with the window of
    times for which every time check made on the way passed: everything else the
    validation looks at (names, signatures, constraints, key usages, extensions) is
    a function of the certificates' bytes and the store alone, so a validation at
    another time inside that window takes the same steps to the same result, and is
    answered from the cache. Not kept: a validation in which any time check failed
    (one candidate issuer expired, say), or of a leaf over :data:`KEPT_BYTES`.
    """
    key = (bytes(leaf), role)
    kept = _paths.get(key)
    if kept is not None and kept[0] is trust and kept[1] <= at <= kept[2]:
        return kept[3]
    windows: _Windows = []
    result = _validate(leaf, trust, at, role, windows)
    if result.ok and windows and all(passed for _, _, passed in windows):
        start = max(w[0] for w in windows)
        end = min(w[1] for w in windows)
        _remember(_paths, key, (trust, start, end, result), len(leaf))
    return result


def _validate(
    leaf: bytes, trust: TrustStore, at: dt.datetime, role: str, windows: _Windows
) -> PathResult:
    try:
        cert = der_certificate(leaf)
    except ValueError as exc:
        return PathResult(False, f"the {role} is not a certificate: {exc}")
    try:
        problem = _leaf_problem(cert, at, windows)
        if problem:
            return PathResult(False, f"the {role} ({subject_of(cert)}) {problem}")
        failures: list[str] = []
        found = _extend([cert], trust, at, failures, windows)
        if found is not None:
            chain, anchor = found
            return PathResult(
                True,
                " → ".join(subject_of(c) for c in chain),
                tuple(subject_of(c) for c in chain),
                own=anchor.own,
                chain=(bytes(leaf), *(c.dump() for c in chain[1:])),
            )
        why = failures[0] if failures else "no trusted seal CA issued it"
        return PathResult(False, f"the {role} ({subject_of(cert)}): {why}")
    except Exception as exc:  # a certificate that decodes but not all the way
        return PathResult(False, f"the {role} cannot be validated: {exc}")


def _extend(
    chain: list[asn1_x509.Certificate],
    trust: TrustStore,
    at: dt.datetime,
    failures: list[str],
    windows: _Windows,
) -> tuple[list[asn1_x509.Certificate], TrustedCa] | None:
    """Depth-first: the path from ``chain`` to an anchor, or None (why in failures)."""
    child = chain[-1]
    issuer_name = child["tbs_certificate"]["issuer"]
    for anchor in trust.anchors:
        if not same_name(anchor.cert["tbs_certificate"]["subject"], issuer_name):
            continue
        problem = _issued_problem(
            child, anchor.cert, at, below=len(chain) - 1, anchor=True
        )
        if problem is None:
            return [*chain, anchor.cert], anchor
        failures.append(problem)
    if len(chain) + 1 >= MAX_PATH:
        failures.append(f"no trusted path within {MAX_PATH} certificates")
        return None
    seen = {c.dump() for c in chain}
    for ca in trust.intermediates:
        if ca.der in seen or not same_name(
            ca.cert["tbs_certificate"]["subject"], issuer_name
        ):
            continue
        problem = _issued_problem(
            child, ca.cert, at, below=len(chain) - 1, windows=windows
        )
        if problem is not None:
            failures.append(problem)
            continue
        found = _extend([*chain, ca.cert], trust, at, failures, windows)
        if found is not None:
            return found
    if not name_decodes(issuer_name):  # said, as a name matched less than usual
        failures.append(
            f"{subject_of(child)} names an issuer whose name does not decode as its "
            "string types say: it is matched byte for byte, and no trusted seal CA's "
            "name has those bytes"
        )
    return None


def _issued_problem(
    child: asn1_x509.Certificate,
    issuer: asn1_x509.Certificate,
    at: dt.datetime,
    *,
    below: int,
    anchor: bool = False,
    windows: _Windows | None = None,
) -> str | None:
    """Why ``issuer`` cannot have issued ``child`` (``below``: CAs between them and
    the leaf, for the path length), or None. A trust anchor is taken as configured
    (RFC 5280 section 6.1: its name and key are the input; its validity, basic
    constraints and key usage are not checked, and ofdrw's root has no
    keyCertSign); only its signature on ``child`` is."""
    name = subject_of(issuer)
    if anchor:
        signature_problem = _cached_signature_problem(child, issuer)
        if signature_problem:
            return f"{subject_of(child)}: {signature_problem} (issuer {name})"
        return None
    problem = _validity_problem(issuer, at, windows) or _critical_problem(issuer)
    if problem:
        return f"issuer {name} {problem}"
    constraints = issuer.basic_constraints_value
    if constraints is None or not constraints["ca"].native:
        return f"issuer {name} is not a CA (basic constraints CA:false or absent)"
    limit = constraints["path_len_constraint"].native
    if limit is not None and below > limit:
        return f"issuer {name} allows {limit} CA(s) below it; the path has {below}"
    usage = issuer.key_usage_value
    if usage is not None and "key_cert_sign" not in usage.native:
        return f"issuer {name}'s key usage does not allow signing certificates"
    signature_problem = _cached_signature_problem(child, issuer)
    if signature_problem:
        return f"{subject_of(child)}: {signature_problem} (issuer {name})"
    return None


def _leaf_problem(
    cert: asn1_x509.Certificate, at: dt.datetime, windows: _Windows
) -> str | None:
    problem = _validity_problem(cert, at, windows) or _critical_problem(cert)
    if problem:
        return problem
    usage = cert.key_usage_value
    if usage is not None and not {"digital_signature", "non_repudiation"} & set(
        usage.native
    ):
        return "has a key usage that allows neither digitalSignature nor nonRepudiation"
    return None


def _validity_problem(
    cert: asn1_x509.Certificate, at: dt.datetime, windows: _Windows | None = None
) -> str | None:
    validity = cert["tbs_certificate"]["validity"]
    start, end = validity["not_before"].native, validity["not_after"].native
    passed = start <= at <= end
    if windows is not None:
        windows.append((start, end, passed))
    if not passed:
        return (
            f"was not valid at {at.isoformat()} (valid {start.isoformat()} to "
            f"{end.isoformat()})"
        )
    return None


def _critical_problem(cert: asn1_x509.Certificate) -> str | None:
    unknown = [name for name in cert.critical_extensions if name not in _UNDERSTOOD]
    if unknown:
        return f"has critical extensions this platform does not understand: {unknown}"
    return None


def _cached_signature_problem(
    child: asn1_x509.Certificate, issuer: asn1_x509.Certificate
) -> str | None:
    key = (child.dump(), issuer.dump())
    if key in _signatures:
        return _signatures[key]
    found = _signature_problem(child, issuer)
    _remember(_signatures, key, found, max(len(key[0]), len(key[1])))
    return found


def _remember(cache: dict, key: object, value: object, size: int) -> None:
    """Keep ``value`` (the oldest going past :data:`CACHE_ENTRIES`), unless the
    caller's certificate in the key is over :data:`KEPT_BYTES` (``size``; atk9)."""
    if size > KEPT_BYTES:
        return
    if len(cache) >= CACHE_ENTRIES:
        # the oldest entry (another verifying thread may take it first)
        with contextlib.suppress(RuntimeError, StopIteration):
            cache.pop(next(iter(cache)), None)
    cache[key] = value


def _signature_problem(
    child: asn1_x509.Certificate, issuer: asn1_x509.Certificate
) -> str | None:
    algorithm = child["signature_algorithm"]["algorithm"].dotted
    if child["tbs_certificate"]["signature"]["algorithm"].dotted != algorithm:
        return "signatureAlgorithm differs from tbsCertificate.signature"
    public = issuer["tbs_certificate"]["subject_public_key_info"]
    curve = ""
    if public["algorithm"]["algorithm"].native == "ec":
        chosen = public["algorithm"]["parameters"].chosen
        curve = chosen.dotted if hasattr(chosen, "dotted") else ""
    signed = child["tbs_certificate"].dump()
    value = child["signature_value"].native
    if algorithm == SM2_WITH_SM3:
        if curve != _SM2_CURVE:
            return "signed with SM2-with-SM3 but the issuer's key is not an SM2 key"
        try:
            verify(
                Suite.SM2, public.dump(), signed, signature_from_der(Suite.SM2, value)
            )
        except InvalidSignature:
            return "the issuer's SM2 signature on it is wrong"
        return None
    digest = _ECDSA_HASHES.get(algorithm)
    if digest is None:
        return f"signature algorithm {algorithm} is neither SM2-with-SM3 nor ECDSA"
    if not curve or curve == _SM2_CURVE:
        return "signed with ECDSA but the issuer's key is not an ECDSA key"
    try:
        key = serialization.load_der_public_key(public.dump())
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return "signed with ECDSA but the issuer's key is not an ECDSA key"
        key.verify(value, signed, ec.ECDSA(digest()))
    except Exception:
        return "the issuer's ECDSA signature on it is wrong"
    return None


def der_certificate(data: bytes) -> asn1_x509.Certificate:
    cached = _parsed.get(data)
    if cached is not None:
        return cached
    cert = _parse(data)
    _remember(_parsed, bytes(data), cert, len(data))
    return cert


def _parse(data: bytes) -> asn1_x509.Certificate:
    try:
        # bounded headers, and no long tag in an extension's nested DER, before
        # asn1crypto sees them (critical_extensions parses every extension)
        der.check_outside(data)
        cert = asn1_x509.Certificate.load(data, strict=True)
        # a name is read whole, but a string that does not decode is no fault
        # (certseal.certificates: shown leniently, matched byte for byte only)
        _ = name_values(cert.subject), cert["signature_value"].native
        validity = cert["tbs_certificate"]["validity"].native
        _ = cert.critical_extensions
        if any(t.utcoffset() is None for t in validity.values()):
            # RFC 5280 4.1.2.5: UTCTime or GeneralizedTime in Z; asn1crypto reads a
            # zoneless one as a naive datetime, which no aware time compares with
            raise ValueError("a validity time has no zone (RFC 5280 4.1.2.5: Z)")
        return cert
    except Exception as exc:
        raise ValueError(f"not a DER X.509 certificate ({exc})") from None


def subject_of(cert: asn1_x509.Certificate) -> str:
    try:
        common = common_name(cert["tbs_certificate"]["subject"])
    except ValueError:
        common = ""
    if common:
        return common
    return "SHA-256 " + hashlib.sha256(cert.dump()).hexdigest()[:16]
