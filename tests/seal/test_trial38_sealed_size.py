"""trial38 finding 1: the seal service refused to verify a sealed document it made.

A PDF just under ``[seal] max_document_bytes`` sealed to 36 KiB over it, and
VerifyPdf refused the service's own output (the same with an OFD). Sealing now
refuses (INVALID_ARGUMENT on the document's field, saying the sealed size, the
limit and what to do) an output over what verification accepts, and records no
use of the seal for it (services.seal.limits). The limits here are small, so the
tests stay fast."""

from __future__ import annotations

import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.sizes import beyond
from services.seal.domain import SealVerdict
from services.seal.limits import check_sealed_size
from services.seal.ofd_service import OfdSealService
from services.seal.ofd_sign import StampPlace
from services.seal.pdf import Placement
from services.seal.pdf_service import PdfSealService
from tests.conftest import blank_pdf, seal_owner
from tests.seal.ofd_samples import make_ofd
from tests.seal.service_samples import request


def _pdfs(service, seal_store, seal_ca, limit: int) -> PdfSealService:
    return PdfSealService(
        seals=service, store=seal_store, seal_ca=seal_ca, max_document_bytes=limit
    )


async def _uses(seal_store, seal_id: str) -> list[str]:
    rows = await seal_store.pool.fetch(
        "select outcome from audit_log where subject = $1 and action = 'seal.use'",
        seal_id,
    )
    return [r["outcome"] for r in rows]


async def _seal_pdf(pdfs: PdfSealService, caller: Caller, seal_id: str, pdf: bytes):
    return await pdfs.seal_pdf(
        caller, seal_id, pdf=pdf, placement=Placement(), reason="trial38"
    )


async def test_a_pdf_sealed_to_the_limit_verifies_and_one_byte_over_is_refused(
    service, seal_store, seal_ca, operator
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, Suite.ES256))
    pdf = blank_pdf()
    size = len(
        (
            await _seal_pdf(
                _pdfs(service, seal_store, seal_ca, 1 << 20), caller, seal.seal_id, pdf
            )
        ).pdf
    )
    # the sealed size is fixed (the signature's room is reserved): at the limit it is
    # made, and the same service verifies what it made
    at_limit = _pdfs(service, seal_store, seal_ca, size)
    sealed = await _seal_pdf(at_limit, caller, seal.seal_id, pdf)
    assert len(sealed.pdf) == size
    [found] = await at_limit.verify_pdf(sealed.pdf)
    assert found.verdict is SealVerdict.VALID
    uses = await _uses(seal_store, seal.seal_id)
    with pytest.raises(CertsealError) as err:
        await _seal_pdf(
            _pdfs(service, seal_store, seal_ca, size - 1), caller, seal.seal_id, pdf
        )
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == "pdf"
    message = err.value.message
    shown, limit_shown = beyond(size, size - 1)
    assert message.startswith(
        f"the sealed PDF would be {shown}, over the {limit_shown} a document may "
        "have here ([seal] max_document_bytes), so it could not be verified; "
        f"the PDF given is {beyond(len(pdf), len(pdf) - 1)[0]} and sealing adds "
        "about "
    )
    assert message.endswith(
        ": make the PDF at least 1 byte smaller (compress or split it), to at most "
        f"{len(pdf) - 1:,} bytes, or raise [seal] max_document_bytes"
    )
    assert await _uses(seal_store, seal.seal_id) == uses  # nothing recorded for it


@pytest.mark.parametrize("suite", [Suite.SM2, Suite.ES256])
async def test_an_ofd_that_would_seal_over_the_limit_is_refused(
    service, seal_store, operator, suite
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await service.register(caller, request(owner, suite))
    ofd = make_ofd()
    roomy = OfdSealService(seals=service, max_document_bytes=1 << 20)
    sealed = await roomy.seal_ofd(caller, seal.seal_id, ofd=ofd, place=StampPlace())
    assert len(sealed.ofd) > len(ofd)  # sealing adds the seal and its signature
    [result] = (await roomy.verify_ofd(sealed.ofd)).signatures
    assert result.verification.verdict is SealVerdict.VALID
    uses = await _uses(seal_store, seal.seal_id)
    # the OFD itself is within the limit; sealed, it would not be
    tight = OfdSealService(seals=service, max_document_bytes=len(ofd))
    with pytest.raises(CertsealError) as err:
        await tight.seal_ofd(caller, seal.seal_id, ofd=ofd, place=StampPlace())
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT and err.value.field == "ofd"
    assert err.value.message.startswith("the sealed OFD would be ")
    assert f"over the {beyond(len(sealed.ofd), len(ofd))[1]} a document" in (
        err.value.message
    )
    assert await _uses(seal_store, seal.seal_id) == uses  # nothing recorded for it


async def test_a_document_over_the_limit_is_said_in_mib(service, seal_store, seal_ca):
    pdfs = _pdfs(service, seal_store, seal_ca, 60 * 1024 * 1024)
    with pytest.raises(CertsealError) as err:
        await pdfs.verify_pdf(b"%PDF-1.7\n" + bytes(62_951_448))
    assert err.value.field == "pdf"
    assert err.value.message == (
        "is 60.04 MiB (62,951,457 bytes); the limit is 60 MiB "
        "([seal] max_document_bytes)"
    )


def test_the_sizes_said_cannot_read_as_met():
    """trial38 finding 2: a 59.96 MiB PDF sealed to 62,914,766 bytes was told
    "compress or split the PDF to at most about 60.0 MiB (62,875,631 bytes)", which
    it already read as. The refusal says the size given and by how much it must come
    down."""
    with pytest.raises(CertsealError) as err:
        check_sealed_size("pdf", "PDF", 62_875_837, 62_914_766, 60 << 20)
    assert err.value.field == "pdf"
    assert err.value.message == (
        "the sealed PDF would be 60.000 MiB (62,914,766 bytes), over the 60 MiB a "
        "document may have here ([seal] max_document_bytes), so it could not be "
        "verified; the PDF given is 59.963 MiB (62,875,837 bytes) and sealing adds "
        "about 38.0 KiB (38,929 bytes): make the PDF at least 206 bytes smaller "
        "(compress or split it), to at most 62,875,631 bytes, or raise [seal] "
        "max_document_bytes"
    )
