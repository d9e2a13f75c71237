"""atk39b_holder 1: the seal service's check of a licence file's code never fails the
seal verdicts (docs/holder.md: "never an error for the seals"). gRPC refused a
non-ASCII ``x-certseal-counter`` with an exception that was not an ``AioRpcError``,
and the whole VerifyPdf failed; any failure of the verifier call is now the licence
status's "no verdict: ..." detail, logged once."""

from __future__ import annotations

import logging

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.seal.licence_files import Asker, LicenceFiles

META = {
    "identifier": "1.2.156.3005.2.11100000000013127D001.X.Y",
    "type_code": "11100000000013127D001",
    "issuer_code": "11100000000013127D",
    "licence_code": "CODE",
}


class Failing:
    def __init__(self, exc: Exception):
        self.exc = exc

    async def verdict(self, code, asker):
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (
            CertsealError(ErrorKind.UNAVAILABLE, "verifier group: down"),
            "no verdict: verifier group: down",
        ),
        (
            ValueError("metadata was invalid"),
            "no verdict: the verifier group could not be asked (ValueError)",
        ),
    ],
)
async def test_any_failure_of_the_verifier_call_is_no_verdict(exc, detail, caplog):
    files = LicenceFiles(verifier=Failing(exc))
    with caplog.at_level(logging.WARNING, logger="services.seal.licence_files"):
        status = await files._status(dict(META), Asker("app:政务钱包"))
    assert status.verdict == ""
    assert status.detail == detail
    assert status.identifier == META["identifier"]
    logged = [r for r in caplog.records if r.name == "services.seal.licence_files"]
    assert len(logged) == 1
