"""Seals as other platforms make them, with ofdrw's own test keys (its seal maker
``SealBuilder.p12`` and its signer ``USER.p12``, tests/seal/data/ofdrw_field): GB/T 38540
v4 and GM/T 0031 v1 structures written field by field, in the variants the ecosystem
writes, an ofdrw-like OFD sealer, and an SM2/SM3 RFC 3161 token (GB/T 20520) from a
TSA of the test's own.

Everything chains to ofdrw's root (tests/seal/data/ofdrw/ofdrw_ROOT.cer) with ofdrw's
maker certificate as the seal maker, so a seal service that trusts ofdrw (the
``trusting_app`` of test_rpc_interop) verifies them. ofdrw's certificates are valid
2020-04-21 to 2022-04-21: every signing time here lies inside.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gmssl_pyx
from asn1crypto import cms, core, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certseal.crypto import (
    SoftwareSigner,
    Suite,
    digest,
    generate_key,
    signature_to_der,
)
from services.seal.certificates import (
    load_sm2_key,
    make_sm2_ca,
    read_certificate,
    sign_certificate,
)
from services.seal.makers import MakerRule
from services.seal.ses_read import read_seal
from services.seal.trust import TrustStore

OFDRW = Path(__file__).parent / "data" / "ofdrw"
FIELD = Path(__file__).parent / "data" / "ofdrw_field"
ROOT = (OFDRW / "ofdrw_ROOT.cer").read_bytes()
MAKER_CERT = (OFDRW / "ofdrw_maker.cer").read_bytes()
USER_CERT = (FIELD / "ofdrw_user.cer").read_bytes()
TRUST = TrustStore.of([ROOT], makers=[MakerRule("ofdrw", frozenset({MAKER_CERT}))])
SM2_SM3 = "1.2.156.10197.1.501"
SM3 = "1.2.156.10197.1.401"
SIGNED_AT = dt.datetime(2021, 6, 1, 8, 0, tzinfo=dt.UTC)
_SEAL_FROM = dt.datetime(2020, 6, 1, tzinfo=dt.UTC)
_SEAL_UNTIL = dt.datetime(2022, 4, 1, tzinfo=dt.UTC)


def _signer(key_file: str, cert: bytes) -> SoftwareSigner:
    return load_sm2_key(
        (FIELD / key_file).read_bytes(), read_certificate(cert).public_key_der
    )


MAKER = _signer("ofdrw_maker_key.pem", MAKER_CERT)
USER = _signer("ofdrw_user_key.pem", USER_CERT)
PICTURE = read_seal((OFDRW / "UserV4.esl").read_bytes()).picture


# --- DER written by hand, as other platforms write it ------------------------------


def tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + body


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def integer(value: int) -> bytes:
    return bytes(core.Integer(value).dump())


def ia5(text: str) -> bytes:
    return tlv(0x16, text.encode())


def octets(data: bytes) -> bytes:
    return tlv(0x04, data)


def bits(data: bytes) -> bytes:
    return tlv(0x03, b"\x00" + data)


def oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


def gtime(at: dt.datetime) -> bytes:
    return tlv(0x18, at.strftime("%Y%m%d%H%M%SZ").encode())


def utime(at: dt.datetime) -> bytes:
    return tlv(0x17, at.strftime("%y%m%d%H%M%SZ").encode())


def raw_to_der(raw: bytes) -> bytes:
    """An SM2 signature r||s as DER SEQUENCE {r, s} (GB/T 35276)."""
    return seq(
        integer(int.from_bytes(raw[:32], "big")),
        integer(int.from_bytes(raw[32:], "big")),
    )


def sm2_sign(signer: SoftwareSigner, data: bytes, form: str = "der") -> bytes:
    """``signer``'s SM2 signature of ``data``: DER, or the raw 64 bytes r||s some
    platforms write (their SKF devices return it so)."""
    raw = signer.sign_now(data)
    return raw if form == "raw" else raw_to_der(raw)


# --- GB/T 38540 v4 and GM/T 0031 v1 -----------------------------------------------


def seal_v4(
    *,
    es_id: str = "ATKDOCS-V4",
    name: str = "atk-docs 测试章",
    cert_list: bytes | None = None,
    cert_list_type: int = 1,
    ext: bytes = b"",
) -> bytes:
    """A v4 SESeal made by ofdrw's seal maker for ofdrw's signer, valid 2020-06-01
    to 2022-04-01."""
    header = seq(ia5("ES"), integer(4), ia5("ATKDOCS"))
    listed = cert_list if cert_list is not None else seq(octets(USER_CERT))
    prop = seq(
        integer(1),
        tlv(0x0C, name.encode()),
        integer(cert_list_type),
        listed,
        gtime(_SEAL_FROM),
        gtime(_SEAL_FROM),
        gtime(_SEAL_UNTIL),
    )
    picture = seq(ia5("png"), octets(PICTURE), integer(40), integer(40))
    info = seq(header, ia5(es_id), prop, picture, *([ext] if ext else []))
    return seq(info, octets(MAKER_CERT), oid(SM2_SM3), bits(sm2_sign(MAKER, info)))


def signature_v4(
    document: bytes,
    *,
    seal: bytes | None = None,
    property_info: str = "/Doc_0/Signs/Sign_0/Signature.xml",
    form: str = "der",
    time_stamp: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """A v4 SES_Signature of ``document`` by ofdrw's signer at :data:`SIGNED_AT`;
    ``form`` "raw" writes the signature as r||s; ``time_stamp`` makes a token over
    the signature value (``timeStamp [0] EXPLICIT``, as ofdrw writes it)."""
    tbs = seq(
        integer(4),
        seal if seal is not None else seal_v4(),
        gtime(SIGNED_AT),
        bits(digest(Suite.SM2, document)),
        ia5(property_info),
    )
    value = sm2_sign(USER, tbs, form)
    parts = [tbs, octets(USER_CERT), oid(SM2_SM3), bits(value)]
    if time_stamp is not None:
        parts.append(tlv(0xA0, bits(time_stamp(value))))
    return seq(*parts)


def seal_v1(*, es_id: str = "ATKDOCS-V1", name: str = "atk-docs v1 章") -> bytes:
    """A GM/T 0031-2014 SESeal: the maker signs SEQUENCE {esealInfo, cert,
    signatureAlgorithm}; UTCTime dates."""
    header = seq(ia5("ES"), integer(1), ia5("ATKDOCS"))
    prop = seq(
        integer(1),
        tlv(0x0C, name.encode()),
        seq(octets(USER_CERT)),
        utime(_SEAL_FROM),
        utime(_SEAL_FROM),
        utime(_SEAL_UNTIL),
    )
    picture = seq(ia5("png"), octets(PICTURE), integer(40), integer(40))
    info = seq(header, ia5(es_id), prop, picture)
    signed = seq(info, octets(MAKER_CERT), oid(SM2_SM3))
    return seq(
        info, seq(octets(MAKER_CERT), oid(SM2_SM3), bits(sm2_sign(MAKER, signed)))
    )


def signature_v1(
    document: bytes,
    *,
    seal: bytes | None = None,
    property_info: str = "/Doc_0/Signs/Sign_0/Signature.xml",
    form: str = "der",
    time_info: bytes | None = None,
) -> bytes:
    """A GM/T 0031-2014 SES_Signature of ``document`` (timeInfo a BIT STRING holding
    a UTCTime, or ``time_info``: GM/T 0031 lets it hold a time-stamp token; the
    signer's certificate and algorithm inside toSign); ``form`` "raw" writes the
    signature as r||s."""
    tbs = seq(
        integer(1),
        seal if seal is not None else seal_v1(),
        bits(time_info if time_info is not None else utime(SIGNED_AT)),
        bits(digest(Suite.SM2, document)),
        ia5(property_info),
        octets(USER_CERT),
        oid(SM2_SM3),
    )
    return seq(tbs, bits(sm2_sign(USER, tbs, form)))


# --- an OFD sealed as ofdrw's OFDSigner lays it out (every file protected) ---------

_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'
SignedValueMaker = Callable[[bytes, str], bytes]


def seal_files(
    files: dict[str, bytes],
    *,
    signed_value: SignedValueMaker,
    seal: bytes,
    doc: str = "Doc_0",
    page_ref: str = "1",
    leave_out: frozenset[str] = frozenset(),
    kind: str = "Seal",
    signed_at_text: str = "2021-06-01 08:00:00",
) -> dict[str, bytes]:
    """``files`` (an unzipped OFD) with one more seal as ofdrw's OFDSigner writes it:
    ``Sign_<k>`` with Seal.esl, Signature.xml referencing every file of the package
    but ``leave_out`` (SM3), one entry appended to Signatures.xml (created and named in OFD.xml's first
    DocBody for the first, unless OFD.xml names it already), and ``signed_value(signature_xml, property_info)`` as SignedValue.dat.
    ``kind`` "Sign": a digital signature instead (no Seal.esl, no stamp; ``seal``
    is unused)."""
    files = dict(files)
    signs = f"{doc}/Signs"
    listing = f"{signs}/Signatures.xml"
    k = 0
    while any(name.startswith(f"{signs}/Sign_{k}/") for name in files):
        k += 1
    folder = f"{signs}/Sign_{k}"
    entries, most = "", 0
    if listing in files:
        old = files[listing].decode()
        entries = "".join(re.findall(r"<ofd:Signature [^>]*/>", old))
        found = re.search(r"<ofd:MaxSignId>(\d+)</ofd:MaxSignId>", old)
        most = int(found.group(1)) if found else 0
    elif f"/{listing}<".encode() not in files["OFD.xml"]:  # not declared yet
        files["OFD.xml"] = files["OFD.xml"].replace(
            b"</ofd:DocRoot>",
            f"</ofd:DocRoot><ofd:Signatures>/{listing}</ofd:Signatures>".encode(),
            1,
        )
    most += 1
    entries += (
        f'<ofd:Signature ID="{most}" Type="{kind}" BaseLoc="/{folder}/Signature.xml"/>'
    )
    files[listing] = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Signatures {_NS}>'
        f"<ofd:MaxSignId>{most}</ofd:MaxSignId>{entries}</ofd:Signatures>"
    ).encode()
    if kind == "Seal":
        files[f"{folder}/Seal.esl"] = seal
    references = "".join(
        f'<ofd:Reference FileRef="/{name}"><ofd:CheckValue>'
        f"{base64.b64encode(digest(Suite.SM2, data)).decode()}"
        "</ofd:CheckValue></ofd:Reference>"
        for name, data in files.items()
        if name not in leave_out
    )
    signature_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Signature {_NS}><ofd:SignedInfo>'
        '<ofd:Provider ProviderName="ofdrw-sign" Company="ofdrw" Version="2.0"/>'
        f"<ofd:SignatureMethod>{SM2_SM3}</ofd:SignatureMethod>"
        f"<ofd:SignatureDateTime>{signed_at_text}</ofd:SignatureDateTime>"
        f'<ofd:References CheckMethod="SM3">{references}</ofd:References>'
        + (
            f'<ofd:StampAnnot ID="{most}" PageRef="{page_ref}" Boundary="50 50 40 40"/>'
            f"<ofd:Seal><ofd:BaseLoc>/{folder}/Seal.esl</ofd:BaseLoc></ofd:Seal>"
            if kind == "Seal"
            else ""
        )
        + "</ofd:SignedInfo>"
        f"<ofd:SignedValue>/{folder}/SignedValue.dat</ofd:SignedValue>"
        "</ofd:Signature>"
    ).encode()
    files[f"{folder}/Signature.xml"] = signature_xml
    files[f"{folder}/SignedValue.dat"] = signed_value(
        signature_xml, f"/{folder}/Signature.xml"
    )
    return files


def v4_seal_maker() -> tuple[SignedValueMaker, bytes]:
    seal = seal_v4()
    return (
        lambda xml, prop: signature_v4(xml, seal=seal, property_info=prop),
        seal,
    )


def v1_seal_maker() -> tuple[SignedValueMaker, bytes]:
    seal = seal_v1()
    return (
        lambda xml, prop: signature_v1(xml, seal=seal, property_info=prop),
        seal,
    )


# --- time-stamping authorities of the test's own, valid 2020 to 2030 ---------------

_HASH_OIDS = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
    "sm3": SM3,
}
_HASH_NAMES = {value: name for name, value in _HASH_OIDS.items()}
# the SM2 curve's a, b, Gx and Gy (GB/T 32918.5), for Z_A with another signer ID
_SM2_CURVE = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


def _sm2_point(public_key_der: bytes) -> bytes:
    """The 64 bytes x||y of an SM2 SubjectPublicKeyInfo's point."""
    return bytes(asn1_keys.PublicKeyInfo.load(public_key_der)["public_key"].native)[1:]


def _tsa_extensions() -> list[dict[str, object]]:
    return [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
        {
            "extn_id": "key_usage",
            "critical": True,
            "extn_value": {"digital_signature", "non_repudiation"},
        },
        {
            "extn_id": "extended_key_usage",
            "critical": True,
            "extn_value": ["time_stamping"],
        },
    ]


def own_root(
    suite: Suite, common_name: str, start: dt.datetime, end: dt.datetime
) -> tuple[bytes, Any]:
    """A self-signed CA of the test's own, SM2 (``make_sm2_ca``) or P-256, valid
    ``start`` to ``end``: its DER certificate and the key that signs under it (what
    :func:`~services.seal.certificates.sign_certificate` takes)."""
    if suite is Suite.SM2:
        root, root_key = make_sm2_ca(common_name, not_before=start, not_after=end)
        return root, load_sm2_key(root_key, read_certificate(root).public_key_der)
    signer = ec.generate_private_key(ec.SECP256R1())
    name = asn1_x509.Name.build({"common_name": common_name})
    public = signer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    root = sign_certificate(
        signer,
        {
            "version": "v3",
            "serial_number": secrets.randbits(64),
            "issuer": name,
            "validity": {
                "not_before": asn1_x509.Time({"general_time": start}),
                "not_after": asn1_x509.Time({"general_time": end}),
            },
            "subject": name,
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(public),
            "extensions": [
                {
                    "extn_id": "basic_constraints",
                    "critical": True,
                    "extn_value": {"ca": True},
                }
            ],
        },
    )
    return root, signer


class Tsa:
    """A TSA issuing RFC 3161 tokens: ``sm2`` as China's TSAs do (GB/T 20520, GM/T
    0033: an SM2 root and key, SM3 digests, SM2-with-SM3 signatures), or ``es256``
    (P-256, SHA-256, as certseal's own TSA). Its root and certificate are valid 2020
    to 2030, so its tokens can stamp ofdrw's signatures (2020 to 2022)."""

    def __init__(self, suite: Suite) -> None:
        start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        end = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        self.suite = suite
        key = generate_key(suite)
        self._key = SoftwareSigner(suite, key.private_bytes, key.public_key_der)
        self._private, self._public = key.private_bytes, key.public_key_der
        self.root, root_signer = own_root(suite, "atk TSA root", start, end)
        issuer = asn1_x509.Certificate.load(self.root)["tbs_certificate"]["subject"]
        self.cert = sign_certificate(
            root_signer,
            {
                "version": "v3",
                "serial_number": secrets.randbits(64),
                "issuer": issuer,
                "validity": {
                    "not_before": asn1_x509.Time({"general_time": start}),
                    "not_after": asn1_x509.Time({"general_time": end}),
                },
                "subject": asn1_x509.Name.build({"common_name": "atk TSA"}),
                "subject_public_key_info": asn1_keys.PublicKeyInfo.load(
                    key.public_key_der
                ),
                "extensions": _tsa_extensions(),
            },
        )
        self.trust = TrustStore.of([self.root])

    def _digest(self, data: bytes, hash_oid: str) -> bytes:
        if hash_oid == SM3:
            return digest(Suite.SM2, data)
        return hashlib.new(_HASH_NAMES[hash_oid], data).digest()

    def _sign(self, data: bytes, signer_id: bytes | None) -> bytes:
        if signer_id is None:
            return signature_to_der(self.suite, self._key.sign_now(data))
        point = _sm2_point(self._public)
        z = gmssl_pyx.sm3_hash(
            (len(signer_id) * 8).to_bytes(2, "big") + signer_id + _SM2_CURVE + point
        )
        return bytes(
            gmssl_pyx.sm2_sign_sm3_digest(self._private, gmssl_pyx.sm3_hash(z + data))
        )

    def token(
        self,
        stamped: bytes,
        at: dt.datetime = SIGNED_AT,
        *,
        hash_oid: str | None = None,
        signature_algorithm: str | None = None,
        signer_id: bytes | None = None,
        ess_hash: str = "sha256",
        signed_over: bytes | None = None,
    ) -> bytes:
        """A TimeStampToken over ``stamped`` at ``at``: SM3 digests and SM2-with-SM3
        (an SM2 TSA) or SHA-256 and ECDSA, unless ``hash_oid`` (imprint,
        messageDigest, digestAlgorithm), ``signature_algorithm`` (the SignerInfo's
        OID), ``signer_id`` (SM2 signer ID other than the default) or ``ess_hash``
        (signingCertificateV2's hash) say otherwise; ``signed_over``: the TSA signs
        these bytes instead of the attributes (a forged token)."""
        sm2 = self.suite is Suite.SM2
        hash_oid = hash_oid or (SM3 if sm2 else "2.16.840.1.101.3.4.2.1")
        tst = tsp.TSTInfo(
            {
                "version": "v1",
                "policy": "1.2.3.4.1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": hash_oid},
                    "hashed_message": self._digest(stamped, hash_oid),
                },
                "serial_number": secrets.randbits(64),
                "gen_time": at,
            }
        ).dump()
        cert = asn1_x509.Certificate.load(self.cert)
        ess = tsp.SigningCertificateV2(
            {
                "certs": [
                    {
                        "hash_algorithm": {
                            "algorithm": _HASH_OIDS.get(ess_hash, ess_hash)
                        },
                        "cert_hash": self._digest(
                            self.cert, _HASH_OIDS.get(ess_hash, ess_hash)
                        ),
                    }
                ]
            }
        )
        attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute(
                    {"type": "message_digest", "values": [self._digest(tst, hash_oid)]}
                ),
                cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}),
            ]
        )
        signature = self._sign(
            attrs.dump() if signed_over is None else signed_over, signer_id
        )
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": cert.issuer,
                            "serial_number": cert.serial_number,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": hash_oid},
                "signed_attrs": attrs,
                "signature_algorithm": {
                    "algorithm": signature_algorithm
                    or (SM2_SM3 if sm2 else "sha256_ecdsa")
                },
                "signature": signature,
            }
        )
        signed = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [{"algorithm": hash_oid}],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(tst),
                },
                "certificates": [cert],
                "signer_infos": [signer],
            }
        )
        return bytes(
            cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
        )
