"""Trusted timestamps (RFC 3161 / GB/T 20520): tokens from a real TSA over HTTP (the
seal process's TSA room, its clock injected here), checked on verification, and the
token's time used as the signing time."""

import asyncio
import datetime as dt
import io
from types import SimpleNamespace

import grpc
import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from certseal.crypto import Suite
from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind
from certseal.v1 import seal_pb2 as pb
from services.seal.domain import SealStatus, SealVerdict
from services.seal.inspect import describe
from services.seal.ses import SESSignature
from services.seal.ses_read import read_signature
from services.seal.timestamp import TokenError, check_token, imprint
from services.seal.trust import TrustStore, load_trust_files
from services.seal.tsa import (
    DEFAULT_TSA_POLICY,
    Rejection,
    Timestamper,
    TsaServer,
    check_tsa_settings,
)
from tests.conftest import blank_pdf, seal_owner
from tests.seal.ofd_samples import make_ofd, unzip
from tests.seal.test_domain import DAY, NOW, _ca, check, sealed

# the seal is valid from NOW + 10 days to NOW + 40 days (the TSA's certificate is
# valid from NOW - 1 day for 825 days: every stamp time below is inside it)
VALID = (NOW + 10 * DAY, NOW + 40 * DAY)
INSIDE, BEFORE, AFTER = NOW + 20 * DAY, NOW, NOW + 50 * DAY


class Tsa:
    """A real TSA server on a free port whose clock a test sets."""

    def __init__(self, folder, *, rsa_key: bool = False):
        self.ca = DevCA(folder, name="test TSA CA")
        ident = self.ca.tsa_identity("test TSA", rsa_key=rsa_key)
        self.server_key_pem = ident.key_file.read_bytes()
        self.at = INSIDE
        self.server = TsaServer(
            cert_file=str(ident.cert_file),
            key_file=str(ident.key_file),
            clock=lambda: self.at,
        )
        self.trust = TrustStore.of(load_trust_files([str(self.ca.ca_file)]))

    async def client(self) -> Timestamper:
        port = await self.server.start("127.0.0.1:0")
        return Timestamper(f"http://127.0.0.1:{port}/", timeout_s=3)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return _ca(tmp_path_factory.mktemp("seal-ca"))


async def stamped(pki, tsa, *, signed_at=INSIDE, stamp_at=INSIDE, suite=Suite.ES256):
    """An SES_Signature made (by its own account) at ``signed_at`` and stamped by the
    TSA at ``stamp_at``."""
    signature = await sealed(pki, suite, signed_at=signed_at, valid=VALID)
    tsa.at = stamp_at
    return with_token(signature, await tsa.stamper.stamp(_value(signature)))


def _value(signature: bytes) -> bytes:
    return SESSignature.load(signature)["signature"].native


def with_token(signature: bytes, token: bytes) -> bytes:
    sig = SESSignature.load(signature)
    return SESSignature(
        {
            "to_sign": sig["to_sign"],
            "cert": sig["cert"],
            "signature_alg_id": sig["signature_alg_id"],
            "signature": sig["signature"],
            "time_stamp": token,
        }
    ).dump(force=True)


def _names(result) -> list[str]:
    return [c.name for c in result.checks]


@pytest.mark.parametrize("suite", list(Suite))
async def test_a_valid_token_is_the_trusted_signing_time(pki, tsa, suite):
    signature = await stamped(pki, tsa, suite=suite)
    result = check(pki, signature, tsa_trust=tsa.trust)
    assert result.verdict is SealVerdict.VALID, result.checks
    assert _names(result)[:3] == ["decode", "signature", "timestamp"]
    assert result.signed_at == INSIDE
    assert "test TSA" in result.checks[2].detail
    token = check_token(
        read_signature(signature).time_stamp, stamped=_value(signature), trust=tsa.trust
    )
    assert token.gen_time == INSIDE and token.tsa == "test TSA"


