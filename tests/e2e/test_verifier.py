"""Two verifier deployments (own consumer group, own RocksDB index) follow the issuer."""

import asyncio
import secrets
import time

import grpc
import pytest

from certseal.config import dump_config
from certseal.events import LICENCE_EVENTS, VERIFIER_DEAD_LETTERS
from certseal.rpc import secure_channel
from certseal.v1 import events_pb2, verifier_pb2, verifier_pb2_grpc
from certseal.v1 import issuer_pb2 as pb
from tests.conftest import (
    EventWatcher,
    VerifierProcess,
    issue_request,
    make_department,
    run_certseal,
    running,
    verdict_everywhere,
    verifier_process,
)
from tests.e2e.test_atk8_claims_e2e import presentation_codes_accepted

VALID = verifier_pb2.VERDICT_VALID


@pytest.fixture(scope="module")
async def deployments(stack, config, issuer, tmp_path_factory):
    home = tmp_path_factory.mktemp("verifiers")
    # a snapshot per export: tests see each change
    groups = {
        process.group: process
        for process in (
            verifier_process(stack, config, home, name, bundle_refresh_s=0)
            for name in ("x", "y")
        )
    }
    async with running(*groups.values()):
        yield groups


@pytest.fixture
def verifiers(deployments):
    return {group: v.stub for group, v in deployments.items()}


async def valid_licence(dept, verifiers) -> tuple:
    """A freshly issued licence and its code, once every group answers VALID."""
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = (
        await dept.clients.issuer.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    await verdict_everywhere(verifiers, code, VALID)
    return licence, code


async def test_two_groups_follow_issuance_and_revocation(verifiers, dept):
    licence, code = await valid_licence(dept, verifiers)
    reply = await next(iter(verifiers.values())).VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事")
    )
    assert reply.result.fields["class"] == "C1" and "address" not in reply.result.fields
    assert reply.result.holder_display_name == "张*丰"
    assert [c.name for c in reply.result.checks][-1] == "validity"
    assert reply.result.freshness.last_event_time.seconds > 0
    await dept.clients.issuer.RevokeLicence(
        pb.RevokeLicenceRequest(
            identifier=licence.identifier, reason="伪造", kind=pb.REVOCATION_KIND_REVOKE
        )
    )
    took = await verdict_everywhere(verifiers, code, verifier_pb2.VERDICT_REVOKED)
    assert took < 5.0


async def test_suspend_unsuspend_and_amend_propagate(verifiers, dept):
    stub = dept.clients.issuer
    licence = (await stub.IssueLicence(issue_request(dept))).licence
    code = (
        await stub.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=licence.identifier)
        )
    ).text
    await verdict_everywhere(verifiers, code, VALID)
    await stub.SuspendLicence(pb.SuspendLicenceRequest(identifier=licence.identifier))
    await verdict_everywhere(verifiers, code, verifier_pb2.VERDICT_SUSPENDED)
    await stub.UnsuspendLicence(
        pb.UnsuspendLicenceRequest(identifier=licence.identifier)
    )
    await verdict_everywhere(verifiers, code, VALID)
    amend = pb.AmendLicenceRequest(identifier=licence.identifier, reason="升级")
    amend.fields["class"].string_value = "A1"
    amended = (await stub.AmendLicence(amend)).licence
    new_code = (
        await stub.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=amended.identifier)
        )
    ).text
    await verdict_everywhere(verifiers, code, verifier_pb2.VERDICT_SUPERSEDED)
    await verdict_everywhere(verifiers, new_code, VALID)


async def test_presentation_code_is_accepted_once(verifiers, dept, connect):
    licence, _code = await valid_licence(dept, verifiers)
    shown = (
        await dept.clients.issuer.CreatePresentationCode(
            pb.CreatePresentationCodeRequest(identifier=licence.identifier)
        )
    ).text
    stub = next(iter(verifiers.values()))
    # SERVING does not wait for the replay guard: until it has read the usage topic a
    # presentation code is UNAVAILABLE ("retry later"), as a counter would be told
    await presentation_codes_accepted(dept, licence.identifier, {"a": stub})
    request = verifier_pb2.VerifyCodeRequest(code=shown, purpose="窗口办事")
    assert (await stub.VerifyCode(request)).result.verdict == VALID
    assert (
        await stub.VerifyCode(request)
    ).result.verdict == verifier_pb2.VERDICT_REPLAYED


