"""X.509 certificates read as a TLS peer (BoringSSL) takes them, where
``cryptography`` is stricter or raises what is no ValueError: the errors it raises
for a certificate it cannot take (:data:`CERTIFICATE_ERRORS`), and an extension read
despite a general name it does not model (:func:`certificate_extension`). Pure: no
I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization


def certificate_extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    """The value of ``cert``'s extension of class ``kind`` (``x509.BasicConstraints``,
    ``x509.KeyUsage`` or ``x509.ExtendedKeyUsage``: what a certificate's use is
    judged by), None when it has none. A subject alternative name of a kind
    ``cryptography`` does not model (x400Address, ediPartyName: RFC 5280
    §4.2.1.6), which makes it refuse every extension, is no fault: the extension is
    then read with asn1crypto, as BoringSSL takes such a certificate. Raises
    ValueError or ``x509.DuplicateExtension`` for an extension malformed or given
    twice."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except x509.UnsupportedGeneralNameType:
        return _asn1_extension(cert, kind)


def _asn1_extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    if kind is x509.BasicConstraints:
        value = parsed.basic_constraints_value
        return None if value is None else _Flags(ca=bool(value["ca"].native))
    if kind is x509.KeyUsage:
        value = parsed.key_usage_value
        if value is None:
            return None
        return _Flags(
            digital_signature="digital_signature" in value.native,
            key_cert_sign="key_cert_sign" in value.native,
        )
    if kind is x509.ExtendedKeyUsage:
        value = parsed.extended_key_usage_value
        return (
            None if value is None else [x509.ObjectIdentifier(p.dotted) for p in value]
        )
    raise ValueError(f"{kind.__name__} is not read without cryptography")


@dataclass(frozen=True)
class _Flags:
    ca: bool = False
    digital_signature: bool = False
    key_cert_sign: bool = False


#: what ``cryptography`` raises for a certificate it cannot take, beside ValueError:
#: an X.509 version other than 1 to 3 (when loaded), an extension given twice or a
#: general name of a kind it does not model (when its extensions are read)
CERTIFICATE_ERRORS = (
    ValueError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