async def test_signed_before_the_seal_was_valid_but_stamped_inside_it(pki, tsa):
    signature = await stamped(pki, tsa, signed_at=BEFORE, stamp_at=INSIDE)
    assert check(pki, signature, tsa_trust=tsa.trust).verdict is SealVerdict.VALID
    # the same signature without its token goes by the signer's own clock
    bare = await sealed(pki, Suite.ES256, signed_at=BEFORE, valid=VALID)
    assert check(pki, bare).verdict is SealVerdict.SEAL_NOT_VALID


async def test_signed_inside_the_validity_but_stamped_after_it(pki, tsa):
    signature = await stamped(pki, tsa, signed_at=INSIDE, stamp_at=AFTER)
    result = check(pki, signature, tsa_trust=tsa.trust)
    assert result.verdict is SealVerdict.SEAL_NOT_VALID, result.checks
    assert result.checks[-1].name == "seal" and "outside" in result.checks[-1].detail
    assert result.signed_at == AFTER


async def test_a_seal_revoked_after_a_stamped_signing_still_seals(pki, tsa):
    signature = await stamped(pki, tsa, signed_at=INSIDE, stamp_at=INSIDE)
    later = SealStatus("revoked", INSIDE + DAY)
    result = check(pki, signature, status=later, tsa_trust=tsa.trust)
    assert (result.verdict, result.current_status) == (SealVerdict.VALID, "revoked")
    # the signer claims a time before the revocation; the TSA says after it
    claimed = await stamped(pki, tsa, signed_at=INSIDE, stamp_at=INSIDE + 2 * DAY)
    result = check(pki, claimed, status=later, tsa_trust=tsa.trust)
    assert result.verdict is SealVerdict.SEAL_NOT_VALID
    assert "revoked" in result.checks[-1].detail


async def test_a_tampered_token_fails_naming_the_check(pki, tsa):
    signature = await stamped(pki, tsa)
    token = bytearray(read_signature(signature).time_stamp)
    # a byte of the TSTInfo (its genTime) and a byte of the TSA's signature
    gen = bytes(token).index(INSIDE.strftime("%Y%m%d").encode())
    for at in (gen + 9, len(token) - 5):
        bad = bytearray(token)
        bad[at] ^= 0x01
        result = check(pki, with_token(signature, bytes(bad)), tsa_trust=tsa.trust)
        assert result.verdict is SealVerdict.BAD_TIMESTAMP, result.checks
        assert result.checks[-1].name == "timestamp"
        assert result.checks[-1].detail.startswith("signature:")
    garbage = check(
        pki, with_token(signature, b"\x30\x03\x02\x01\x01"), tsa_trust=tsa.trust
    )
    assert garbage.verdict is SealVerdict.BAD_TIMESTAMP
    assert garbage.checks[-1].name == "timestamp"


async def test_a_token_over_another_signature_fails(pki, tsa):
    one = await stamped(pki, tsa)
    other = await sealed(pki, Suite.ES256, signed_at=INSIDE, valid=VALID)
    moved = with_token(other, read_signature(one).time_stamp)
    result = check(pki, moved, tsa_trust=tsa.trust)
    assert result.verdict is SealVerdict.BAD_TIMESTAMP
    assert result.checks[-1].detail.startswith("imprint:")


async def test_a_tsa_not_trusted_fails(pki, tsa, tmp_path):
    signature = await stamped(pki, tsa)
    stranger = Tsa(tmp_path / "other")
    for trust in (TrustStore(), stranger.trust, None):
        result = check(pki, signature, tsa_trust=trust)
        assert result.verdict is SealVerdict.UNTRUSTED_TIMESTAMP, result.checks
        assert result.checks[-1].name == "timestamp"
        assert "TSA certificate" in result.checks[-1].detail
    with pytest.raises(TokenError) as err:
        check_token(
            read_signature(signature).time_stamp,
            stamped=_value(signature),
            trust=TrustStore(),
        )
    assert err.value.check == "TSA certificate"


