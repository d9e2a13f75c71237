"""The PEM files of a TLS identity, read and checked before a server is built.

gRPC and Python's ``ssl`` take the files' bytes and fail late and vaguely on a file
that holds something else: gRPC's server then does not bind (``add_secure_port``
returns 0, which read as "the address cannot be listened on", naming the wrong
setting), and ``ssl`` says ``[SSL] PEM lib``. Each file here is read within
:data:`~certseal.bounds.MAX_SMALL_FILE_BYTES`, parsed with ``cryptography``, and
refused as INVALID_ARGUMENT naming its setting (a wrong setting: exit 2 at start-up).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import os
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from certseal.bounds import MAX_SMALL_FILE_BYTES
from certseal.certificates import certificate_extension
from certseal.errors import invalid
from certseal.files import read_regular_file, without_bom

TLS_FIELDS = ("tls.ca_file", "tls.cert_file", "tls.key_file")
"""The settings of the shared ``[tls]`` identity: CA, certificate, key."""


@dataclass(frozen=True)
class TlsIdentity:
    """The PEM bytes of a CA bundle, a certificate chain and its private key."""

    ca: bytes
    cert: bytes
    key: bytes

    def __repr__(self) -> str:
        return "TlsIdentity(<key withheld>)"


_TRUSTED = re.compile(
    rb"-----BEGIN TRUSTED CERTIFICATE-----(.+?)-----END TRUSTED CERTIFICATE-----",
    re.DOTALL,
)

_BEGIN_AT_LINE_START = re.compile(rb"^-----BEGIN CERTIFICATE-----", re.MULTILINE)

#: the private keys gRPC's TLS (BoringSSL) takes
_TLS_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


def _read_pem(path: str, field: str, limit: int = MAX_SMALL_FILE_BYTES) -> bytes:
    return without_bom(read_regular_file(path, field, limit))


def _certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates of PEM ``data``: ``CERTIFICATE`` blocks, else OpenSSL's
    ``TRUSTED CERTIFICATE`` ones (a certificate followed by trust settings, as
    ``openssl x509 -trustout`` and some system bundles write them). ValueError if
    none; :class:`UnusableCertificate` for one of an X.509 version TLS does not
    take."""
    try:
        return _loaded(data)
    except x509.InvalidVersion as exc:
        raise UnusableCertificate(
            f"holds a certificate of X.509 version number {exc.parsed_version}, "
            "which no TLS peer takes (0 to 2: v1 to v3, RFC 5280 §4.1.2.1)"
        ) from None


class UnusableCertificate(ValueError):
    """A certificate read but of a form no TLS peer takes (its message says why,
    after the file's path)."""


def _loaded(data: bytes) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        trusted = [
            # the block is the certificate's DER and then its trust settings
            asn1_x509.Certificate.load(
                base64.b64decode(b"".join(body.split()), validate=True), strict=False
            ).dump()
            for body in _TRUSTED.findall(data)
        ]
        if not trusted:
            raise
        return [x509.load_der_x509_certificate(der) for der in trusted]
    begun = data.count(b"-----BEGIN CERTIFICATE-----")
    # gRPC's (BoringSSL's) and ssl's readers take a BEGIN line only at a line's
    # start: a block after other text on its line they would silently leave out
    at_start = len(_BEGIN_AT_LINE_START.findall(data))
    if not begun == at_start == len(found):
        raise SkippedBlock(begun, min(at_start, len(found)))
    return found


class SkippedBlock(ValueError):
    """A PEM bundle with more BEGIN CERTIFICATE lines than certificates read (a
    BEGIN line not at a line's start, as after a byte order mark or pasted text):
    the reader would silently leave that certificate out."""

    def __init__(self, begun: int, read: int):
        super().__init__(
            f"has {begun} BEGIN CERTIFICATE lines but {read} certificates could be "
            "read: a BEGIN line is not at the start of its line"
        )


