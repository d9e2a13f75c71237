"""`certseal events tail` says when its subscription is open (fix-cli 2: it printed
nothing while it waited, so a subscription that received nothing looked like a
hang), then prints what it was subscribed to."""

from __future__ import annotations

import asyncio
import copy
import secrets
import sys

import pytest

from certseal.config import dump_config
from certseal.files import certificate_common_name
from certseal.rpc import secure_channel
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from certseal.v1 import issuer_pb2 as ipb
from services.cli import main
from services.feed.app import FeedApp
from tests.conftest import issue_request, make_department, run_certseal


@pytest.fixture(scope="module")
async def feed_app(stack, config, issuer):
    app = FeedApp(config, listen="127.0.0.1:0")
    await app.start()
    yield app
    await app.stop(grace=1)


async def tail_as(config, tmp_path, feed_app, name: str) -> tuple[int, str]:
    """``certseal events tail --as NAME`` against the test's feed: exit code, output."""
    return await run_certseal(
        config,
        tmp_path,
        *("events", "tail", "--as", name),
        feed_target=f"localhost:{feed_app.port}",
    )


async def test_tail_says_it_is_subscribed_then_shows_the_event(
    stack, operator, connect, feed_app, config, tmp_path
):
    dept = await make_department(operator, connect)
    integrator = f"integrator:t{secrets.token_hex(3)}"
    ident = stack.ca.identity("operator:admin")
    admin = secure_channel(
        f"localhost:{feed_app.port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    async with admin:
        await feed_pb2_grpc.EventFeedAdminStub(admin).SetEntitlement(
            pb.SetEntitlementRequest(
                entitlement=pb.Entitlement(
                    integrator=integrator,
                    departments=[dept.code],
                    licence_types=["*"],
                    event_types=["licence.*"],
                )
            )
        )
    cfg = copy.deepcopy(config)
    cfg.cli.feed_target = f"localhost:{feed_app.port}"
    config_file = tmp_path / "cli.toml"
    config_file.write_text(dump_config(cfg))
    tail = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "--config", str(config_file),
        "events", "tail", "--as", integrator, "--type", "licence.revoked",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            said = (await tail.stderr.readline()).decode().strip()
        assert said == (
            f"subscribed as {integrator} to licence.revoked from now; waiting for "
            "events (Ctrl-C stops)"
        )
        licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
        await dept.clients.issuer.RevokeLicence(
            ipb.RevokeLicenceRequest(
                identifier=licence.identifier,
                reason="伪造",
                kind=ipb.REVOCATION_KIND_REVOKE,
            )
        )
        async with asyncio.timeout(60):
            shown = (await tail.stdout.readline()).decode()
        assert "licence.revoked" in shown
        assert f"{licence.identifier} revoked (03) 伪造" in shown
    finally:
        tail.kill()
        await tail.wait()


def test_since_says_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["events", "tail", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "latest: only events published from now on (the default)" in shown


async def test_a_refused_subscription_never_says_it_is_subscribed(
    stack, feed_app, config, tmp_path
):
    stranger = f"integrator:t{secrets.token_hex(3)}"  # no entitlement
    stack.ca.identity(stranger)  # made on purpose: the feed judges it
    code, out = await tail_as(config, tmp_path, feed_app, stranger)
    assert code != 0 and out.startswith("error: "), out
    assert "subscribed" not in out, out


@pytest.mark.parametrize("kind", ["integrator", "operator"])
async def test_as_a_name_the_stack_does_not_know_is_refused_and_none_made(
    kind, stack, feed_app, config, tmp_path
):
    """trial53 P6: ``--as`` made a new dev identity for any name, so a mistyped
    integrator's subscription was refused as unentitled, and a mistyped operator's
    (``operator:admn``) was another operator, who sees every event. A name the dev
    CA never issued, entitled to nothing, is bad input naming the known ones and
    how to make one; nothing is issued."""
    known = f"{kind}:t{secrets.token_hex(3)}"
    stack.ca.identity(known)  # certseal dev identity's
    typo = known[:-1]
    code, out = await tail_as(config, tmp_path, feed_app, typo)
    assert code == 2, out
    assert out.startswith(
        f"error: as: the stack knows no {typo}; did you mean {known}?"
    ), out
    assert f"'certseal dev identity {typo}' makes a new identity" in out, out
    assert len(out.splitlines()) == 1, out
    assert not stack.ca.holds(typo)
    assert typo not in stack.ca.issued(kind)
    assert known in stack.ca.issued(kind)


async def test_tail_says_once_it_waits_for_the_broker_then_that_it_subscribed(
    stack, feed_app, config, tmp_path, monkeypatch
):
    # trial: with the broker away the command said nothing at all, no "subscribed"
    # line, for as long as the broker was away (each attempt waited out aiokafka's
    # 15 s request timeout, gRPC's retries five of them)
    import services.feed.service as feed_service
    from certseal.errors import CertsealError

    refused, reach = asyncio.Event(), feed_service.reached
    tries = []

    async def counted(work, bootstrap):  # the feed's own, counted
        try:
            return await reach(work, bootstrap)
        except CertsealError:
            tries.append(1)
            if len(tries) >= 4:
                refused.set()
            raise

    monkeypatch.setattr(feed_service, "reached", counted)
    cfg = copy.deepcopy(config)
    cfg.cli.feed_target = f"localhost:{feed_app.port}"
    config_file = tmp_path / "cli.toml"
    config_file.write_text(dump_config(cfg))
    stack.pause_broker()
    try:
        tail = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services", "--config", str(config_file),
            "events", "tail",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(30):  # the feed's 3 s bound, and a start
                said = (await tail.stderr.readline()).decode().strip()
            async with asyncio.timeout(60):  # three more subscriptions tried
                await refused.wait()
        finally:
            stack.resume_broker()
        broker = stack.config.kafka.bootstrap_servers
        assert said.startswith(
            f"waiting for the broker: the event feed's broker (at {broker}) did not "
            "answer within 3 s: no subscription is open"
        ), said
        assert "until it answers (Ctrl-C stops)" in said, said
        # the next line is the subscription, opened once the broker answers: the
        # wait was said once, not a line per subscription tried meanwhile
        async with asyncio.timeout(60):
            said = (await tail.stderr.readline()).decode().strip()
        # the name in [cli] cert_file (trial71: "the CLI's identity", not who)
        name = certificate_common_name(config.cli.cert_file, "cli.cert_file")
        assert name and said.startswith(f"subscribed as {name} ([cli] cert_file) "), (
            said
        )
        assert tail.returncode is None
    finally:
        stack.resume_broker()
        tail.kill()
        await tail.wait()
