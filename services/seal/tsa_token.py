"""Making an RFC 3161 time-stamp token (section 2.4.2; CMS SignedData, RFC 5652):
the TSA's signing key, pyHanko's builder taught to sign with EC keys, and the token's
DER written directly for the process's own requests (services.seal.tsa).

A TSA key is RSA of at least :data:`MIN_RSA_BITS` bits (PKCS #1 v1.5, RFC 5754
section 3.2) or EC P-256 (ECDSA, RFC 5753; RFC 5754 section 3.3).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from asn1crypto import algos, cms, core, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.general import simple_cms_attribute
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from certseal.der import tlv as _tlv
from certseal.errors import invalid

#: a TSA's signing key: RSA (PKCS #1 v1.5) or EC P-256 (ECDSA)
TsaKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
#: the smallest RSA TSA key accepted (NIST SP 800-57 Part 1: 112-bit strength)
MIN_RSA_BITS = 2048


def sign_with(key: TsaKey, data: bytes, md_algorithm: str = "sha256") -> bytes:
    """``key``'s signature over ``data`` with the ``md_algorithm`` hash: PKCS #1 v1.5
    for RSA, DER ECDSA-Sig-Value for EC (RFC 5754 section 3)."""
    algorithm = get_pyca_cryptography_hash(md_algorithm.upper())
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), algorithm)
    return key.sign(data, ec.ECDSA(algorithm))


def tsa_key(key: object, what: str = "") -> TsaKey:
    """``key`` when a TSA signs with its kind: RSA of at least :data:`MIN_RSA_BITS`
    bits or EC P-256. Raises INVALID_ARGUMENT (``seal.tsa_key_file``, the message
    starting with ``what``, e.g. the file's path and "holds") otherwise."""
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return key
    rule = (
        f"must be an RSA key of at least {MIN_RSA_BITS} bits or an EC P-256 key "
        "(PKCS#8 or SEC 1, PEM or DER)"
    )
    if what:
        rule = f"{what} a key a TSA does not sign with; it {rule}"
    raise invalid("seal.tsa_key_file", rule)


class TsaBuilder(DummyTimeStamper):
    """pyHanko's TSA builder with the key loaded once (pyHanko loads it from DER for
    every token, and loading an RSA key checks it: tens of milliseconds), and signing
    with an EC key too (pyHanko's builder is RSA-only)."""

    def __init__(
        self,
        cert: asn1_x509.Certificate,
        key: keys.PrivateKeyInfo,
        at: dt.datetime,
        policy: str,
    ) -> None:
        super().__init__(tsa_cert=cert, tsa_key=key, fixed_dt=at)
        self.policy = policy

    def _build_tst_info(
        self,
        message_imprint: tsp.MessageImprint,
        dt: dt.datetime,
        req: tsp.TimeStampReq,
    ) -> tsp.TSTInfo:
        # pyHanko's builder names a fixed third-party policy; ours names this TSA's
        info = super()._build_tst_info(message_imprint, dt, req)
        info["policy"] = tsp.ObjectIdentifier(self.policy)
        return info

    signer: TsaKey
    signing_certificate: bytes  # DER of the ESS attribute, made once

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: dt.datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        # the signed attributes pyHanko's builder writes (RFC 3161 2.4.1, RFC 5035)
        md = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        md.update(tst_info_data)
        attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute(
                    "signing_time", cms.Time({"utc_time": core.UTCTime(dt)})
                ),
                cms.CMSAttribute.load(self.signing_certificate),
                simple_cms_attribute("message_digest", md.finalize()),
            ]
        )
        return sign_with(self.signer, attrs.dump(), md_algorithm), attrs

    def _build_signed_data(
        self,
        tst_info_data: bytes,
        md_algorithm: str,
        signature: bytes,
        signed_attrs: cms.CMSAttributes,
    ) -> dict:
        signed = super()._build_signed_data(
            tst_info_data, md_algorithm, signature, signed_attrs
        )
        if isinstance(self.signer, ec.EllipticCurvePrivateKey):
            # pyHanko names rsassa_pkcs1v15 whatever the key: ecdsa-with-<hash>
            # (RFC 5753 section 2.1.1), not yet encoded, so the token carries it
            signed["signer_infos"][0]["signature_algorithm"] = (
                algos.SignedDigestAlgorithm({"algorithm": f"{md_algorithm}_ecdsa"})
            )
        return signed


