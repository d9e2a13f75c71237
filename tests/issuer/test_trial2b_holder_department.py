"""trial2b 1: ``holder authorise --department`` with a mistyped check character, in
lower case or of the wrong length was sent to the Issuer, which answered "unknown
department"; every other command names what is wrong with the code. The holder's
command now checks the code's form before any call, with the same words, and the
Issuer's AuthoriseUse checks it before looking the department up."""

import datetime as dt

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.identifiers import make_resident_id, make_uscc
from tests.issuer.test_trial_holder_ids import _run
from tests.issuer.test_use_within_validity import world  # noqa: F401

GOOD = make_uscc("91350200M00020000")
WRONG_CHECK = GOOD[:17] + ("X" if GOOD[17] != "X" else "Y")
LICENCE = (
    "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.C90MHI5MLZCUICOG.001.1"
)


def _authorise(department):
    return [
        "authorise", LICENCE, "--id-number", make_resident_id("11010119900307123"),
        "--department", department, "--purpose", "p", "--field", "class",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("department", "said"),
    [
        (WRONG_CHECK, f"check character of {WRONG_CHECK!r} is "),
        (GOOD.lower(), "is not a unified social credit code"),
        (GOOD[:17], "must be 18 characters, got 17"),
        (f"dept:{GOOD}", "a department is named by its code alone"),
        ("９" + GOOD[1:], "identifiers are ASCII only"),
    ],
    ids=["check-character", "lower-case", "short", "with-kind", "full-width"],
)
def test_a_malformed_department_is_named_before_any_call(
    department, said, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no stack here: a refusal comes before any call
    code, last = _run(capsys, _authorise(department))
    assert code == 2, last
    assert last.startswith("error: department: "), last
    assert said in last, last


def test_a_well_formed_department_goes_on_to_the_issuer(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, last = _run(capsys, _authorise(GOOD))
    assert last.startswith("error: config: no configuration"), last


@pytest.mark.parametrize(
    ("mistyped", "said"),
    [
        (lambda c: c[:17] + ("X" if c[17] != "X" else "Y"), "check character of "),
        (str.lower, "is not a unified social credit code"),
    ],
    ids=["check-character", "lower-case"],
)
async def test_authorise_use_names_what_is_wrong_with_the_code(
    world,  # noqa: F811
    mistyped,
    said,
):
    clock = world["clock"]
    clock.now += dt.timedelta(days=1, seconds=1)  # the licence is valid now
    with pytest.raises(CertsealError) as refused:
        await world["service"].holder.authorise(
            world["app"],
            world["licence"].identifier,
            holder=world["holder"],
            department_code=mistyped(world["other"].code),
            counter="",
            purpose="开立银行账户",
            fields=["class"],
            expires_at=clock.now + dt.timedelta(days=7),
        )
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == "department_code"
    assert said in refused.value.message, refused.value.message


async def test_a_withdrawal_names_the_department_as_the_authorisation_did(world):  # noqa: F811
    """trial2b 6: ``holder withdraw`` dropped the department's name ``authorise``
    showed: RevokeAuthorisation answers it too."""
    from tests.issuer.test_use_within_validity import authorise

    world["clock"].now = world["licence"].valid_from
    auth, _, named = await authorise(world)
    withdrawn, name = await world["service"].holder.revoke(
        world["app"], auth.authorisation_id, holder=world["holder"], reason="不再需要"
    )
    assert withdrawn.revoked_at is not None
    assert name == named == f"测试部门 {world['other'].code[-4:]}"