async def test_a_tsa_certificate_without_the_timestamping_usage_is_refused(
    pki, tsa, tmp_path, monkeypatch
):
    # the trusted TSA CA certified an RSA key for TLS servers, not for time-stamping
    ca_key = serialization.load_pem_private_key(
        (tsa.ca.folder / "ca.key").read_bytes(), None
    )
    ca_cert = x509.load_pem_x509_certificate(tsa.ca.ca_file.read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 400 * DAY)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "web.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "web.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files = {
        "cert_file": str(tmp_path / "web.pem"),
        "key_file": str(tmp_path / "web.key"),
    }
    # the platform's own TSA refuses it at start (fix15) ...
    with pytest.raises(CertsealError) as refused:
        TsaServer(**files)
    assert refused.value.field == "seal.tsa_cert_file"
    assert "timeStamping" in refused.value.message
    # ... but an outside TSA that does not check signs with it: its tokens are
    # refused by the verification
    import services.seal.tsa as tsa_module

    monkeypatch.setattr(
        tsa_module,
        "ExtendedKeyUsageOID",
        SimpleNamespace(TIME_STAMPING=ExtendedKeyUsageOID.SERVER_AUTH),
    )
    web = TsaServer(**files)
    signature = await sealed(pki, Suite.ES256, signed_at=INSIDE, valid=VALID)
    request = tsa.stamper.client.request_cms(imprint(_value(signature)), "sha256")[1]
    reply = tsp.TimeStampResp.load(web.respond(request.dump()))
    token = reply["time_stamp_token"].dump()
    result = check(pki, with_token(signature, token), tsa_trust=tsa.trust)
    assert result.verdict is SealVerdict.UNTRUSTED_TIMESTAMP
    assert "extended key usage" in result.checks[-1].detail


async def test_the_tsa_answers_bad_requests_with_a_rejection(tsa):
    for body in (b"", b"\x30\x00", b"not DER at all" * 10):
        reply = Rejection.load(tsa.server.respond(body))
        assert reply["status"]["status"].native == "rejection"
    md5 = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "md5"},
                "hashed_message": bytes(16),
            },
        }
    )
    reply = Rejection.load(tsa.server.respond(md5.dump()))
    assert reply["status"]["fail_info"].native == {"bad_alg"}


async def test_an_unreachable_or_silent_tsa_is_unavailable():
    async def silent(reader, writer):
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for url in (f"http://127.0.0.1:{port}/", "http://127.0.0.1:1/"):
            with pytest.raises(CertsealError) as err:
                async with Timestamper(url, timeout_s=0.5) as stamper:
                    await stamper.stamp(b"x")
            assert err.value.kind is ErrorKind.UNAVAILABLE
            assert err.value.field == "tsa_url"
    finally:
        server.close()


# -- end to end, with the dev stack's TSA (a room of the seal process) --------------


def _stack_tsa_trust(config) -> list[asn1_x509.Certificate]:
    return [
        asn1_x509.Certificate.load(der)
        for der in load_trust_files(config.seal.tsa_trusted_ca_files)
    ]


async def test_seal_document_carries_a_token_and_verifies(seal_stub, operator, config):
    assert config.seal.tsa_url and config.seal.tsa_listen
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(name="示例市交通运输局", suite="sm2")
        )
    ).seal
    sealed_doc = await stub.SealDocument(
        pb.SealDocumentRequest(seal_id=seal.seal_id, document=b"doc" * 100)
    )
    sig = read_signature(sealed_doc.signature)
    assert sig.time_stamp is not None
    info = cms.ContentInfo.load(sig.time_stamp)
    assert info["content"]["encap_content_info"]["content_type"].native == "tst_info"
    anyone = seal_stub("app:archive")
    result = await anyone.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(
            signature=sealed_doc.signature, document=b"doc" * 100
        )
    )
    assert result.verdict == "VALID", result.checks
    assert [c.name for c in result.checks][:3] == ["decode", "signature", "timestamp"]
    assert "certseal dev TSA" in result.checks[2].detail
    # a seal revoked after the stamped signing: still sealed while valid
    await stub.RevokeSeal(pb.RevokeSealRequest(seal_id=seal.seal_id, reason="换章"))
    later = await anyone.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(
            signature=sealed_doc.signature, document=b"doc" * 100
        )
    )
    assert (later.verdict, later.current_status) == ("VALID", "revoked")
    # a token of the dev TSA over other bytes
    async with Timestamper(config.seal.tsa_url) as stamper:
        token = await stamper.stamp(b"other")
    other = await anyone.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(
            signature=with_token(sealed_doc.signature, token),
            document=b"doc" * 100,
        )
    )
    assert other.verdict == "BAD_TIMESTAMP"
    assert other.checks[-1].name == "timestamp"


