"""atk17c: an annotated copy (加注件) gets its licence's status because the platform
seals it in the issuer's stead (docs/holder.md). Only the seal copies are sealed
with counts: the platform's official seal that only the issuer uses. A platform seal
of another type, or one another identity may use, would let its user seal any PDF
carrying a genuine licence's metadata (read off a licence file) and have it verify
with that licence's status, called a copy."""

# ruff: noqa: F811 (the fixtures imported below are test parameters)
from __future__ import annotations

import pytest

from certseal.licencefile import keywords_text
from certseal.v1 import seal_pb2 as seal_pb
from tests.e2e.test_holder_documents import (  # noqa: F401 (fixtures)
    holder_stubs,
    licence_file_once_valid,
    pdf_with_keywords,
    verifier_group,
    world,
)


@pytest.mark.parametrize(
    ("seal_type", "signers"),
    [
        ("contract", ["{other}"]),  # a platform seal of another type
        ("official", ["{other}"]),  # the platform's official seal, another's to use
        ("official", ["service:issuer", "{other}"]),  # shared with another
    ],
)
async def test_a_platform_seal_not_only_the_issuers_gives_no_verdict(
    world, seal_stub, verifier_group, config, seal_type, signers
):
    licence = world["licence"]
    _, meta = await licence_file_once_valid(world, verifier_group)
    other = f"dept:{world['other'].code}"
    seal = (
        await seal_stub("operator:admin").RegisterSeal(
            seal_pb.RegisterSealRequest(
                owner_code=config.platform.code,
                seal_type=seal_type,
                name="平台其他章",
                suite="es256",
                signers=[s.format(other=other) for s in signers],
            )
        )
    ).seal
    # the other department seals a page of its own making that carries the
    # genuine metadata (any text drawn on it: a name, a purpose, a date)
    forged = (
        await seal_stub(other).SealPdf(
            seal_pb.SealPdfRequest(
                seal_id=seal.seal_id, pdf=pdf_with_keywords(keywords_text(meta))
            )
        )
    ).pdf
    verified = await seal_stub("operator:admin").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=forged)
    )
    assert [s.verdict for s in verified.seals] == ["VALID"]
    assert verified.licence.identifier == licence.identifier
    assert verified.licence.verdict == "", verified.licence
    assert "copy" not in verified.licence.detail, verified.licence.detail


async def test_a_contract_seal_of_the_issuer_gives_no_verdict(
    world, seal_stub, verifier_group
):
    """The issuer seals a licence file with its official seal (official_seal_for):
    a seal of another type of the issuing department, e.g. a contract seal its
    clerks use, does not make a file the licence's."""
    _, meta = await licence_file_once_valid(world, verifier_group)
    dept = world["dept"]
    seal = (
        await seal_stub(f"dept:{dept.code}").RegisterSeal(
            seal_pb.RegisterSealRequest(
                seal_type="contract",
                name="合同专用章",
                suite="es256",
                signers=[f"dept:{dept.code}"],
            )
        )
    ).seal
    forged = (
        await seal_stub(f"dept:{dept.code}").SealPdf(
            seal_pb.SealPdfRequest(
                seal_id=seal.seal_id, pdf=pdf_with_keywords(keywords_text(meta))
            )
        )
    ).pdf
    verified = await seal_stub("operator:admin").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=forged)
    )
    assert [s.verdict for s in verified.seals] == ["VALID"]
    assert verified.licence.verdict == "", verified.licence
