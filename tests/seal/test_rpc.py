"""The Seal gRPC service end to end: mTLS identities, errors with their field, verdicts."""

import grpc
import pytest

from certseal.v1 import seal_pb2 as pb
from tests.conftest import blank_pdf, fresh_uscc, seal_owner

DOCUMENT = b"%PDF-1.7 not really, but any bytes will do " * 50


def field_of(err) -> str:
    return dict(err.value.trailing_metadata()).get("certseal-error-field", "")


async def test_register_seal_verify_and_revoke(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(
                seal_type="official", name="示例市市场监督管理局", suite="sm2"
            )
        )
    ).seal
    assert seal.owner_code == owner and seal.status == "active"
    assert seal.picture.startswith(b"\x89PNG") and list(seal.signers) == [
        f"dept:{owner}"
    ]
    assert (await stub.GetSeal(pb.GetSealRequest(seal_id=seal.seal_id))).seal == seal
    sealed = await stub.SealDocument(
        pb.SealDocumentRequest(
            seal_id=seal.seal_id, document=DOCUMENT, property_info="notice.pdf"
        )
    )
    anyone = seal_stub("app:archive")
    result = await anyone.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(signature=sealed.signature, document=DOCUMENT)
    )
    assert result.verdict == "VALID" and result.current_status == "active"
    assert [c.name for c in result.checks][-1] == "seal status"
    modified = await anyone.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(
            signature=sealed.signature, document=DOCUMENT + b"!"
        )
    )
    assert modified.verdict == "MODIFIED"
    garbage = await anyone.VerifySealedDocument(
        pb.VerifySealedDocumentRequest(signature=sealed.signature[:40], document=b"x")
    )
    assert garbage.verdict == "MALFORMED"
    revoked = (
        await stub.RevokeSeal(pb.RevokeSealRequest(seal_id=seal.seal_id, reason="停用"))
    ).seal
    assert revoked.status == "revoked"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SealDocument(
            pb.SealDocumentRequest(seal_id=seal.seal_id, document=DOCUMENT)
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_list_seals_in_pages(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    for suite in ("sm2", "es256", "ed25519"):
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="finance", name="示例公司", suite=suite)
        )
    first = await stub.ListSeals(pb.ListSealsRequest(page_size=2))
    second = await stub.ListSeals(
        pb.ListSealsRequest(page_size=2, page_token=first.next_page_token)
    )
    assert len(first.seals) == 2 and len(second.seals) == 1
    assert not second.next_page_token
    assert {s.suite for s in [*first.seals, *second.seals]} == {
        "sm2",
        "es256",
        "ed25519",
    }


async def test_errors_and_permissions(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    for request, field in (
        (pb.RegisterSealRequest(name="x", suite="rsa"), "suite"),
        (pb.RegisterSealRequest(name="x", seal_type="secret"), "seal_type"),
        (pb.RegisterSealRequest(name="x", signers=["nobody"]), "signers"),
        (pb.RegisterSealRequest(name="x", picture=b"GIF89a"), "picture"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.RegisterSeal(request)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field_of(err) == field
    seal = (await stub.RegisterSeal(pb.RegisterSealRequest(name="示例公司"))).seal
    stranger = seal_stub(f"dept:{fresh_uscc()}")
    for call in (
        stranger.SealDocument(
            pb.SealDocumentRequest(seal_id=seal.seal_id, document=DOCUMENT)
        ),
        stranger.RevokeSeal(pb.RevokeSealRequest(seal_id=seal.seal_id, reason="x")),
        stranger.ListSeals(pb.ListSealsRequest(owner_code=owner)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SealDocument(pb.SealDocumentRequest(seal_id=seal.seal_id))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(err) == "document"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetSeal(pb.GetSealRequest(seal_id=f"{owner}{'0' * 10}"))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert field_of(err) == "seal_id"


async def test_seal_a_pdf_twice_and_detect_changes(seal_stub, operator):
    import io

    from pyhanko import stamp
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seals = [
        (await stub.RegisterSeal(pb.RegisterSealRequest(name=name, suite=suite))).seal
        for name, suite in (("示例公司", "es256"), ("示例公司合同部", "ed25519"))
    ]
    pdf = blank_pdf()
    for n, seal in enumerate(seals):
        pdf = (
            await stub.SealPdf(
                pb.SealPdfRequest(
                    seal_id=seal.seal_id, pdf=pdf, x_mm=20 + 50 * n, reason="同意"
                )
            )
        ).pdf
    found = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    assert [(r.seal_id, r.verdict) for r in found] == [
        (seals[0].seal_id, "VALID"),
        (seals[1].seal_id, "VALID"),
    ]
    assert all(r.intact and r.trusted and not r.modified for r in found)

    # an incremental update that adds content after sealing
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    stamp.TextStamp(writer=writer, style=stamp.TextStampStyle(stamp_text="PAID")).apply(
        dest_page=0, x=100, y=400
    )
    changed = io.BytesIO()
    writer.write(changed)
    after = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=changed.getvalue()))).seals
    assert {r.verdict for r in after} == {"MODIFIED"}
    # a byte changed inside the signed range
    i = pdf.index(b"/MediaBox")
    tampered = pdf[:i] + b"/MediaBoy" + pdf[i + 9 :]
    broken = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=tampered))).seals
    assert {r.verdict for r in broken} == {"BAD_SIGNATURE"}
    # a seal revoked after sealing: still sealed while valid, its status shown
    await stub.RevokeSeal(pb.RevokeSealRequest(seal_id=seals[0].seal_id, reason="换章"))
    later = (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=pdf))).seals
    assert (later[0].verdict, later[0].current_status) == ("VALID", "revoked")


async def test_pdf_errors(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    sm2 = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例", suite="sm2"))
    ).seal
    es = (
        await stub.RegisterSeal(pb.RegisterSealRequest(name="示例", suite="es256"))
    ).seal
    cases = (
        (pb.SealPdfRequest(seal_id=es.seal_id, pdf=b"not a pdf"), "INVALID_ARGUMENT"),
        (
            pb.SealPdfRequest(seal_id=es.seal_id, pdf=b"%PDF-1.7 trunc"),
            "INVALID_ARGUMENT",
        ),
        (
            pb.SealPdfRequest(seal_id=es.seal_id, pdf=blank_pdf(), page=3),
            "INVALID_ARGUMENT",
        ),
        (
            pb.SealPdfRequest(seal_id=sm2.seal_id, pdf=blank_pdf()),
            "FAILED_PRECONDITION",
        ),
    )
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SealPdf(request)
        assert err.value.code().name == code, (request.page, err.value.details())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=b"GIF89a"))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (await stub.VerifyPdf(pb.VerifyPdfRequest(pdf=blank_pdf()))).seals == []