async def test_seal_pdf_is_pades_b_t(seal_stub, operator, config):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例公司", suite="es256"))
    ).seal
    pdf = (
        await stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf()))
    ).pdf
    # pyHanko validates the signature timestamp against the dev TSA root
    [embedded] = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
    seal_ca = ValidationContext(
        trust_roots=[
            asn1_x509.Certificate.load(load_trust_files([config.seal.ca_cert_file])[0])
        ],
        allow_fetching=False,
    )
    status = await async_validate_pdf_signature(
        embedded,
        seal_ca,
        ts_validation_context=ValidationContext(
            trust_roots=_stack_tsa_trust(config), allow_fetching=False
        ),
    )
    stamp = status.timestamp_validity
    assert stamp is not None and stamp.intact and stamp.valid and stamp.trusted
    assert status.intact and status.valid and status.trusted
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    assert [r.verdict for r in found] == ["VALID"]
    # a TSA root nobody configured: the timestamp is not trusted
    untrusted = await async_validate_pdf_signature(
        embedded,
        seal_ca,
        ts_validation_context=ValidationContext(trust_roots=[], allow_fetching=False),
    )
    assert not untrusted.timestamp_validity.trusted


async def test_seal_ofd_with_a_timestamp_re_verifies(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例市局", suite="sm2"))
    ).seal
    sealed_ofd = await stub.SealOfd(
        pb.SealOfdRequest(seal_id=seal.seal_id, ofd=make_ofd(), page=1, x_mm=30)
    )
    value = unzip(sealed_ofd.ofd)["Doc_0/Signs/Sign_0/SignedValue.dat"]
    assert read_signature(value).time_stamp is not None
    [result] = (
        await seal_stub("app:archive").VerifyOfd(
            pb.VerifyOfdRequest(ofd=sealed_ofd.ofd)
        )
    ).signatures
    assert result.verdict == "VALID", result.checks
    assert "timestamp" in [c.name for c in result.checks]