def read_certificates(
    path: str, field: str, limit: int = MAX_SMALL_FILE_BYTES
) -> tuple[bytes, list[x509.Certificate]]:
    """The bytes of the PEM file at ``path`` (without a leading byte order mark, at
    most ``limit``) and the certificates it holds (at least one). INVALID_ARGUMENT
    (``field``) when it cannot be read or holds none."""
    data = _read_pem(path, field, limit)
    try:
        return data, _certificates(data)
    except (SkippedBlock, UnusableCertificate) as exc:
        raise invalid(field, f"{path} {exc}") from None
    except ValueError:  # its text points outside: the path and the fault say it
        raise invalid(field, f"{path} holds no PEM certificate") from None


def _spki(key: Any) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_key_pair(
    cert_file: str,
    key_file: str,
    fields: tuple[str, str],
    now: dt.datetime | None = None,
    *,
    grpc_kinds: bool = True,
) -> tuple[bytes, bytes]:
    """The PEM bytes of a certificate chain and of the private key of its first
    certificate (without a leading byte order mark). INVALID_ARGUMENT naming
    ``fields[0]`` when the chain cannot be read, holds no certificate, its first is
    not valid at ``now`` (default: the clock's) or holds a key TLS cannot use, or its
    first is not the key's while a later one is (the leaf must come first);
    ``fields[1]`` when the key cannot be read, is no unencrypted PEM private key
    (PKCS#8 or the algorithm's own form), is of a kind gRPC's TLS does not take (it
    takes RSA, EC P-256, P-384, P-521 and Ed25519; with ``grpc_kinds`` false, for
    Python's ``ssl``, which takes any key OpenSSL reads, this is not checked), or is
    another certificate's key. ``cert_file`` and ``key_file`` may be one file (a
    certificate and its key, as ``ssl``'s ``load_cert_chain`` takes them)."""
    cert_field, key_field = fields
    cert_pem, chain = read_certificates(cert_file, cert_field)
    key_pem = _read_pem(key_file, key_field)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise invalid(
            key_field, f"{key_file} is encrypted; a service reads its key unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise invalid(key_field, f"{key_file} holds no PEM private key") from None
    usable = (
        not grpc_kinds
        or isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
        or (
            isinstance(key, ec.EllipticCurvePrivateKey)
            and isinstance(key.curve, _TLS_CURVES)
        )
    )
    if not usable:
        raise invalid(
            key_field,
            f"{key_file} holds a key TLS cannot use here; give an RSA, EC P-256, "
            "P-384, P-521 or Ed25519 key",
        )
    try:
        public = [_spki(cert.public_key()) for cert in chain]
    except (ValueError, UnsupportedAlgorithm):
        raise invalid(
            cert_field, f"{cert_file} holds a certificate whose key TLS cannot use"
        ) from None
    own = _spki(key.public_key())
    if public[0] != own:
        if own in public[1:]:
            raise invalid(
                cert_field,
                f"{cert_file} lists its certificates out of order: the certificate "
                f"of the key in {key_field} must come first",
            )
        raise invalid(
            key_field,
            f"{key_file} is not the key of the certificate in {cert_field} "
            f"({cert_file})",
        )
    check_valid_now(
        chain[0], cert_field, cert_file, "every handshake would fail", now=now
    )
    return cert_pem, key_pem


def check_valid_now(
    cert: x509.Certificate,
    field: str,
    described: str,
    consequence: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """INVALID_ARGUMENT (``field``) unless ``cert`` is valid at ``now`` (default: the
    clock's; RFC 5280 §4.1.2.5, both ends included): "``described`` is valid from …
    to … UTC, not now: ``consequence``"."""
    at = now or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise invalid(
            field,
            f"{described} is valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
            f"to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not now: "
            f"{consequence}",
        )


def read_tls_identity(
    ca_file: str,
    cert_file: str,
    key_file: str,
    fields: tuple[str, str, str] = TLS_FIELDS,
) -> TlsIdentity:
    """A CA bundle, a certificate chain and its key, each checked as
    :func:`read_certificates` and :func:`read_key_pair` check them, ``fields`` naming
    the three settings (default ``[tls]``'s)."""
    ca_pem, _ = read_certificates(ca_file, fields[0])
    cert_pem, key_pem = read_key_pair(cert_file, key_file, (fields[1], fields[2]))
    return TlsIdentity(ca_pem, cert_pem, key_pem)


def section_fields(section: str) -> tuple[str, str, str]:
    """The settings of a section's own pair beside ``[tls]``'s CA, for
    :func:`read_tls_identity`: ``("tls.ca_file", "<section>.cert_file",
    "<section>.key_file")``."""
    return "tls.ca_file", f"{section}.cert_file", f"{section}.key_file"


def server_credentials(
    ca_file: str,
    cert_file: str,
    key_file: str,
    fields: tuple[str, str, str] = TLS_FIELDS,
) -> grpc.ServerCredentials:
    """mTLS: the server presents its pair and requires a client certificate from the CA.

    Raises CertsealError(INVALID_ARGUMENT) naming the setting (of ``fields``: CA,
    certificate, key) whose file cannot be read or holds something else
    (:func:`read_tls_identity`)."""
    identity = read_tls_identity(ca_file, cert_file, key_file, fields)
    return grpc.ssl_server_credentials(
        [(identity.key, identity.cert)],
        root_certificates=identity.ca,
        require_client_auth=True,
    )


def load_checked_verify_locations(
    context: ssl.SSLContext, certificates: list[x509.Certificate]
) -> None:
    """Trust ``certificates`` (as :func:`read_certificates` returned them) in
    ``context``: their DER, not a second read of the file by ``ssl`` (whose PEM
    reader would skip a block behind a byte order mark, silently)."""
    context.load_verify_locations(cadata=der_bundle(certificates))


def der_bundle(certificates: list[x509.Certificate]) -> bytes:
    """``certificates`` as concatenated DER: what ``ssl`` takes as ``cadata``."""
    return b"".join(
        cert.public_bytes(serialization.Encoding.DER) for cert in certificates
    )


def load_checked_cert_chain(
    context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes, field: str
) -> None:
    """Load the certificate chain and key :func:`read_key_pair` returned into
    ``context``. ``ssl`` takes only paths: the checked bytes go through an anonymous
    in-memory file (``memfd_create``, Linux), never to disk, so what is served is
    what was checked (a byte order mark dropped). INVALID_ARGUMENT (``field``) if
    ``ssl`` still refuses them."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is None:  # not Linux: the checked bytes cannot be handed over
        raise invalid(field, "this platform cannot hand ssl a checked key pair")
    fd = memfd("certseal-tls", getattr(os, "MFD_CLOEXEC", 0))
    try:
        data = memoryview(cert_pem.rstrip(b"\n") + b"\n" + key_pem)
        while data:
            data = data[os.write(fd, data) :]
        try:
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        except ssl.SSLError as exc:
            raise invalid(field, f"ssl refuses it: {exc.reason or exc}") from None
    finally:
        os.close(fd)


def check_client_certificate(
    identity: TlsIdentity,
    files: tuple[str, str, str],
    fields: tuple[str, str, str],
    *,
    now: dt.datetime | None = None,
) -> None:
    """What the service a client calls checks of its certificate in the TLS
    handshake, told at start (gRPC would answer every call UNAVAILABLE, "Socket
    closed"): INVALID_ARGUMENT naming the certificate's setting (``fields[1]``)
    unless a path leads from ``identity.cert``'s first certificate, through the
    chain file's others in any order, to a CA of ``identity.ca`` (``fields[0]``),
    as BoringSSL builds it (issuer and subject names compared as RFC 4514 text,
    each signature checked with ``cryptography``'s ``verify_directly_issued_by``
    where the names are equal byte for byte), on which, as BoringSSL requires
    (RFC 5280 §4.2.1.3, §4.2.1.9, §4.2.1.12): every certificate is valid at ``now``;
    each intermediate is a CA (basicConstraints) and, like the CA it ends at, may
    sign certificates when it has a key usage; the client certificate may sign
    (digitalSignature) when it has a key usage, and its key is not Ed25519 or
    Ed448 (no signature algorithm gRPC's client offers); and each certificate but
    the CA, when it has an extended key usage, names clientAuth."""
    chain = _certificates(identity.cert)
    anchors = _certificates(identity.ca)
    pool = [*chain[1:], *anchors]
    # a certificate and a CA file that disagree: either may be the wrong one (a
    # wrong CA file fails the handshake on this side, with the service's own)
    disagree = problem = (
        f"is not issued by a CA of {fields[0]} ({files[0]}): one of the two "
        "settings is wrong, and no handshake with the service it calls succeeds"
    )
    tries = itertools.count()  # signatures checked: a bound on the search
    paths = itertools.islice(_paths([chain[0]], pool, anchors, tries), MAX_PATHS)
    for index, path in enumerate(paths):
        found = _path_problem(path, now or dt.datetime.now(dt.UTC))
        if not found:
            return
        problem = found if index == 0 else problem
    refused = ", and the service it calls would refuse it in every handshake"
    tail = "" if problem is disagree else refused
    raise invalid(fields[1], f"{files[1]} {problem}{tail}")


#: certificates on a path at most (BoringSSL's own limit is about as deep), paths
#: tried at most, and issuers looked at at most (a chain file of many look-alikes)
MAX_PATH, MAX_PATHS, MAX_TRIES = 24, 64, 5_000


def _paths(
    path: list[x509.Certificate],
    pool: list[x509.Certificate],
    anchors: list[x509.Certificate],
    tries: Iterator[int],
) -> Iterator[list[x509.Certificate]]:
    """Each path from ``path``'s last certificate up to one of ``anchors`` (which
    ends it), through ``pool``, no certificate twice, at most :data:`MAX_PATH`,
    until ``tries`` passes :data:`MAX_TRIES`."""
    cert = path[-1]
    if cert in anchors:  # a self-signed client certificate the CA file trusts
        yield path
        return
    for issuer in pool:
        if next(tries) > MAX_TRIES:
            return
        if issuer in path or not _signed(cert, issuer):
            continue
        if issuer in anchors:
            yield [*path, issuer]
        elif len(path) < MAX_PATH:
            yield from _paths([*path, issuer], pool, anchors, tries)


def _signed(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` (by name, then by signature) issued ``cert``."""
    if _name(cert.issuer) != _name(issuer.subject):
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except ValueError:  # the names' bytes differ (a string type): by name alone
        return cert.issuer.public_bytes() != issuer.subject.public_bytes()
    except (TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def _name(name: x509.Name) -> str:
    return " ".join(name.rfc4514_string().casefold().split())


def _path_problem(path: list[x509.Certificate], now: dt.datetime) -> str:
    """What makes ``path`` (client certificate first, CA last) one a TLS server
    refuses; '' when nothing does."""
    for cert in path:
        try:  # each extension a path is judged by, read before it is judged
            for kind in (x509.BasicConstraints, x509.KeyUsage, x509.ExtendedKeyUsage):
                certificate_extension(cert, kind)
        except (x509.DuplicateExtension, ValueError):
            # BoringSSL parses no certificate with an extension twice or malformed
            # (RFC 5280 §4.2: "MUST NOT include more than one instance")
            return (
                f"has {_subject(cert)} on its path, with an extension given twice or "
                "malformed"
            )
    return _checked_path(path, now)


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "a certificate"


def _checked_path(path: list[x509.Certificate], now: dt.datetime) -> str:
    client, *above = path
    for cert in path:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return f"has {cert.subject.rfc4514_string()} on its path, not valid now"
    for cert in above[:-1]:
        if not getattr(certificate_extension(cert, x509.BasicConstraints), "ca", False):
            return f"has {cert.subject.rfc4514_string()} on its path, which is no CA"
    for cert in above:
        usage = certificate_extension(cert, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            return f"has {cert.subject.rfc4514_string()} on its path, not for signing"
    usage = certificate_extension(client, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        return "is not for signing (its key usage lacks digitalSignature)"
    if isinstance(client.public_key(), ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "has an Ed25519 or Ed448 key, which gRPC's TLS client cannot sign with"
    for cert in path[:-1] if len(path) > 1 else path:
        usages = certificate_extension(cert, x509.ExtendedKeyUsage)
        if usages is not None and x509.ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            return "is not for TLS clients (its extended key usage lacks clientAuth)"
    return ""
