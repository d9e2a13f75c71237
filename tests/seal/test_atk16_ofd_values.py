"""atk16 F3: a character str.isdigit() takes for a digit that int() does not read.

``MaxSignId`` ("s006") was read by keeping the characters for which ``isdigit()`` is
true and passing them to ``int()``: a superscript (``²``) or a circled digit (``①``)
is a digit to the one and no number to the other, so the ValueError ended VerifyOfd
and SealOfd as INTERNAL. Fixed: only ASCII digits are read.
"""

from __future__ import annotations

import grpc
import pytest

from certseal.v1 import seal_pb2 as pb
from services.seal import ofd
from services.seal.ofd_package import read_package
from tests.conftest import seal_owner
from tests.seal.ofd_samples import HEAD, NS, make_ofd, unzip, zip_files


def _listing(max_sign_id: str) -> bytes:
    """make_ofd() declaring a Signatures.xml that lists no signature yet."""
    files = unzip(make_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b"</ofd:DocRoot><ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>",
    )
    files["Doc_0/Signs/Signatures.xml"] = (
        f"{HEAD}<ofd:Signatures {NS}><ofd:MaxSignId>{max_sign_id}</ofd:MaxSignId>"
        "</ofd:Signatures>"
    ).encode()
    return zip_files(files)


@pytest.mark.parametrize(
    ("text", "number"),
    [("s²", 0), ("①", 0), ("s0٣", 0), ("s006", 6), ("s00²7", 7), ("", 0)],
)
def test_max_sign_id_reads_ascii_digits_only(text, number):
    document = ofd.signatures_document(read_package(_listing(text)))
    assert ofd.signature_entries(document) == ([], number)


@pytest.mark.parametrize("text", ["s²", "①"])
async def test_a_max_sign_id_with_a_unicode_digit_is_no_internal_error(
    text, seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    package = _listing(text)
    verified = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))
    assert list(verified.signatures) == []
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name="示例局", suite="sm2")
        )
    ).seal
    try:
        sealed = await stub.SealOfd(
            pb.SealOfdRequest(seal_id=seal.seal_id, ofd=package)
        )
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc
        return
    [result] = (await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=sealed.ofd))).signatures
    assert result.verdict == "VALID", result.checks
    assert result.signature_id == "s001"
