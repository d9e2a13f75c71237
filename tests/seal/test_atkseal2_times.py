"""atk-seal2: a signing time at the edge of the calendar. A v1 ``timeInfo`` text
read as UTC+8 (``0001-01-01 00:00:00``), or any zoned time that falls outside
years 1 to 9999 in UTC, is no time: the reader says MALFORMED (SesFormatError), never
OverflowError, which VerifyOfd's integrity check and ``seal inspect`` do not expect."""

from __future__ import annotations

import datetime as dt

import pytest

from certseal.crypto import Suite, digest
from certseal.errors import CertsealError
from certseal.v1 import seal_pb2 as pb
from services.seal.domain import SealVerdict, verify_sealed_document
from services.seal.inspect import describe
from services.seal.ses_read import SesFormatError, read_signature
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.ses_platforms import (
    TRUST,
    USER,
    USER_CERT,
    bits,
    ia5,
    integer,
    octets,
    oid,
    seal_files,
    seal_v1,
    seal_v4,
    seq,
    signature_v1,
    sm2_sign,
    tlv,
)
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

DOCUMENT = b"<ofd:Signature>sealed</ofd:Signature>"
NOW = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
EDGES = [
    b"0001-01-01 00:00:00",  # UTC+8: before year 1 in UTC
    b"0001-01-01T07:59:59",
    b"00010101000000",  # GeneralizedTime text without a zone
    b"00010101000000+0100",
    b"99991231230000-0100",  # after year 9999 in UTC
]


@pytest.mark.parametrize("time_info", EDGES)
def test_a_time_outside_the_calendar_in_utc_is_malformed(time_info):
    signature = signature_v1(DOCUMENT, time_info=time_info)
    with pytest.raises(SesFormatError):
        read_signature(signature)
    result = verify_sealed_document(
        signature, document=DOCUMENT, trust=TRUST, seal_status=None, now=NOW
    )
    assert result.verdict is SealVerdict.MALFORMED
    with pytest.raises(CertsealError):
        describe(signature)


async def test_verify_ofd_answers_a_v1_seal_whose_time_overflows(
    stack,
    trusting_app,  # noqa: F811
):
    seal = seal_v1()
    files = seal_files(
        unzip(make_ofd()),
        signed_value=lambda xml, prop: signature_v1(
            xml, seal=seal, property_info=prop, time_info=b"0001-01-01 00:00:00"
        ),
        seal=seal,
    )
    stub = stub_for(stack, trusting_app, "app:archive")
    reply = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))
    [result] = reply.signatures
    assert result.verdict == "MALFORMED", result.checks
    assert not result.intact


def test_a_v4_time_with_an_offset_past_9999_is_malformed():
    tbs = seq(
        integer(4),
        seal_v4(),
        tlv(0x18, b"99991231230000-0100"),
        bits(digest(Suite.SM2, DOCUMENT)),
        ia5("/x"),
    )
    signature = seq(
        tbs, octets(USER_CERT), oid("1.2.156.10197.1.501"), bits(sm2_sign(USER, tbs))
    )
    with pytest.raises(SesFormatError):
        read_signature(signature)