async def test_sealing_when_the_tsa_is_unreachable_is_unavailable(
    seal_stub, operator, seal_app
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    es = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例", suite="es256"))
    ).seal
    kept = (seal_app.service.timestamper, seal_app.pdfs._timestamper)
    down = Timestamper("http://127.0.0.1:1/", timeout_s=1)
    seal_app.service.timestamper = seal_app.pdfs._timestamper = down
    try:  # (sealing an OFD goes through SealDocument's stamping)
        for call in (
            stub.SealDocument(
                pb.SealDocumentRequest(seal_id=es.seal_id, document=b"x")
            ),
            stub.SealPdf(pb.SealPdfRequest(seal_id=es.seal_id, pdf=blank_pdf())),
            stub.SealOfd(
                pb.SealOfdRequest(seal_id=es.seal_id, ofd=make_ofd(), page=1, x_mm=30)
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE, err.value.details()
            assert "time-stamping authority" in err.value.details()
    finally:
        seal_app.service.timestamper, seal_app.pdfs._timestamper = kept
        await down.close()


@pytest.mark.parametrize(
    ("revoked_after", "verdict"),
    [
        (dt.timedelta(microseconds=200_000), SealVerdict.VALID),
        (dt.timedelta(0), SealVerdict.SEAL_NOT_VALID),
        (dt.timedelta(microseconds=-200_000), SealVerdict.SEAL_NOT_VALID),
    ],
)
async def test_a_token_time_is_compared_with_the_revocation_to_the_microsecond(
    pki, tsa, revoked_after, verdict
):
    stamp_at = INSIDE + dt.timedelta(microseconds=500_000)
    signature = await stamped(pki, tsa, signed_at=INSIDE, stamp_at=stamp_at)
    status = SealStatus("revoked", stamp_at + revoked_after)
    result = check(pki, signature, status=status, tsa_trust=tsa.trust)
    assert result.signed_at == stamp_at
    assert result.verdict is verdict, result.checks


@pytest.mark.parametrize(
    ("url", "timeout", "roots", "field"),
    [
        ("ftp://tsa.example/", 5.0, ["ca.pem"], "seal.tsa_url"),
        ("tsa.example:318", 5.0, ["ca.pem"], "seal.tsa_url"),
        ("http://tsa.example/", 0.0, ["ca.pem"], "seal.tsa_timeout_s"),
        ("http://tsa.example/", 600.0, ["ca.pem"], "seal.tsa_timeout_s"),
        ("https://tsa.example/", 5.0, [], "seal.tsa_trusted_ca_files"),
    ],
)
def test_tsa_settings_that_cannot_work_are_refused(url, timeout, roots, field):
    with pytest.raises(CertsealError) as err:
        check_tsa_settings(url, timeout, roots)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == field


def test_no_tsa_is_a_valid_setting():
    check_tsa_settings("", 5.0, [])
    check_tsa_settings("https://tsa.example/", 5.0, ["ca.pem"])


async def test_verify_pdf_fails_a_broken_or_untrusted_signature_timestamp(
    seal_stub, operator, seal_app
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例公司", suite="es256"))
    ).seal
    pdf = (
        await stub.SealPdf(pb.SealPdfRequest(seal_id=seal.seal_id, pdf=blank_pdf()))
    ).pdf
    # the token's genTime sits in the CMS's unsigned attributes, in hex in /Contents:
    # one changed digit leaves the seal's own signature intact but not the token's
    [embedded] = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
    [token] = embedded.signer_info["unsigned_attrs"][0]["values"]
    tst = token["content"]["encap_content_info"]["content"].contents
    gen = tsp.TSTInfo.load(tst)["gen_time"].contents  # e.g. 20261130175754.83Z
    assert gen in tst
    # the TSTInfo, hex in /Contents; the seconds' first digit: 0-5 becomes another
    where = pdf.lower().index(tst.hex().encode()) + 2 * tst.index(gen)
    at = where + 2 * 12
    changed = b"31" if pdf[at : at + 2] != b"31" else b"32"
    tampered = pdf[:at] + changed + pdf[at + 2 :]
    [broken] = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=tampered))).seals
    assert broken.verdict == "BAD_TIMESTAMP", (gen, where, changed, broken)
    [fine] = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    assert fine.verdict == "VALID"
    kept = seal_app.pdfs._tsa_roots
    seal_app.pdfs._tsa_roots = ()
    try:
        [untrusted] = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    finally:
        seal_app.pdfs._tsa_roots = kept
    assert untrusted.verdict == "UNTRUSTED_TIMESTAMP"


async def test_seal_inspect_shows_what_a_token_says(pki, tsa):
    signature = await stamped(pki, tsa, stamp_at=INSIDE)
    lines = describe(signature)
    assert lines[-1] == (
        f"    genTime       {INSIDE:%Y-%m-%d %H:%M:%S} UTC by test TSA "
        "(RFC 3161; not checked)"
    )
    # bytes that are no token: the length only
    assert describe(with_token(signature, b"TST" * 20))[-1] == (
        "  timeStamp       60 bytes"
    )


