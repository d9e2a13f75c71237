"""trial (a new user's walk-through) 1: ``seal register --signer dept:abc`` was
accepted, and so was ``dept:`` with 19 characters or a wrong check character: a
signer no certificate can ever name, so the seal could never be used. Every signer is
now checked as an identity (a caller kind the platform has, a name without spaces,
for ``dept:`` a GB 32100 code with its check character) both by the CLI's parser
(``error: signer: ...``, exit 2) and by RegisterSeal (INVALID_ARGUMENT naming
``signers``). A well-formed department not onboarded stays accepted (README)."""

import datetime as dt

import pytest

from certseal.crypto import Suite
from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import make_uscc
from services.seal.registration import RegisterSealInput, validate_registration

OWNER = make_uscc("91350100M00010000")
NOT_ONBOARDED = make_uscc("91110000MA0000000")
WRONG_CHECK = NOT_ONBOARDED[:17] + ("0" if NOT_ONBOARDED[17] != "0" else "1")

NEVER = [
    "dept:abc",
    f"dept:{NOT_ONBOARDED}X",  # 19 characters
    f"dept:{WRONG_CHECK}",
    f"dept:{NOT_ONBOARDED.lower()}",
    "app:",
    "app:two words",
    "app:tab\there",
    "robot:r2",
    "nocolon",
    "operator:ops",  # a kind that may not use seals
]
FINE = [f"dept:{NOT_ONBOARDED}", "app:contracts", "service:issuer"]


def _registration(signer: str) -> RegisterSealInput:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return RegisterSealInput(
        owner_code=OWNER,
        seal_type="official",
        name="Seal",
        suite=Suite.ES256,
        valid_start=start,
        valid_end=start + dt.timedelta(days=365),
        signers=(signer,),
    )


@pytest.mark.parametrize("signer", NEVER)
def test_register_seal_refuses_a_signer_no_certificate_can_name(signer):
    with pytest.raises(CertsealError) as refused:
        validate_registration(_registration(signer))
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "signers"
    assert repr(signer) in refused.value.message


@pytest.mark.parametrize("signer", FINE)
def test_register_seal_takes_a_well_formed_signer_onboarded_or_not(signer):
    validate_registration(_registration(signer))


@pytest.mark.parametrize("signer", NEVER)
def test_seal_register_refuses_the_signer_before_any_call(signer, capsys):
    from services.cli import main

    argv = ["seal", "register", "--type", "official", "--name", "x"]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--signer", "app:contracts", "--signer", signer])
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.splitlines()[-1].startswith(f"error: signer: {signer!r}"), err