_SEQUENCE, _SET, _OCTET_STRING, _CONTEXT_0 = 0x30, 0x31, 0x04, 0xA0
_MESSAGE_DIGEST_OID = core.ObjectIdentifier("1.2.840.113549.1.9.4").dump()


class TokenParts:
    """The DER of a TimeStampToken (RFC 3161 2.4.2; CMS SignedData, RFC 5652 5) in
    the shape pyHanko's builder makes, from the parts of one ``template`` token."""

    def __init__(self, template: bytes) -> None:
        info = cms.ContentInfo.load(template)
        signed = info["content"]
        signer = signed["signer_infos"][0]
        tst = signed["encap_content_info"]["content"].parsed
        attrs = {a["type"].native: a.dump() for a in signer["signed_attrs"]}
        self.content_type = info["content_type"].dump()
        self.signed_head = signed["version"].dump() + signed["digest_algorithms"].dump()
        self.encap_type = signed["encap_content_info"]["content_type"].dump()
        self.certificates = signed["certificates"].dump()
        self.signer_head = (
            signer["version"].dump()
            + signer["sid"].dump()
            + signer["digest_algorithm"].dump()
        )
        self.signature_algorithm = signer["signature_algorithm"].dump()
        self.constant_attrs = [attrs["content_type"], attrs["signing_certificate"]]
        self.signing_time_type = cms.CMSAttributeType("signing_time").dump()
        self.tst_head = tst["version"].dump() + tst["policy"].dump()
        self.imprint_algorithm = tst["message_imprint"]["hash_algorithm"].dump()
        self.tsa = tst["tsa"].dump()

    def token(
        self,
        key: TsaKey,
        digest: bytes,
        *,
        at: dt.datetime,
        serial: int,
        nonce: int,
    ) -> bytes:
        """The token over the SHA-256 ``digest``, made at ``at`` (microseconds
        kept), with its serial number and nonce, signed with ``key``."""
        tst = _tlv(
            _SEQUENCE,
            self.tst_head
            + _tlv(_SEQUENCE, self.imprint_algorithm + _tlv(_OCTET_STRING, digest))
            + core.Integer(serial).dump()
            + core.GeneralizedTime(at).dump()
            + core.Integer(nonce).dump()
            + self.tsa,
        )
        signing_time = _tlv(
            _SEQUENCE,
            self.signing_time_type
            + _tlv(_SET, cms.Time({"utc_time": core.UTCTime(at)}).dump()),
        )
        message_digest = _tlv(
            _SEQUENCE,
            _MESSAGE_DIGEST_OID
            + _tlv(_SET, _tlv(_OCTET_STRING, hashlib.sha256(tst).digest())),
        )
        # DER orders a SET OF by the elements' encodings (X.690 §11.6)
        attrs = b"".join(sorted([*self.constant_attrs, signing_time, message_digest]))
        signature = sign_with(key, _tlv(_SET, attrs))
        signer = _tlv(
            _SEQUENCE,
            self.signer_head
            + _tlv(_CONTEXT_0, attrs)  # signedAttrs [0] IMPLICIT
            + self.signature_algorithm
            + _tlv(_OCTET_STRING, signature),
        )
        signed = _tlv(
            _SEQUENCE,
            self.signed_head
            + _tlv(
                _SEQUENCE,
                self.encap_type + _tlv(_CONTEXT_0, _tlv(_OCTET_STRING, tst)),
            )
            + self.certificates
            + _tlv(_SET, signer),
        )
        return _tlv(_SEQUENCE, self.content_type + _tlv(_CONTEXT_0, signed))