def _token_policy(token: bytes) -> str:
    signed = cms.ContentInfo.load(token)["content"]
    info = signed["encap_content_info"]["content"].parsed
    return str(info["policy"].dotted)


async def test_tokens_name_this_tsas_policy_and_it_alone_is_accepted(tsa, tmp_path):
    token = await tsa.stamper.stamp(b"a signature value")
    # pyHanko's builder would name GlobalSign's policy 1.3.6.1.4.1.4146.2.2
    assert _token_policy(token) == DEFAULT_TSA_POLICY
    ident = tsa.ca.tsa_identity("operator TSA")
    own = TsaServer(
        cert_file=str(ident.cert_file),
        key_file=str(ident.key_file),
        policy="1.2.156.112233.1.2.3",
    )
    port = await own.start("127.0.0.1:0")
    try:
        async with Timestamper(f"http://127.0.0.1:{port}/", timeout_s=3) as client:
            assert _token_policy(await client.stamp(b"x")) == "1.2.156.112233.1.2.3"
    finally:
        await own.stop()

    def asking(policy: str) -> bytes:
        return tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": bytes(32),
                },
                "req_policy": policy,
            }
        ).dump()

    refused = Rejection.load(tsa.server.respond(asking("1.3.6.1.4.1.4146.2.2")))
    assert refused["status"]["fail_info"].native == {"unaccepted_policy"}
    granted = tsp.TimeStampResp.load(tsa.server.respond(asking(DEFAULT_TSA_POLICY)))
    assert granted["status"]["status"].native == "granted"


def test_a_tsa_policy_that_is_no_oid_is_named(tmp_path):
    ident = DevCA(tmp_path / "ca", name="test TSA CA").tsa_identity("t")
    with pytest.raises(CertsealError) as raised:
        TsaServer(
            cert_file=str(ident.cert_file),
            key_file=str(ident.key_file),
            policy="GlobalSign",
        )
    assert raised.value.field == "seal.tsa_policy"