async def test_bad_input(verifiers):
    stub = next(iter(verifiers.values()))
    reply = await stub.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code="LC1:NOT-A-CODE", purpose="窗口办事")
    )
    assert reply.result.verdict == verifier_pb2.VERDICT_MALFORMED
    assert not reply.result.checks[0].passed
    for request, field in (
        (verifier_pb2.VerifyCodeRequest(code="", purpose="x"), "code"),
        (verifier_pb2.VerifyCodeRequest(code="LC1:X"), "purpose"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.VerifyCode(request)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert dict(err.value.trailing_metadata())["certseal-error-field"] == field


async def test_index_status(verifiers):
    for stub in verifiers.values():
        deadline = time.monotonic() + 10
        while True:  # settled: every event the broker reports is applied
            status = await stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
            if not any(p.lag for p in status.partitions):
                break
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.05)
        assert status.licence_entries > 0 and status.trust_entries > 0
        topics = {p.topic for p in status.partitions}
        assert "certseal.licence-events.v1" in topics
        for p in status.partitions:
            # Kafka: high_water > applied_offset. The embedded Tansu broker reports the
            # end offset of a partition as its last batch's base offset + 1, so it can
            # be up to a batch behind (measured; see README): only >= holds for both.
            assert p.high_water >= p.applied_offset, p
            # the lag is the events after the applied one: high_water - applied - 1
            assert p.lag == max(0, p.high_water - p.applied_offset - 1), p


def _photo(png: bytes) -> bytes:
    """The QR as a counter's camera might see it: larger, on a grey page, JPEG."""
    import io

    from PIL import Image

    qr = Image.open(io.BytesIO(png)).convert("L")
    qr = qr.resize((qr.width * 2, qr.height * 2)).rotate(3, expand=True, fillcolor=255)
    page = Image.new("L", (qr.width + 200, qr.height + 160), 200)
    page.paste(qr, (90, 70))
    out = io.BytesIO()
    page.save(out, "JPEG", quality=75)
    return out.getvalue()


async def test_verify_image(verifiers, dept):
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = await dept.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    await verdict_everywhere(verifiers, code.text, VALID)
    stub = next(iter(verifiers.values()))
    for image in (code.png, _photo(code.png)):
        reply = await stub.VerifyImage(
            verifier_pb2.VerifyImageRequest(image=image, purpose="窗口办事")
        )
        assert reply.code == code.text and reply.result.verdict == VALID
    blank = _photo(code.png)[:200]
    for image, message in (
        (b"GIF89a....", "not a readable PNG, JPEG or HEIC image"),
        (blank, "not a readable PNG, JPEG or HEIC image"),
        (_blank_png(), "no readable QR code"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.VerifyImage(
                verifier_pb2.VerifyImageRequest(image=image, purpose="窗口办事")
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert message in err.value.details()


def _blank_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (200, 200), 255).save(out, "PNG")
    return out.getvalue()


async def test_verify_codes_batch(verifiers, dept):
    _licence, code = await valid_licence(dept, verifiers)
    stub = next(iter(verifiers.values()))
    reply = await stub.VerifyCodes(
        verifier_pb2.VerifyCodesRequest(
            codes=[code, "garbage", code[:-5], code.lower()] * 75, purpose="批量核验"
        )
    )
    assert len(reply.results) == 300
    assert [r.verdict for r in reply.results[:4]] == [
        VALID,
        verifier_pb2.VERDICT_MALFORMED,
        verifier_pb2.VERDICT_MALFORMED,
        VALID,  # the same code in lower case (Caps Lock at a scanner)
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.VerifyCodes(
            verifier_pb2.VerifyCodesRequest(codes=[code] * 501, purpose="批量核验")
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.fault
async def test_verifier_killed_during_revocations_recovers(deployments, dept, issuer):
    """kill -9 mid-stream, restart on the same data: the index matches the database."""
    reply = await dept.clients.issuer.IssueLicences(
        pb.IssueLicencesRequest(items=[issue_request(dept) for _ in range(40)])
    )
    licences = [r.licence for r in reply.results]
    codes = [
        (
            await dept.clients.issuer.GetLicenceCode(
                pb.GetLicenceCodeRequest(identifier=x.identifier)
            )
        ).text
        for x in licences
    ]
    stubs = {g: v.stub for g, v in deployments.items()}
    await verdict_everywhere(stubs, codes[-1], VALID)
    victim = next(iter(deployments.values()))

    async def revoke(batch):
        for licence in batch:
            await dept.clients.issuer.RevokeLicence(
                pb.RevokeLicenceRequest(
                    identifier=licence.identifier,
                    reason="批量撤销",
                    kind=pb.REVOCATION_KIND_REVOKE,
                )
            )

    await revoke(licences[:15])
    await victim.kill()
    await revoke(licences[15:30])
    await victim.start()
    await victim.wait_serving()
    rows = await issuer.pool.fetch(
        "select identifier, status from licences where identifier = any($1)",
        [x.identifier for x in licences],
    )
    expected = {r["identifier"]: r["status"] for r in rows}
    assert sorted(expected.values()).count("03") == 30
    for licence, code in zip(licences, codes, strict=True):
        wanted = (
            verifier_pb2.VERDICT_REVOKED
            if expected[licence.identifier] == "03"
            else VALID
        )
        await verdict_everywhere(stubs, code, wanted, within=30)


async def test_cli_verify(deployments, dept, config, issuer, tmp_path, capsys):
    from services import cli

    verifier = next(iter(deployments.values()))
    config.cli.verifier_target = f"localhost:{verifier.port}"
    config.cli.issuer_target = f"localhost:{issuer.port}"
    path = tmp_path / "config.toml"
    path.write_text(dump_config(config))
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code = await dept.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    await verdict_everywhere({"x": verifier.stub}, code.text, VALID)
    base = ["--config", str(path), "verify", "--purpose", "窗口办事"]
    assert await asyncio.to_thread(cli.main, [*base, code.text]) == 0
    out = capsys.readouterr().out
    assert "verdict     VALID" in out and "[ok] signature" in out
    image = tmp_path / "code.png"
    image.write_bytes(code.png)
    assert await asyncio.to_thread(cli.main, [*base, "--image", str(image)]) == 0
    assert await asyncio.to_thread(cli.main, [*base, "LC1:BROKEN"]) == 1
    assert "verdict     MALFORMED" in capsys.readouterr().out


async def test_cli_verify_codes_from_a_file(
    deployments, dept, config, issuer, tmp_path, capsys
):
    """``verify --codes FILE``: every line's verdict through VerifyCodes, in batches
    of 500 (``cli_batch.BATCH`` made 2 here, so three codes take two requests), the
    count of each verdict, exit 0 only when every code is VALID; bad input is
    ``error: <field>: ...``, exit 2."""
    from services import cli
    from services.verifier import cli_batch, servicer

    assert cli_batch.BATCH == servicer.MAX_BATCH
    verifier = next(iter(deployments.values()))
    config.cli.verifier_target = f"localhost:{verifier.port}"
    path = tmp_path / "config.toml"
    path.write_text(dump_config(config))
    stubs = {"x": verifier.stub}
    (valid, valid_code), (revoked, revoked_code) = [
        await valid_licence(dept, stubs) for _ in range(2)
    ]
    await dept.clients.issuer.RevokeLicence(
        pb.RevokeLicenceRequest(
            identifier=revoked.identifier, reason="伪造", kind=pb.REVOCATION_KIND_REVOKE
        )
    )
    await verdict_everywhere(stubs, revoked_code, verifier_pb2.VERDICT_REVOKED)
    codes = tmp_path / "codes.txt"
    base = ["--config", str(path), "verify", "--purpose", "窗口办事"]

    async def run(*args: str) -> tuple[int, str, str]:
        status = await asyncio.to_thread(cli.main, [*base, *args])
        out, err = capsys.readouterr()
        return status, out, err

    codes.write_text(f"\ufeff{valid_code}\n\n  {valid_code}  \n")
    status, out, _ = await run("--codes", str(codes))
    assert status == 0, out
    assert f"line 1: VALID {valid.identifier}" in out
    assert f"line 3: VALID {valid.identifier}" in out and "line 2" not in out
    assert out.rstrip().endswith("2 codes: 2 VALID")

    codes.write_text(f"{valid_code}\n{revoked_code}\nLC1:BROKEN\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_batch, "BATCH", 2)
        status, out, _ = await run("--codes", str(codes))
    assert status == 1
    lines = [x for x in out.splitlines() if x.startswith("line ")]
    assert lines[0].startswith(f"line 1: VALID {valid.identifier}")
    assert lines[1].startswith(f"line 2: REVOKED {revoked.identifier}")
    assert "(status: " in lines[1]
    assert lines[2].startswith("line 3: MALFORMED (")
    assert out.rstrip().endswith("3 codes: 1 VALID, 1 REVOKED, 1 MALFORMED")

    codes.write_bytes(valid_code.encode() + b"\n\xff\xfe\n")
    for args, field in [
        (("--codes", str(codes)), "codes: line 2 is not UTF-8 text"),
        (("--codes", str(tmp_path / "none.txt")), "codes: cannot read"),
        (("--codes", str(tmp_path)), "codes: not a regular file"),
        (("--codes", str(codes), valid_code), "code: has no place with --codes"),
        (("--codes", str(codes), "--offline"), "offline: has no place with --codes"),
    ]:
        status, _, err = await run(*args)
        assert status == 2 and err.startswith(f"error: {field}"), (args, err)
    codes.write_text("\n  \n")
    status, _, err = await run("--codes", str(codes))
    assert status == 2 and err.startswith("error: codes: holds no code"), err
    no_purpose = ["--config", str(path), "verify", "--codes", str(codes)]
    assert await asyncio.to_thread(cli.main, no_purpose) == 2
    assert capsys.readouterr().err.startswith("error: purpose: is required")


async def test_a_presentation_accepted_in_one_group_is_replayed_in_another(
    deployments, dept, connect, stack
):
    from certseal.events import LICENCE_USAGE
    from certseal.v1 import events_pb2
    from tests.conftest import EventWatcher

    (x, y) = list(deployments.values())
    licence, _code = await valid_licence(dept, {"x": x.stub, "y": y.stub})
    # the test before restarts a worker: its replay guard reads the usage topic
    # again, and meanwhile a presentation code is UNAVAILABLE (CI8 met it)
    await presentation_codes_accepted(
        dept, licence.identifier, {"x": x.stub, "y": y.stub}
    )
    shown = (
        await dept.clients.issuer.CreatePresentationCode(
            pb.CreatePresentationCodeRequest(identifier=licence.identifier)
        )
    ).text
    async with EventWatcher(stack, LICENCE_USAGE) as usage:
        request = verifier_pb2.VerifyCodeRequest(code=shown, purpose="银行开户")
        assert (await x.stub.VerifyCode(request)).result.verdict == VALID

        def accepted(records):
            for r in records:
                event = events_pb2.LicenceUsedEvent.FromString(r.value)
                if (
                    event.identifier == licence.identifier
                    and event.nonce_hash
                    and event.purpose == "银行开户"  # not a readiness probe's
                ):
                    return r, event
            return None

        records = await usage.wait_for(accepted)
    record, event = accepted(records)
    assert event.verdict == "VALID" and event.purpose == "银行开户"
    assert (
        event.counter == "dept:11440300VERIFIERS1" and event.verifier_group == x.group
    )
    assert event.code_kind == "presentation" and "张" not in record.value.decode(
        "utf8", "replace"
    )
    envelope = {name: value.decode() for name, value in record.headers}
    assert envelope["ce_type"] == "cn.gov.certseal.licence.used"
    assert (envelope["ce_id"], envelope["ce_subject"]) == (
        event.event_id,
        licence.lineage,
    )
    assert envelope["ce_source"] == f"/departments/{dept.code}"
    assert envelope["ce_specversion"] == "1.0" and envelope["ce_time"].endswith("Z")
    deadline = time.monotonic() + 30
    while True:  # until y has applied x's usage event
        status = await y.stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
        applied = {(p.topic, p.partition): p.applied_offset for p in status.partitions}
        if applied.get((record.topic, record.partition), -1) >= record.offset:
            break
        assert time.monotonic() < deadline, "y never applied the usage event"
        await asyncio.sleep(0.01)
    assert (
        await y.stub.VerifyCode(request)
    ).result.verdict == verifier_pb2.VERDICT_REPLAYED


@pytest.mark.fault
async def test_an_index_ahead_of_its_changelog_is_rebuilt(deployments, dept):
    """What a kill -9 can leave behind: the worker rebuilds instead of refusing to start."""
    from rocksdict import Rdict

    stubs = {g: v.stub for g, v in deployments.items()}
    _licence, code = await valid_licence(dept, stubs)
    victim = list(deployments.values())[-1]
    await victim.stop()
    # the Faust tables (trust, directory, presentations; the licence index has no
    # changelog: services.verifier.diskindex)
    tables = sorted(victim.home.glob(f"data/{victim.group}/**/*trust-list-*.db"))
    assert tables, "no table files found"
    for path in tables:
        db = Rdict(str(path))
        db[b"__faust\0offset__"] = b"99999999"  # far past the changelog's end
        db.close()
    await victim.start()
    await victim.wait_serving()
    await verdict_everywhere(stubs, code, VALID, within=60)
    assert "inconsistent with its changelog" in victim.log_since_start()
    status = await victim.stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
    licence_partitions = [
        p for p in status.partitions if p.topic == "certseal.licence-events.v1"
    ]
    assert len(licence_partitions) == 4  # every assigned partition, events or not
    for p in status.partitions:
        assert p.lag == max(0, p.high_water - p.applied_offset - 1), p


@pytest.mark.fault
async def test_broker_pause_delays_but_never_corrupts(deployments, dept, stack):
    """Revocations committed while the broker is stopped reach no verifier until it
    runs again (each answers from what it has: VALID), then every group answers
    REVOKED for them and VALID for the others.

    ``pause_broker`` returns once every thread of the broker has stopped: a bare
    SIGSTOP left it serving for up to half a second under load, and a revocation
    published in that window was answered REVOKED "while paused"
    (tests/kernel/test_devstack_pause.py)."""
    stubs = {g: v.stub for g, v in deployments.items()}
    licences = []
    for _ in range(5):
        licences.append(await valid_licence(dept, stubs))
    stack.pause_broker()
    try:
        for licence, _code in licences[:3]:
            await dept.clients.issuer.RevokeLicence(
                pb.RevokeLicenceRequest(
                    identifier=licence.identifier,
                    reason="暂停期间撤销",
                    kind=pb.REVOCATION_KIND_REVOKE,
                )
            )
        # while the broker is away the verifiers answer from what they have
        for group, stub in stubs.items():
            for _licence, code in licences:
                reply = await stub.VerifyCode(
                    verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事")
                )
                assert reply.result.verdict == VALID, group
    finally:
        stack.resume_broker()
    for n, (_licence, code) in enumerate(licences):
        wanted = verifier_pb2.VERDICT_REVOKED if n < 3 else VALID
        await verdict_everywhere(stubs, code, wanted, within=60)


@pytest.mark.fault
async def test_a_new_group_replays_everything_and_agrees_with_the_database(
    deployments, dept, issuer, stack, config
):
    """A group started late reads every topic from the beginning (with all the
    duplicates of earlier tests) and answers what the issuer's database says."""
    stub = dept.clients.issuer
    reply = await stub.IssueLicences(
        pb.IssueLicencesRequest(items=[issue_request(dept) for _ in range(12)])
    )
    licences = [r.licence for r in reply.results]
    for licence in licences[:3]:
        await stub.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.identifier)
        )
    for licence in licences[3:6]:
        await stub.CancelLicence(pb.CancelLicenceRequest(identifier=licence.identifier))
    amend = pb.AmendLicenceRequest(identifier=licences[6].identifier, reason="更正")
    amend.fields["class"].string_value = "B1"
    await stub.AmendLicence(amend)
    first = next(iter(deployments.values()))
    late = VerifierProcess(
        stack, first.config_file, first.home, f"late-{secrets.token_hex(3)}"
    )
    await late.start()
    try:
        await late.wait_serving()
        verdicts = {
            "01": VALID,
            "02": verifier_pb2.VERDICT_SUSPENDED,
            "04": verifier_pb2.VERDICT_CANCELLED,
        }
        rows = await issuer.pool.fetch(
            """select identifier, status, superseded_by from licences
               where issuer_code = $1""",
            dept.code,
        )
        assert len(rows) > 12
        for row in rows:
            code = (
                await stub.GetLicenceCode(
                    pb.GetLicenceCodeRequest(identifier=row["identifier"])
                )
            ).text
            wanted = (
                verifier_pb2.VERDICT_SUPERSEDED
                if row["superseded_by"]
                else verdicts.get(row["status"], verifier_pb2.VERDICT_REVOKED)
            )
            await verdict_everywhere({"late": late.stub}, code, wanted, within=60)
    finally:
        await late.stop()


async def certseal_cli(config, deployment, *args: str) -> tuple[int, str]:
    """Run the ``certseal`` CLI against one verifier deployment; exit code and output."""
    return await run_certseal(
        config, deployment.home, *args, verifier_target=f"localhost:{deployment.port}"
    )


async def test_offline_bundle_full_then_delta(
    deployments, verifiers, dept, config, connect, tmp_path
):
    stub = dept.clients.issuer
    kept, kept_code = await valid_licence(dept, verifiers)
    revoked, revoked_code = await valid_licence(dept, verifiers)
    await stub.RevokeLicence(
        pb.RevokeLicenceRequest(
            identifier=revoked.identifier, reason="伪造", kind=pb.REVOCATION_KIND_REVOKE
        )
    )
    await verdict_everywhere(verifiers, revoked_code, verifier_pb2.VERDICT_REVOKED)
    x = next(iter(deployments.values()))
    bundle = tmp_path / "counter.bundle"
    code, out = await certseal_cli(config, x, "bundle", "fetch", "--out", str(bundle))
    assert code == 0 and "(full," in out, out
    # nu28: a FILE in no folder was said as its scratch file (FILE.tmp), after the
    # fetch; now --out is named, before asking the verifier
    nowhere = tmp_path / "no such folder" / "x"
    code, out = await certseal_cli(config, x, "bundle", "fetch", "--out", str(nowhere))
    assert (code, out.strip()) == (
        2,
        f"error: out: {nowhere.parent} is not a folder: give FILE in one",
    ), out
    code, out = await certseal_cli(config, x, "bundle", "fetch", "--out", str(tmp_path))
    assert (code, out.strip()) == (
        2,
        f"error: out: {tmp_path} is a folder: give a FILE (in it, or elsewhere)",
    ), out

    async def offline(text: str) -> tuple[int, str]:
        return await certseal_cli(
            config, x, "verify", "--offline", "--bundle", str(bundle), text
        )

    code, out = await offline(kept_code)
    assert code == 0 and "verdict     VALID" in out, out
    assert "not listed in bundle" in out
    # named as online: the bundle carries the directory's names (nu11)
    assert f"type        机动车驾驶证 ({dept.type_code})" in out, out
    assert f"issuer      测试部门 {dept.code[-4:]} ({dept.code})" in out, out
    photo = tmp_path / "scan.jpg"
    png = (
        await stub.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=revoked.identifier)
        )
    ).png
    photo.write_bytes(_photo(png))
    code, out = await offline(str(photo))
    assert code == 1 and "verdict     REVOKED" in out, out
    code, out = await offline(revoked_code)
    assert code == 1 and "verdict     REVOKED" in out, out
    shown = (
        await dept.clients.issuer.CreatePresentationCode(
            pb.CreatePresentationCodeRequest(identifier=kept.identifier)
        )
    ).text

    # a suspension later: the next fetch is a delta, and the file carries both
    await stub.SuspendLicence(pb.SuspendLicenceRequest(identifier=kept.identifier))
    await verdict_everywhere(verifiers, kept_code, verifier_pb2.VERDICT_SUSPENDED)
    code, out = await certseal_cli(config, x, "bundle", "fetch", "--out", str(bundle))
    assert code == 0 and "delta from" in out and "1 lineages in this message" in out
    # what the snapshot holds is said by its last event's time (bundle_refresh_s)
    assert "keys (events up to 20" in out, out
    code, out = await offline(kept_code)
    assert code == 1 and "verdict     SUSPENDED" in out, out

    # the delta is signed by this verifier; a bundle from another group is replaced
    # by a full one rather than mixed
    y = list(deployments.values())[1]
    code, out = await certseal_cli(config, y, "bundle", "fetch", "--out", str(bundle))
    assert code == 0 and "(full," in out and y.group in out, out

    # presentation codes need the online replay guard; a damaged file is refused
    code, out = await offline(shown)
    assert code == 2 and "verified online only" in out
    bundle.write_bytes(bundle.read_bytes()[:-5])
    code, out = await offline(kept_code)
    assert code == 2 and "error: bundle:" in out and "Traceback" not in out


async def test_export_trust_bundle_rpc(verifiers):
    stub = next(iter(verifiers.values()))
    full = await stub.ExportTrustBundle(verifier_pb2.ExportTrustBundleRequest())
    assert full.base_version == 0 and full.keys > 0 and full.version > 0
    same = await stub.ExportTrustBundle(
        verifier_pb2.ExportTrustBundleRequest(
            since_version=full.version, group=full.group
        )
    )
    assert same.base_version == full.version
    for since, kind in (
        (full.version + 10**9, grpc.StatusCode.INVALID_ARGUMENT),
        (1, grpc.StatusCode.FAILED_PRECONDITION),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ExportTrustBundle(
                verifier_pb2.ExportTrustBundleRequest(
                    since_version=since, group=full.group
                )
            )
        assert err.value.code() is kind
        assert dict(err.value.trailing_metadata())["certseal-error-field"] == (
            "since_version"
        )


async def test_bad_event_is_dead_lettered_and_its_partition_moves_on(
    deployments, verifiers, dept, stack
):
    licence, code = await valid_licence(dept, verifiers)
    key = licence.lineage.encode()
    bad = events_pb2.LicenceEvent(identifier="no lineage").SerializeToString()
    producer = stack.config.kafka.settings("certseal-tests").producer()
    await producer.start()
    try:  # on the lineage's own partition, just before its next real event
        await producer.send_and_wait(LICENCE_EVENTS, key=key, value=bad)
    finally:
        await producer.stop()
    await dept.clients.issuer.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=licence.identifier)
    )
    await verdict_everywhere(verifiers, code, verifier_pb2.VERDICT_SUSPENDED)
    async with EventWatcher(stack, VERIFIER_DEAD_LETTERS) as parked:
        records = await parked.wait_for(
            lambda rs: (
                {dict(r.headers)["group"] for r in rs if r.key == key}
                >= {g.encode() for g in deployments}
            )
        )
    for record in (r for r in records if r.key == key):
        headers = dict(record.headers)
        assert record.value == bad
        assert headers["topic"] == LICENCE_EVENTS.encode()
        assert b"without lineage" in headers["error"]


async def test_counters_and_their_field_rights(
    stack, config, operator, connect, tmp_path
):
    dept = await make_department(operator, connect, restricted=True)
    counter = "11440300VERIFIERS1"  # the identity VerifierProcess calls with
    rules = [f"{dept.type_code}:{counter}:", f"{dept.type_code}:*:grade"]
    verifier = verifier_process(
        stack, config, tmp_path, "r", counters=[counter], field_rights=rules
    )
    await verifier.start()
    try:
        await verifier.wait_serving()
        _licence, code = await valid_licence(dept, {"r": verifier.stub})
        request = verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事")
        # this counter's rule grants no restricted field (the public one is shown);
        # the default rule (here: an operator) grants 'grade'
        reply = await verifier.stub.VerifyCode(request)
        assert dict(reply.result.fields) == {"class": "C1"}
        operator = stack.ca.identity("operator:admin")
        async with secure_channel(
            f"localhost:{verifier.port}",
            str(stack.ca.ca_file),
            str(operator.cert_file),
            str(operator.key_file),
        ) as channel:
            reply = await verifier_pb2_grpc.VerifierStub(channel).VerifyCode(request)
            assert dict(reply.result.fields) == {"class": "C1", "grade": "等级G7"}
        # a department that is not a counter here is refused
        async with secure_channel(
            f"localhost:{verifier.port}",
            str(stack.ca.ca_file),
            str(stack.ca.identity(f"dept:{dept.code}").cert_file),
            str(stack.ca.identity(f"dept:{dept.code}").key_file),
        ) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await verifier_pb2_grpc.VerifierStub(channel).VerifyCode(request)
            assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
            assert "not a counter" in err.value.details()
    finally:
        await verifier.stop()

    # a malformed rule stops the verifier at start with a message naming it
    bad = verifier_process(
        stack,
        config,
        tmp_path,
        "bad-rules",
        counters=[counter],
        field_rights=["nonsense"],
    )
    await bad.start()
    assert await bad.exit_status() != 0
    assert "field_rights: rule 'nonsense'" in bad.log_tail()


async def _named_department(operator, connect):
    """A department 示例交警支队 with a key and a licence type 机动车驾驶证 whose
    fields have titles."""
    from certseal.v1 import licence_pb2
    from tests.conftest import Dept, fresh_uscc

    code = fresh_uscc()
    await operator.admin.OnboardDepartment(
        pb.OnboardDepartmentRequest(
            code=code, name="示例交警支队", roles=[licence_pb2.DEPARTMENT_ROLE_ISSUER]
        )
    )
    key = await operator.admin.CreateSigningKey(
        pb.CreateSigningKeyRequest(department_code=code, suite="es256")
    )
    type_code = code + f"{secrets.randbelow(1000):03d}"
    await operator.admin.RegisterLicenceType(
        pb.RegisterLicenceTypeRequest(
            type_code=type_code,
            name="机动车驾驶证",
            default_validity_days=365,
            issuer_codes=[code],
            fields=[
                licence_pb2.FieldSpec(
                    name="class",
                    type=licence_pb2.FIELD_TYPE_STRING,
                    required=True,
                    public=True,
                    title="准驾车型",
                ),
                licence_pb2.FieldSpec(
                    name="address",
                    type=licence_pb2.FIELD_TYPE_STRING,
                    personal=True,
                    title="住址",
                ),
            ],
        )
    )
    return Dept(code, type_code, connect(f"dept:{code}"), key.key.kid)


async def test_verdicts_name_the_type_the_issuer_and_each_field(
    deployments, verifiers, operator, connect, config
):
    dept = await _named_department(operator, connect)
    _licence, code = await valid_licence(dept, verifiers)
    for group, stub in verifiers.items():
        async with asyncio.timeout(10):  # the directory topic is applied on its own
            while True:
                result = (
                    await stub.VerifyCode(
                        verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事")
                    )
                ).result
                if result.type_name and result.issuer_name:
                    break
                await asyncio.sleep(0.05)
        assert result.type_name == "机动车驾驶证"
        assert result.issuer_name == "示例交警支队"
        assert dict(result.field_titles) == {"class": "准驾车型"}  # shown fields only
        assert result.group == group
        assert result.type_code == dept.type_code  # the codes stay too
    # the CLI, at a group chosen by name, says who answered and prints names
    groups = {g: f"localhost:{d.port}" for g, d in deployments.items()}
    wanted = sorted(groups)[-1]
    status, out = await run_certseal(
        config,
        deployments[wanted].home,
        *("verify", "--group", wanted, "--purpose", "窗口办事", code),
        verifier_groups=groups,
    )
    assert status == 0, out
    assert f"answered    group {wanted} at {groups[wanted]}; index as of" in out
    assert "events behind" in out
    assert f"type        机动车驾驶证 ({dept.type_code})" in out
    assert f"issuer      示例交警支队 ({dept.code})" in out
    assert "  准驾车型 = C1" in out
    # ... or at HOST:PORT
    status, out = await run_certseal(
        config,
        deployments[wanted].home,
        *("verify", "--verifier", groups[wanted], "--purpose", "窗口办事", code),
    )
    assert status == 0 and f"answered    group {wanted}" in out, out
    # an unknown group or a malformed target is bad input, named
    status, out = await run_certseal(
        config,
        deployments[wanted].home,
        *("verify", "--group", "nowhere", "--purpose", "窗口办事", code),
        verifier_groups=groups,
    )
    assert status == 2 and out.startswith(
        "error: group: no verifier group 'nowhere'"
    ), out
    status, out = await run_certseal(
        config,
        deployments[wanted].home,
        *("verify", "--verifier", "nohost", "--purpose", "窗口办事", code),
    )
    assert status == 2 and out.startswith("error: verifier: 'nohost' is not HOST:PORT")
    # verifier status asks the group named too, and counts licences exactly
    reply = await verifiers[wanted].GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
    status, out = await run_certseal(
        config,
        deployments[wanted].home,
        *("verifier", "status", "--group", wanted),
        verifier_groups=groups,
    )
    assert status == 0, out
    assert out.startswith(f"group {wanted}: "), out
    counted = int(out.split(": ", 1)[1].split(" licences", 1)[0])
    assert counted >= reply.licences > 0  # exact: only more if issued meanwhile
    assert "certseal.licence-events.v1[" in out
    assert " applied -1 " not in out  # nu24: an empty partition said "applied -1 of 0"
    status, out = await run_certseal(
        config,
        deployments[wanted].home,
        *("verifier", "status", "--group", "nowhere"),
        verifier_groups=groups,
    )
    assert status == 2 and out.startswith("error: group: no verifier group"), out


async def test_the_index_status_counts_licences_not_entries(verifiers, dept):
    stub = next(iter(verifiers.values()))
    licence, code = await valid_licence(dept, verifiers)
    for _ in range(3):  # one licence, several events and versions
        await dept.clients.issuer.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.identifier)
        )
        await dept.clients.issuer.UnsuspendLicence(
            pb.UnsuspendLicenceRequest(identifier=licence.identifier)
        )
    await verdict_everywhere(verifiers, code, VALID)
    status = await stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
    assert status.licences > 0  # counted exactly (tests/verifier/test_index.py)
