"""GM/T 0031-2014 (SES v1) structures, read only: the seal and the seal signature as
the ecosystem wrote them before GB/T 38540-2020 (ofdrw's ``org.ofdrw.gm.ses.v1``).

::

  SESeal        ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SES_SignInfo }
  SES_SealInfo  ::= SEQUENCE { header SES_Header (version 1), esID IA5String,
                               property SES_ESPropertyInfo, picture SES_ESPictrueInfo,
                               extDatas ExtensionDatas OPTIONAL }
  SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String,
                               certList SEQUENCE OF OCTET STRING,
                               createDate UTCTime, validStart UTCTime, validEnd UTCTime }
  SES_SignInfo  ::= SEQUENCE { cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER,
                               signData BIT STRING }
  TBS_Sign      ::= SEQUENCE { version INTEGER 1, eseal SESeal, timeInfo BIT STRING,
                               dataHash BIT STRING, propertyInfo IA5String,
                               cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER }
  SES_Signature ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }

The maker signs DER(SEQUENCE {esealInfo, cert, signatureAlgorithm}) (what ofdrw's v1
seals verify against); the signer signs DER(toSign), and the signer's
certificate and algorithm are inside ``toSign`` (v4 moved them out).
"""

from __future__ import annotations

from asn1crypto import core

from services.seal.ses import CertInfoList, ESPictureInfo, ExtensionDatas, SESHeader


class ESPropertyInfoV1(core.Sequence):
    """v1 ``SES_ESPropertyInfo``: no certListType, UTCTime dates."""

    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", CertInfoList),
        ("create_date", core.UTCTime),
        ("valid_start", core.UTCTime),
        ("valid_end", core.UTCTime),
    ]


class SealInfoV1(core.Sequence):
    """v1 ``SES_SealInfo``."""

    _fields = [  # noqa: RUF012
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", ESPropertyInfoV1),
        ("picture", ESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SignInfoV1(core.Sequence):
    """v1 ``SES_SignInfo``: the seal maker's certificate and signature."""

    _fields = [  # noqa: RUF012
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", core.OctetBitString),
    ]


class SESealV1(core.Sequence):
    """v1 ``SESeal``."""

    _fields = [  # noqa: RUF012
        ("e_seal_info", SealInfoV1),
        ("sign_info", SignInfoV1),
    ]


class TBSSignV1(core.Sequence):
    """v1 ``TBS_Sign``: ``timeInfo`` is a BIT STRING holding the signing time."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("eseal", SESealV1),
        ("time_info", core.OctetBitString),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SESSignatureV1(core.Sequence):
    """v1 ``SES_Signature``."""

    _fields = [  # noqa: RUF012
        ("to_sign", TBSSignV1),
        ("signature", core.OctetBitString),
    ]
