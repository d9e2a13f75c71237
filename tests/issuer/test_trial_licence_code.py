"""trial (a new user's walk-through) 7: ``licence code`` of a revoked or suspended
licence printed its code with exit 0 and no word, while a superseded version's warned:
a clerk handed out a code every verifier refuses. Every status but valid now warns on
stderr the same way; the code is still printed and the exit status stays 0."""

import argparse

import pytest

from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer.code_cli import licence_code

ID = "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.C90MHI5MLZCUICOG.001.1"


class _Stub:
    def __init__(self, status: int, current: str = ""):
        self.status, self.current = status, current

    def GetLicenceCode(self, request):
        assert request.identifier == ID
        return pb.GetLicenceCodeResponse(
            text="LC1:CODE", current_identifier=self.current
        )

    def GetLicence(self, request):
        assert request.identifier == ID
        return pb.GetLicenceResponse(
            licence=licence_pb2.Licence(identifier=ID, status=self.status)
        )


def _run(capsys, stub):
    args = argparse.Namespace(identifier=ID, png=None)
    code = licence_code(args, lambda _args, call: call(stub))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (2, "suspended (02)"),
        (3, "revoked (03)"),
        (4, "cancelled (04)"),
        (5, "expired (05)"),
        (6, "transferred out (06)"),
        (7, "revoked as a sanction (07)"),
        (99, "other (99)"),
    ],
)
def test_the_code_of_a_licence_not_valid_warns_with_its_status(capsys, status, words):
    code, out, err = _run(capsys, _Stub(status))
    assert code == 0 and out == "LC1:CODE\n"
    assert err == (
        f"warning: {ID} is {words}, and this code does not verify as valid\n"
    )


def test_the_code_of_a_valid_licence_warns_of_nothing(capsys):
    assert _run(capsys, _Stub(1)) == (0, "LC1:CODE\n", "")


def test_a_superseded_version_still_says_its_current_one(capsys):
    code, _, err = _run(capsys, _Stub(1, current="NEW"))
    assert code == 0
    assert err.startswith(f"warning: {ID} was superseded; its current version is NEW")


def test_a_status_that_cannot_be_read_is_said_and_the_code_still_printed(capsys):
    from certseal.errors import CertsealError, ErrorKind

    class _Unread(_Stub):
        def GetLicence(self, request):
            raise CertsealError(ErrorKind.UNAVAILABLE, "issuer: gone", field="issuer")

    code, out, err = _run(capsys, _Unread(1))
    assert (code, out) == (0, "LC1:CODE\n")
    assert (
        err == f"warning: the status of {ID} could not be read (issuer: issuer: gone)\n"
    )
