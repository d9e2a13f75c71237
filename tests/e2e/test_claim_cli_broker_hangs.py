"""``certseal verify`` of a presentation code while the broker hangs.

trial: the CLI retried the verifier's UNAVAILABLE five times, each attempt waiting out
the claim's 2 s bound (``services.verifier.claims.CLAIM_TIMEOUT_S``), and after about
14 s said "within 2.0 s". A claim handed to the broker may still reach the log, so a
retry of it finds it there (REPLAYED) or waits again: it is not retried, and the
message says what was waited for, how many attempts, and how long in all."""

from __future__ import annotations

import re
import time

from certseal.v1 import issuer_pb2 as pb
from tests.conftest import holder_app_licence, run_certseal, running, verifier_process
from tests.e2e.test_atk8_claims_e2e import presentation_codes_accepted


async def claimable_codes(dept, operator, connect, group, name, count) -> list[str]:
    """``count`` fresh presentation codes of a licence held through a holder app of
    its own, once ``group`` (serving) has answered a claim: its claims producer is
    started, so the next claim is handed to the broker."""
    stubs = {"g": group.stub}
    seen = await holder_app_licence(
        dept, operator, connect, stubs, name=name, app=f"app:{group.group}"
    )
    await presentation_codes_accepted(dept, seen.licence.identifier, stubs)
    ask = pb.CreatePresentationCodeRequest(identifier=seen.licence.identifier)
    issuer = dept.clients.issuer
    return [(await issuer.CreatePresentationCode(ask)).text for _ in range(count)]


async def test_a_claim_the_broker_leaves_unacknowledged_is_said_once(
    stack, config, tmp_path, dept, operator, connect
):
    group = verifier_process(stack, config, tmp_path, "cliclaim")
    async with running(group):
        # the claims producer started (a claim answered): this one is handed over
        (code,) = await claimable_codes(dept, operator, connect, group, "赵六", 1)
        stack.pause_broker()
        try:
            started = time.monotonic()
            status, out = await run_certseal(
                config,
                tmp_path,
                *("verify", "--purpose", "outage", code),
                within=60,
                verifier_target=f"localhost:{group.port}",
            )
            took = time.monotonic() - started
        finally:
            stack.resume_broker()
    assert status != 0, out
    # one attempt: the claim is not retried (it may reach the log yet)
    assert took < 10, (took, out)
    assert "waited 2.0 s for the broker to acknowledge the claim" in out, out
    assert re.search(r"1 attempt, \d+\.\d s in all", out), out
    assert "not retried" in out, out


async def test_a_claim_never_handed_over_is_retried_and_said_so(
    stack, config, tmp_path, dept, operator, connect
):
    # a group's first presentation code: its claims producer cannot start while
    # the broker hangs, nothing is claimed, so gRPC's retries are worth their time
    group = verifier_process(stack, config, tmp_path, "cliretry")
    async with running(group):
        seen = await holder_app_licence(
            dept, operator, connect, {"g": group.stub}, name="钱七", app="app:cliretry"
        )
        ask = pb.CreatePresentationCodeRequest(identifier=seen.licence.identifier)
        code = (await dept.clients.issuer.CreatePresentationCode(ask)).text
        stack.pause_broker()
        try:
            status, out = await run_certseal(
                config,
                tmp_path,
                *("verify", "--purpose", "outage", code),
                within=60,
                verifier_target=f"localhost:{group.port}",
            )
        finally:
            stack.resume_broker()
    assert status != 0, out
    assert "waited 2.0 s for the topic's partitions: nothing was claimed" in out
    assert "not retried" not in out, out
    # the published policy's five attempts, each its 2 s and a back-off between
    took = re.search(r"5 attempts, (\d+\.\d) s in all", out)
    assert took is not None and float(took[1]) >= 10, out


async def test_a_file_of_codes_says_which_lines_were_not_verified(
    stack, config, tmp_path, dept, operator, connect
):
    """atk57: ``verify --codes`` with the broker paused failed in one line of the
    singular ("the presentation code could not be claimed") naming no line of the
    file. Now the verifier names the request's codes and the CLI the file's lines."""
    group = verifier_process(stack, config, tmp_path, "clifile")
    async with running(group):
        codes = await claimable_codes(dept, operator, connect, group, "孙八", 2)
        path = tmp_path / "codes.txt"
        path.write_text(f"{codes[0]}\n\n{codes[1]}\n")
        stack.pause_broker()
        try:
            status, out = await run_certseal(
                config,
                tmp_path,
                *("verify", "--purpose", "outage", "--codes", str(path)),
                within=60,
                verifier_target=f"localhost:{group.port}",
            )
        finally:
            stack.resume_broker()
    assert status == 1, out
    said = out.strip().splitlines()[-1]
    assert said.startswith(
        "error: codes: lines 1 to 3 not verified: 2 presentation codes of this "
        "request could not all be claimed (waited 2.0 s for the broker"
    ), out
    assert said.endswith("They are line 1, line 3"), out
    assert "VALID" not in out.replace("answered VALID", ""), out