def test_the_token_names_the_signature_algorithm_of_the_tsas_key(tsa):
    # RFC 5754 section 3: sha256WithRSAEncryption's rsassa_pkcs1v15 for RSA,
    # ecdsa-with-SHA256 for EC (pyHanko's builder names rsassa_pkcs1v15 for both)
    key = load_pem_private_key(tsa.server_key_pem, None)
    wanted = "rsassa_pkcs1v15" if isinstance(key, rsa.RSAPrivateKey) else "sha256_ecdsa"
    for token in (
        tsa.server.token(b"signature value"),
        tsa.server.pyhanko_token(b"signature value"),
    ):
        signer = cms.ContentInfo.load(token)["content"]["signer_infos"][0]
        assert signer["signature_algorithm"]["algorithm"].native == wanted
        assert check_token(token, stamped=b"signature value", trust=tsa.trust)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP384R1()),  # another curve
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
        ed25519.Ed25519PrivateKey.generate,
    ],
    ids=["ec-p384", "rsa-1024", "ed25519"],
)
def test_a_tsa_key_of_another_kind_or_size_is_named(tmp_path, make):
    ident = DevCA(tmp_path / "ca", name="test TSA CA").tsa_identity("t")
    key_file = tmp_path / "other.key"
    key_file.write_bytes(
        make().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(CertsealError) as raised:
        TsaServer(cert_file=str(ident.cert_file), key_file=str(key_file))
    assert raised.value.field == "seal.tsa_key_file"
    assert "EC P-256" in raised.value.message


@pytest.mark.parametrize(
    ("url", "listen", "own"),
    [
        ("http://127.0.0.1:{port}/", "127.0.0.1:{port}", True),
        ("http://localhost:{port}", "127.0.0.1:{port}", True),
        ("http://127.0.0.1:{port}/", "0.0.0.0:{port}", True),
        ("http://tsa.example:{port}/", "tsa.example:{port}", True),
        ("http://127.0.0.1:{other}/", "127.0.0.1:{port}", False),  # another port
        ("https://127.0.0.1:{port}/", "127.0.0.1:{port}", False),  # not this room
        ("http://127.0.0.1:{port}/tsa", "127.0.0.1:{port}", False),  # another path
        ("http://10.1.2.3:{port}/", "127.0.0.1:{port}", False),  # another host
        ("http://127.0.0.1:{port}/", "10.1.2.3:{port}", False),  # bound elsewhere
    ],
)
def test_which_tsa_url_names_the_processes_own_room(url, listen, own):
    from services.seal.tsa import names_own_room

    port, other = 4318, 4319
    assert (
        names_own_room(
            url.format(port=port, other=other), listen.format(port=port), port
        )
        is own
    )


async def test_the_own_room_is_asked_without_http_and_its_token_verifies(pki, tsa):
    """A Timestamper whose URL names this process's TSA room has it make the token
    directly: the room's (its clock, key and policy, a nonce), and it verifies as one
    fetched over HTTP does."""
    await tsa.server.stop()  # no HTTP at all: the room is asked directly
    stamper = Timestamper("http://127.0.0.1:1/", timeout_s=3, own_room=tsa.server)
    try:
        token = await stamper.stamp(b"signature value")
    finally:
        await stamper.close()
    found = check_token(token, stamped=b"signature value", trust=tsa.trust)
    assert found.gen_time == INSIDE and found.tsa == "test TSA"
    content = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"]
    assert content.parsed["policy"].dotted == DEFAULT_TSA_POLICY
    assert content.parsed["nonce"].native is not None


async def test_the_own_rooms_refusal_is_unavailable(tsa, monkeypatch):
    """The own room failing to make a token (here: it cannot sign) is UNAVAILABLE on
    tsa_url, as a rejection over HTTP is."""
    stamper = Timestamper("http://127.0.0.1:1/", timeout_s=3, own_room=tsa.server)
    monkeypatch.setattr(tsa.server, "_signer", None)  # signing fails
    with pytest.raises(CertsealError) as caught:
        await stamper.stamp(b"signature value")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.field == "tsa_url"


async def test_the_own_rooms_direct_token_carries_what_pyhankos_builder_writes(tsa):
    """TsaServer.token writes the token's DER directly: decoded, it holds exactly
    what pyHanko's builder writes (same structure, certificate, identifiers,
    algorithms, policy, TSA name, time to the microsecond), but its own imprint,
    serial, nonce, digests and signature; it checks (RFC 3161) as pyHanko's does."""
    tsa.at = INSIDE.replace(microsecond=123456)
    direct = tsa.server.token(b"signature value")
    built = tsa.server.pyhanko_token(b"signature value")
    assert cms.ContentInfo.load(direct).dump(force=True) == direct  # DER exactly
    found = check_token(direct, stamped=b"signature value", trust=tsa.trust)
    assert found.gen_time == tsa.at and found.tsa == "test TSA"
    mine, theirs = (
        cms.ContentInfo.load(direct).native,
        cms.ContentInfo.load(built).native,
    )

    def variable(token: dict) -> dict:
        content = token["content"]
        tst = content["encap_content_info"]["content"]
        signer = content["signer_infos"][0]
        taken = (
            tst.pop("serial_number"),
            tst.pop("nonce"),
            signer.pop("signature"),
            [a for a in signer["signed_attrs"] if a["type"] == "message_digest"],
        )
        signer["signed_attrs"] = [
            a for a in signer["signed_attrs"] if a["type"] != "message_digest"
        ]
        return {"taken": taken}

    taken = variable(mine)["taken"], variable(theirs)["taken"]
    assert mine == theirs  # everything else: the same values, in the same order
    assert taken[0][0] != taken[1][0] and taken[0][1] != taken[1][1]  # fresh each
    with pytest.raises(TokenError):  # the signature covers what it should
        check_token(direct, stamped=b"another value", trust=tsa.trust)
