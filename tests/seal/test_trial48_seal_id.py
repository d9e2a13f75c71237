"""trial48 (low): a seal id no seal can have (a typo, lower case, a truncated paste)
was looked up and answered "seal … not found", exit 1, where a malformed key id is
refused as a mistake, exit 2. Every request naming a seal now refuses text without a
seal id's shape first: INVALID_ARGUMENT naming ``seal_id``, `error: seal-id: …` from the CLI, exit 2.
"""

from __future__ import annotations

import grpc
import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import make_uscc
from certseal.v1 import seal_pb2 as pb
from services.seal.registration import check_seal_id, new_seal_id
from tests.conftest import blank_pdf, seal_owner
from tests.seal.ofd_samples import make_ofd

OWNER = make_uscc("91440300MA5F00000")
WELL_FORMED = f"{OWNER}0123456789"

MALFORMED = [
    ("", "is required"),
    # typed in lower case (trial49: the length was said, not the case)
    (WELL_FORMED.lower(), f"character 9 of {WELL_FORMED.lower()!r} is lower-case 'm'"),
    (WELL_FORMED[:-1], "it is 27 characters"),  # the paste cut short
    (f"{WELL_FORMED}0", "it is 29 characters"),
    (f"{WELL_FORMED[:20]}-{WELL_FORMED[21:]}", "character 21 of"),
    (f"{WELL_FORMED[:27]}１", "full-width form of '1'"),  # a full-width digit
    (f" {WELL_FORMED[1:]}", "character 1 of"),  # a space pasted with it
    (f"{OWNER[:17]}{'0' if OWNER[17] != '0' else '1'}0123456789", "check character"),
    ("NOPE", "it is 4 characters"),
]


def test_a_fresh_seal_id_has_the_shape_checked():
    seal_id = new_seal_id(OWNER)
    assert len(seal_id) == 28 and seal_id.startswith(OWNER)
    assert check_seal_id(seal_id) == seal_id
    assert check_seal_id(WELL_FORMED) == WELL_FORMED


@pytest.mark.parametrize(("text", "problem"), MALFORMED)
def test_text_no_seal_can_have_is_refused_naming_seal_id(text, problem):
    with pytest.raises(CertsealError) as err:
        check_seal_id(text)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert err.value.field == "seal_id"
    assert problem in err.value.message, err.value.message


@pytest.mark.parametrize(("text", "problem"), MALFORMED[1:4])
async def test_every_request_naming_a_seal_refuses_a_malformed_id(
    seal_stub, operator, text, problem
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    for call in (
        stub.GetSeal(pb.GetSealRequest(seal_id=text)),
        stub.RevokeSeal(pb.RevokeSealRequest(seal_id=text, reason="lost")),
        stub.SealDocument(pb.SealDocumentRequest(seal_id=text, document=b"x")),
        stub.SealPdf(pb.SealPdfRequest(seal_id=text, pdf=blank_pdf())),
        stub.SealOfd(pb.SealOfdRequest(seal_id=text, ofd=make_ofd())),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert problem in err.value.details(), err.value.details()


async def test_a_well_formed_id_no_seal_has_is_still_not_found(seal_stub, operator):
    owner = await seal_owner(operator)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await seal_stub(f"dept:{owner}").GetSeal(
            pb.GetSealRequest(seal_id=f"{owner}ZZZZZZZZZZ")
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND


async def test_the_cli_says_the_field_and_exits_2(cli, operator):
    owner = await seal_owner(operator)
    code, out = await cli("seal", "--as", owner, "get", WELL_FORMED.lower())
    assert code == 2, out
    assert out.startswith("error: seal-id: character 9 of "), out
    assert "is lower-case 'm'" in out, out
