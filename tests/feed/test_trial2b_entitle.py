"""trial2b 2: ``feed entitle integrator:dave --department D`` (no licence type, no
event type) was taken, printing "licence types -; events -", and ``events tail``
under it later failed "lets no event through"; ``--type department.onboarded`` (not
on the feed) was taken too. An entitlement that lets nothing through, or names an
event type the feed does not carry, is refused, naming the list; every right is
withdrawn with its own command (``feed revoke``, RemoveEntitlement)."""

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.feed.domain import Entitlement
from services.feed.filters import check_entitlement
from tests.feed.test_service import channel_as, collect, entitle, feed_app, withdraw

__all__ = ["channel_as", "feed_app"]  # fixtures used here

DEPT = "91350100M000100Y43"
EVERY = frozenset({"*"})


@pytest.mark.parametrize(
    ("entitlement", "field", "problem"),
    [
        (Entitlement("integrator:x", frozenset({DEPT})),
         "event_types", "names no event type"),
        (Entitlement("integrator:x", frozenset({DEPT}),
                     event_types=frozenset({"licence.*"})),
         "licence_types", "names no licence type"),
        (Entitlement("integrator:x", frozenset({DEPT}),
                     event_types=frozenset({"licence.revoked", "licence.used"})),
         "licence_types", "names no licence type"),
        (Entitlement("integrator:x", frozenset(), EVERY, EVERY),
         "departments", "names no department"),
        (Entitlement("integrator:x", EVERY, EVERY,
                     frozenset({"department.onboarded"})),
         "event_types", "which the event feed does not carry"),
        (Entitlement("integrator:x", EVERY, EVERY, frozenset({"licence_type.*"})),
         "event_types", "which the event feed does not carry"),
    ],
    ids=["no-event-type", "licence-no-type", "licence-types-only", "no-department",
         "directory-type", "directory-pattern"],
)  # fmt: skip
def test_an_entitlement_that_lets_nothing_through_is_refused(
    entitlement, field, problem
):
    with pytest.raises(CertsealError) as refused:
        check_entitlement(entitlement)
    assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
    assert refused.value.field == field
    assert problem in refused.value.message, refused.value.message


@pytest.mark.parametrize(
    "entitlement",
    [
        Entitlement("integrator:x", frozenset({DEPT}), EVERY, frozenset({"*"})),
        # key and seal events pass without a licence type
        Entitlement("integrator:x", frozenset({DEPT}), frozenset(),
                    frozenset({"key.*", "licence.*"})),
        Entitlement("integrator:x", EVERY, frozenset(), frozenset({"seal.*"})),
    ],
)  # fmt: skip
def test_an_entitlement_that_lets_some_event_through_is_taken(entitlement):
    check_entitlement(entitlement)


def _main(capsys, argv):
    from services import cli

    try:
        status = cli.main(argv)
    except SystemExit as stopped:
        status = stopped.code
    captured = capsys.readouterr()
    return status, (captured.out + captured.err).strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--department", DEPT], "error: type: is empty"),
        (["--department", DEPT, "--type", "licence.*"], "error: licence-type: is empty"),
        (["--licence-type", "*", "--type", "*"], "error: department: is empty"),
        (["--department", DEPT, "--type", "department.onboarded"],
         "error: type: 'department.onboarded': published on"),
        (["--department", "nope", "--type", "*"], "error: department: "),
    ],
    ids=["no-type", "no-licence-type", "no-department", "off-feed-type", "bad-code"],
)  # fmt: skip
def test_feed_entitle_names_the_option_before_any_call(
    options, said, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no stack: a refusal comes before any call
    status, last = _main(capsys, ["feed", "entitle", "integrator:dave", *options])
    assert status == 2, last
    assert last.startswith(said), last


def test_feed_revoke_goes_on_to_the_feed(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, last = _main(capsys, ["feed", "revoke", "integrator:dave"])
    assert last.startswith("error: config: no configuration"), last
    status, last = _main(capsys, ["feed", "revoke", "app:dave"])
    assert status == 2 and last.startswith("error: integrator: "), last


async def test_set_entitlement_refuses_nothing_through_and_remove_withdraws(
    channel_as,
):
    """Over gRPC: SetEntitlement of licence events without a licence type is
    INVALID_ARGUMENT naming licence_types, the right unchanged; RemoveEntitlement
    leaves an empty entitlement, under which a subscription is refused."""
    import secrets

    import grpc

    from certseal.v1 import feed_pb2 as pb
    from certseal.v1 import feed_pb2_grpc

    integrator = f"integrator:t2b-{secrets.token_hex(3)}"
    await entitle(channel_as, integrator, ["*"], ["licence.*"])
    async with channel_as("operator:admin") as channel:
        admin = feed_pb2_grpc.EventFeedAdminStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.SetEntitlement(
                pb.SetEntitlementRequest(
                    entitlement=pb.Entitlement(
                        integrator=integrator,
                        departments=["*"],
                        event_types=["licence.*"],
                    )
                )
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        trailing = dict(err.value.trailing_metadata() or ())
        assert trailing["certseal-error-field"] == "licence_types"
        kept = await admin.GetEntitlement(
            pb.GetEntitlementRequest(integrator=integrator)
        )
        assert list(kept.entitlement.licence_types) == ["*"]
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a mistyped name: nothing
        await withdraw(channel_as, f"{integrator}x")
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert dict(err.value.trailing_metadata())["certseal-error-field"] == "integrator"
    # trial71: the name it is a typo of is offered, as `events tail --as` offers it
    assert err.value.details() == (
        f"integrator: {integrator}x was never entitled: nothing to withdraw (did you mean "
        f"{integrator}? certseal feed entitlements lists the integrators that are)"
    ), err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:  # nothing near: none offered
        await withdraw(channel_as, "integrator:zzz-nothing-like-it")
    assert "did you mean" not in err.value.details(), err.value.details()
    removed = await withdraw(channel_as, integrator)
    assert removed.entitlement == pb.Entitlement(integrator=integrator)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(channel_as, integrator, 1, within=10)
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # its rights withdrawn, said so (trial56: not "names no department")
    assert "was withdrawn (certseal feed revoke" in (err.value.details() or "")
    # withdrawn twice: said as withdrawn already (trial56: "a right … not found")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await withdraw(channel_as, integrator)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert err.value.details() == (
        f"integrator: every right of {integrator} was withdrawn already: nothing to "
        "withdraw"
    )
