"""A real verifier process against hostile input (issue 13): it stays SERVING and answers
a valid scan in its normal time while hostile codes and images arrive; only codes signed
under a trusted key record usage; the counter allow-list guards every RPC; the console
verifies on a clerk's behalf; only a verifier signs an offline bundle; a damaged index is
rebuilt instead of crashing on every start."""

from __future__ import annotations

import asyncio
import io
import secrets
import statistics
import time
import urllib.parse
import urllib.request
import zlib

import base45
import cbor2
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from bench import flood
from certseal import cose
from certseal.events import LICENCE_USAGE
from certseal.rpc import secure_channel
from certseal.v1 import events_pb2, verifier_pb2, verifier_pb2_grpc
from certseal.v1 import issuer_pb2 as pb
from services.devstack import free_port
from services.verifier.access import CLERK_METADATA, COUNTER_METADATA
from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.storage import damaged_tables
from tests.conftest import (
    EventWatcher,
    VerifierProcess,
    fresh_uscc,
    issue_request,
    make_department,
    run_certseal,
    running,
    verdict_everywhere,
    verifier_process,
)

VALID = verifier_pb2.VERDICT_VALID
COUNTER = "11440300VERIFIERS1"  # the identity VerifierProcess calls with
HOSTILE_IN_FLIGHT = 20


@pytest.fixture(scope="module")
async def victim(operator, connect):
    """The department whose licences are verified (and whose lineages are forged)."""
    return await make_department(operator, connect, restricted=True)


@pytest.fixture(scope="module")
def allowed() -> str:
    """A second counter of the group, the one the console acts for."""
    return fresh_uscc()


@pytest.fixture(scope="module")
async def verifier(stack, config, issuer, victim, allowed, tmp_path_factory):
    process = verifier_process(
        stack,
        config,
        tmp_path_factory.mktemp("hostile-verifier"),
        "h",
        bundle_refresh_s=0,
        counters=[COUNTER, allowed],
        field_rights=[
            f"{victim.type_code}:{COUNTER}:",  # no restricted field of the type
            f"{victim.type_code}:{allowed}:grade",
        ],
    )
    async with running(process):
        yield process


def channel_as(stack, verifier, identity: str) -> grpc.aio.Channel:
    ident = stack.ca.identity(identity)
    return secure_channel(
        f"localhost:{verifier.port}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )


async def valid_code(victim, verifier) -> tuple[pb.Licence, str, bytes]:
    licence = (await victim.clients.issuer.IssueLicence(issue_request(victim))).licence
    code = await victim.clients.issuer.GetLicenceCode(
        pb.GetLicenceCodeRequest(identifier=licence.identifier)
    )
    await verdict_everywhere({"h": verifier.stub}, code.text, VALID, within=30)
    return licence, code.text, code.png


# -- hostile inputs ----------------------------------------------------------------


def forged(code: str) -> str:
    """``code`` with its signature altered: the victim's lineage, not its signature."""
    sign1 = cose.parse_sign1(zlib.decompress(base45.b45decode(code[4:])))
    signature = bytes([sign1.signature[0] ^ 1]) + sign1.signature[1:]
    message = cose.encode_sign1(sign1.protected, sign1.payload, signature)
    return "LC1:" + base45.b45encode(zlib.compress(message, 9)).decode()


HOSTILE_OUTCOMES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def blank_png(side: int = 4096) -> bytes:
    """A PNG of the most pixels allowed, all white: it decodes in full (about half a
    second of CPU) before the reader finds no QR code in it."""
    out = io.BytesIO()
    Image.new("L", (side, side), 255).save(out, format="PNG")
    return out.getvalue()


async def test_serving_and_prompt_while_hostile_codes_and_images_arrive(
    verifier, victim, allowed, stack
):
    """Another counter floods the verifier with 20 hostile requests always in flight
    (CBOR bombs, junk after the signed content, batches of bombs, a pixel bomb and an
    image of the most pixels allowed); the valid scans of this counter keep their
    normal latency and every health check answers SERVING."""
    _licence, code, png = await valid_code(victim, verifier)
    stub = verifier.stub
    health = health_pb2_grpc.HealthStub(verifier.channel)
    scan = verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事")
    photo = verifier_pb2.VerifyImageRequest(image=png, purpose="窗口办事")
    health_took: list[float] = []

    async def timed_scans(n: int) -> list[float]:
        took = []
        for _ in range(n):
            started = time.perf_counter()
            reply = await stub.VerifyCode(scan, timeout=30)
            took.append(time.perf_counter() - started)
            assert reply.result.verdict == VALID
            started = time.perf_counter()
            checked = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            health_took.append(time.perf_counter() - started)
            assert checked.status == health_pb2.HealthCheckResponse.SERVING
        return took

    await timed_scans(5)  # warm up
    unloaded = statistics.median(await timed_scans(30))

    bomb, junk = flood.cbor_bomb_code(), flood.junk_after_signed(code)
    pixel_bomb, full_image = flood.pixel_bomb(), blank_png()
    assert len(bomb) < 300 and len(pixel_bomb) < 1_000_000
    outcomes: dict[grpc.StatusCode, int] = {}
    stop = asyncio.Event()
    async with channel_as(stack, verifier, f"dept:{allowed}") as channel:
        hostile = verifier_pb2_grpc.VerifierStub(channel)
        requests = [
            (
                hostile.VerifyCode,
                verifier_pb2.VerifyCodeRequest(code=bomb, purpose="x"),
            ),
            (
                hostile.VerifyCode,
                verifier_pb2.VerifyCodeRequest(code=junk, purpose="x"),
            ),
            (
                hostile.VerifyCodes,
                verifier_pb2.VerifyCodesRequest(codes=[bomb] * 100, purpose="x"),
            ),
            (
                hostile.VerifyImage,
                verifier_pb2.VerifyImageRequest(image=pixel_bomb, purpose="x"),
            ),
            (
                hostile.VerifyImage,
                verifier_pb2.VerifyImageRequest(image=full_image, purpose="x"),
            ),
        ]

        async def attacker(n: int) -> None:
            while not stop.is_set():
                call, request = requests[n % len(requests)]
                try:
                    reply = await call(request, timeout=60)
                    status = grpc.StatusCode.OK
                    if isinstance(reply, verifier_pb2.VerifyCodeResponse):
                        assert reply.result.verdict != VALID
                except grpc.aio.AioRpcError as exc:
                    status = exc.code()
                outcomes[status] = outcomes.get(status, 0) + 1

        attackers = [asyncio.create_task(attacker(n)) for n in range(HOSTILE_IN_FLIGHT)]
        try:
            await asyncio.sleep(0.5)  # the hostile requests are in flight
            loaded = statistics.median(await timed_scans(30))
            # an image from this counter finds the image worker the flood leaves
            started = time.perf_counter()
            reply = await stub.VerifyImage(photo, timeout=30)
            image_took = time.perf_counter() - started
            assert reply.result.verdict == VALID
        finally:
            stop.set()
            await asyncio.gather(*attackers)
    assert set(outcomes) <= HOSTILE_OUTCOMES, outcomes
    assert sum(outcomes.values()) >= HOSTILE_IN_FLIGHT
    print(
        f"valid scan median {unloaded * 1000:.1f} ms alone, "
        f"{loaded * 1000:.1f} ms under hostile load; an image "
        f"{image_took * 1000:.0f} ms; health at most "
        f"{max(health_took) * 1000:.0f} ms; outcomes {outcomes}"
    )
    # Normal latency: the valid scans' median under the flood within 3 times their
    # median alone plus 10 ms. Measured on 2 CPUs shared with this client and other
    # engineers' test runs (load average 4-5): 1.8-2.3 ms alone, 3.9-6.3 ms under the
    # flood. Before the fair turns and the image processes: 80-180 ms, 20-45 times.
    assert loaded <= 3 * unloaded + 0.010, (loaded, unloaded, outcomes)
    assert max(health_took) < 1.0, max(health_took)
    assert image_took < 2.0, image_took  # not behind the flood's images (0.5 s each)


# -- usage events ------------------------------------------------------------------


def used(records, purpose: str) -> list:
    return [
        (r, events_pb2.LicenceUsedEvent.FromString(r.value))
        for r in records
        if events_pb2.LicenceUsedEvent.FromString(r.value).purpose == purpose
    ]


def record_bytes(record) -> int:
    headers = sum(len(k) + len(v) for k, v in record.headers)
    return len(record.key or b"") + len(record.value) + headers


def reframed(code: str, variant: int) -> str:
    """``code`` with the same signed content in another of its byte forms."""
    import base45
    import cbor2

    prefix, body = code[:4], code[4:]
    message = cbor2.loads(zlib.decompress(base45.b45decode(body)))
    sign1 = message.value if isinstance(message, cbor2.CBORTag) else message
    tagged = cbor2.dumps(cbor2.CBORTag(18, sign1) if variant % 2 else sign1)
    text = prefix + base45.b45encode(zlib.compress(tagged, variant % 9 + 1)).decode()
    return " " * (variant % 3) + text + "\n" * (variant % 2)


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def malleated(code: str) -> str:
    """``code`` (ES256) with its signature (r, s) rewritten as (r, n - s): another
    valid ECDSA signature of the same content."""
    import base45
    import cbor2

    prefix, body = code[:4], code[4:]
    message = cbor2.loads(zlib.decompress(base45.b45decode(body)))
    sign1 = list(message.value if isinstance(message, cbor2.CBORTag) else message)
    r, s = sign1[3][:32], int.from_bytes(sign1[3][32:], "big")
    sign1[3] = r + (P256_ORDER - s).to_bytes(32, "big")
    encoded = cbor2.dumps(cbor2.CBORTag(18, sign1))
    return prefix + base45.b45encode(zlib.compress(encoded)).decode()


async def test_only_trusted_signatures_record_usage_and_a_request_cannot_amplify(
    verifier, victim, stack
):
    licence, code, _png = await valid_code(victim, verifier)
    stub = verifier.stub
    fake = forged(code)
    tag = secrets.token_hex(4)
    forged_purpose = f"伪造-{tag}-" + "假" * 180
    repeat_purpose = f"重复-{tag}-" + "查" * 180
    sentinel = f"哨兵-{tag}"
    async with EventWatcher(stack, LICENCE_USAGE) as usage:
        # a forged code naming the victim's lineage: BAD_SIGNATURE, and no event
        reply = await stub.VerifyCode(
            verifier_pb2.VerifyCodeRequest(code=fake, purpose=forged_purpose)
        )
        assert reply.result.verdict == verifier_pb2.VERDICT_BAD_SIGNATURE
        # 500 forged codes with the longest purpose allowed: no event either
        batch = verifier_pb2.VerifyCodesRequest(
            codes=[fake] * 500, purpose=forged_purpose
        )
        replies = await stub.VerifyCodes(batch)
        assert {r.verdict for r in replies.results} == {
            verifier_pb2.VERDICT_BAD_SIGNATURE
        }
        # one valid code 500 times, in as many framings as keep its signature
        # (COSE tagged or not, another zlib level, surrounding whitespace): one use,
        # published once
        # and its ECDSA signature in its other valid form (r, n - s)
        other = malleated(code)
        repeated = verifier_pb2.VerifyCodesRequest(
            codes=[reframed(code, i) for i in range(499)] + [other],
            purpose=repeat_purpose,
        )
        # 2 COSE forms x up to 9 zlib outputs (two levels may give the same bytes)
        assert len(set(repeated.codes)) >= 10
        (alone,) = (
            await stub.VerifyCodes(
                verifier_pb2.VerifyCodesRequest(codes=[other], purpose=f"单独-{tag}")
            )
        ).results
        assert (
            alone.verdict == VALID
        )  # the other form verifies: it must not count twice
        replies = await stub.VerifyCodes(repeated)
        assert {r.verdict for r in replies.results} == {VALID}
        # then a valid verification on the same lineage (so the same partition): once
        # it arrives, anything the requests above published has arrived before it
        await stub.VerifyCode(
            verifier_pb2.VerifyCodeRequest(code=code, purpose=sentinel)
        )
        records = await usage.wait_for(lambda rs: used(rs, sentinel))
    assert used(records, forged_purpose) == []
    (published,) = used(records, repeat_purpose)
    record, event = published
    # exactly one use (a record of one use keeps it in its own fields, no `uses`)
    assert not event.uses
    assert event.lineage == licence.lineage and event.counter == f"dept:{COUNTER}"
    assert record_bytes(record) <= repeated.ByteSize()

    # the purpose has a bound: the issue's 0.95 MB one is refused, as is 201 characters
    for purpose in ("事" * 201, "事" * 330_000):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.VerifyCodes(
                verifier_pb2.VerifyCodesRequest(codes=[fake] * 500, purpose=purpose)
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "limit" in err.value.details()


# -- who may call ------------------------------------------------------------------


def every_rpc(stub, code: str):
    return [
        lambda **kw: stub.VerifyCode(
            verifier_pb2.VerifyCodeRequest(code=code, purpose="窗口办事"), **kw
        ),
        lambda **kw: stub.VerifyCodes(
            verifier_pb2.VerifyCodesRequest(codes=[code], purpose="窗口办事"), **kw
        ),
        lambda **kw: stub.VerifyImage(
            verifier_pb2.VerifyImageRequest(image=b"\x89PNG", purpose="窗口办事"), **kw
        ),
        lambda **kw: stub.GetIndexStatus(verifier_pb2.GetIndexStatusRequest(), **kw),
        lambda **kw: stub.ExportTrustBundle(
            verifier_pb2.ExportTrustBundleRequest(), **kw
        ),
    ]


async def test_the_counter_allow_list_guards_every_rpc(verifier, victim, stack):
    _licence, code, _png = await valid_code(victim, verifier)
    outsiders = [
        f"dept:{victim.code}",  # a department, but not a counter of this group
        "service:certseal",  # the other services' shared identity (the feed's)
        "service:feed",
        "app:yueshengshi",
        "integrator:hostile",
    ]
    for identity in outsiders:
        async with channel_as(stack, verifier, identity) as channel:
            stub = verifier_pb2_grpc.VerifierStub(channel)
            for n, call in enumerate(every_rpc(stub, code)):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call()
                assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED, (
                    identity,
                    n,
                    err.value.details(),
                )
    # the counter itself may call every one (VerifyImage answers about the image)
    for n, call in enumerate(every_rpc(verifier.stub, code)):
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            assert n == 2 and exc.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_the_console_verifies_on_behalf_of_a_counter_and_its_clerk(
    verifier, victim, allowed, stack
):
    _licence, code, png = await valid_code(victim, verifier)
    clerk = "王小明"
    on_behalf = (
        (COUNTER_METADATA, f"dept:{allowed}"),
        (CLERK_METADATA, urllib.parse.quote(clerk)),
    )
    purpose = f"代办-{secrets.token_hex(4)}"
    async with (
        channel_as(stack, verifier, "service:console") as channel,
        EventWatcher(stack, LICENCE_USAGE) as usage,
    ):
        console = verifier_pb2_grpc.VerifierStub(channel)
        # field rights are the named counter's, on every path
        reply = await console.VerifyCode(
            verifier_pb2.VerifyCodeRequest(code=code, purpose=purpose),
            metadata=on_behalf,
        )
        assert reply.result.verdict == VALID
        assert dict(reply.result.fields) == {"class": "C1", "grade": "等级G7"}
        batch = await console.VerifyCodes(
            verifier_pb2.VerifyCodesRequest(codes=[code], purpose=purpose),
            metadata=on_behalf,
        )
        assert dict(batch.results[0].fields) == {"class": "C1", "grade": "等级G7"}
        image = await console.VerifyImage(
            verifier_pb2.VerifyImageRequest(image=png, purpose=purpose),
            metadata=on_behalf,
        )
        assert image.result.verdict == VALID
        assert dict(image.result.fields) == {"class": "C1", "grade": "等级G7"}
        # and the usage record names the counter and the clerk, and who called
        records = await usage.wait_for(lambda rs: used(rs, purpose))
        event = used(records, purpose)[0][1]
        assert (event.counter, event.clerk, event.via) == (
            f"dept:{allowed}",
            clerk,
            "service:console",
        )
        # the console must name a counter of this group
        for metadata, status in (
            ((), grpc.StatusCode.PERMISSION_DENIED),
            (((CLERK_METADATA, "wang"),), grpc.StatusCode.PERMISSION_DENIED),
            (
                ((COUNTER_METADATA, f"dept:{victim.code}"), (CLERK_METADATA, "wang")),
                grpc.StatusCode.PERMISSION_DENIED,
            ),
            (
                ((COUNTER_METADATA, "dept:nonsense"), (CLERK_METADATA, "wang")),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await console.VerifyCode(
                    verifier_pb2.VerifyCodeRequest(code=code, purpose=purpose),
                    metadata=metadata,
                )
            assert err.value.code() is status, metadata
        # its operator page reads the index status as itself
        await console.GetIndexStatus(verifier_pb2.GetIndexStatusRequest())
    # a counter calling itself sees its own rights (the public field only) everywhere

    stub = verifier.stub
    reply = await stub.VerifyCode(
        verifier_pb2.VerifyCodeRequest(code=code, purpose="x")
    )
    assert dict(reply.result.fields) == {"class": "C1"}
    batch = await stub.VerifyCodes(
        verifier_pb2.VerifyCodesRequest(codes=[code], purpose="x")
    )
    assert dict(batch.results[0].fields) == {"class": "C1"}
    image = await stub.VerifyImage(
        verifier_pb2.VerifyImageRequest(image=png, purpose="x")
    )
    assert dict(image.result.fields) == {"class": "C1"}
    # ... and may not name another counter
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.VerifyCode(
            verifier_pb2.VerifyCodeRequest(code=code, purpose="x"), metadata=on_behalf
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


# -- offline bundles ---------------------------------------------------------------


async def test_offline_bundles_are_signed_by_a_verifier_and_carry_no_field_value(
    verifier, victim, config, stack, tmp_path
):
    from services.verifier.bundle import BundleSigner
    from services.verifier.storage import write_bundle_file

    _licence, code, _png = await valid_code(victim, verifier)
    reply = await verifier.stub.ExportTrustBundle(
        verifier_pb2.ExportTrustBundleRequest()
    )
    assert reply.group == verifier.group
    bundle = tmp_path / "counter.bundle"
    write_bundle_file(bundle, [reply.bundle])

    async def offline() -> tuple[int, str]:
        return await run_certseal(
            config, tmp_path, "verify", "--offline", "--bundle", str(bundle), code
        )

    status, out = await offline()
    assert status == 0 and "verdict     VALID" in out, out
    assert "signed by service:verifier" in out and verifier.group in out
    # the code's public field only: a bundle holds no restricted value
    assert "class = C1" in out and "grade" not in out and "等级G7" not in out
    # the same payload signed with another platform key is refused
    payload = cbor2.loads(cose.parse_sign1(reply.bundle).payload)
    for identity in ("service:certseal", "service:console", "service:verifier-other"):
        ident = stack.ca.identity(identity)
        resigned = BundleSigner(
            ident.cert_file.read_bytes(), ident.key_file.read_bytes()
        ).sign(payload)
        write_bundle_file(bundle, [resigned])
        status, out = await offline()
        assert status == 2 and "error: bundle:" in out, (identity, out)
        assert "verifier" in out and "Traceback" not in out


# -- a damaged index ---------------------------------------------------------------


def corrupt(verifier: VerifierProcess, what: str) -> None:
    from rocksdict import Options, Rdict

    # the licence index on disk (services/verifier/diskindex.py)
    tables = sorted(verifier.home.glob(f"data/{verifier.group}/**/{INDEX_FOLDER}"))
    assert tables, "no licence index found"
    for path in tables:
        if what == "CURRENT":
            (path / "CURRENT").write_text("garbage\n")
        elif what == "MANIFEST":
            for manifest in path.glob("MANIFEST-*"):
                with manifest.open("r+b") as out:
                    out.write(b"\xff" * 64)
        else:
            filler = b"certseal-test-filler"
            db = Rdict(str(path), Options(raw_mode=True))  # make sure of an .sst
            # the first key, a block of its own (random: it does not compress)
            db[filler] = secrets.token_bytes(4096)
            db.flush()
            # the table file holding the filler alone (opening made another of the
            # worker's writes: its first block holds the keys the worker's open
            # reads, and few licences fit in it in a fresh session)
            filler_files = [
                path / live["name"].lstrip("/")
                for live in db.live_files()
                if live["start_key"] == live["end_key"] == filler
            ]
            db.close()
            assert filler_files, "no table file of the filler alone"
            for sst in filler_files if what == "block" else path.glob("*.sst"):
                data = bytearray(sst.read_bytes())
                if what == "block":
                    # one data block only: the file's footer, index and filter stay
                    # whole, so RocksDB opens it and start-up does not see the damage
                    for n in range(40, 200):
                        data[n] ^= 0xFF
                else:
                    for n in range(64, len(data) - 64, 97):
                        data[n] ^= 0xFF
                sst.write_bytes(bytes(data))


def watched_verifier(stack, config, home, prefix: str) -> tuple[VerifierProcess, int]:
    """A verifier group of its own, not started, logging at info, with its metrics
    on a port of its own (returned)."""
    metrics_port = free_port()
    process = verifier_process(
        stack,
        config,
        home,
        prefix.lower(),
        *("--metrics-listen", f"127.0.0.1:{metrics_port}"),
        *("--log-level", "info"),
        counters=[],
        field_rights=[],
    )
    return process, metrics_port


@pytest.mark.fault
@pytest.mark.parametrize("what", ["CURRENT", "MANIFEST", "sst", "block"])
async def test_a_damaged_index_is_rebuilt_not_a_crash_loop(
    stack, config, victim, tmp_path, what
):
    process, metrics_port = watched_verifier(stack, config, tmp_path, f"d-{what}")
    await process.start()
    try:
        await process.wait_serving()
        _licence, code, _png = await valid_code(victim, process)
        await process.stop()
        data_dir = tmp_path / "data" / process.group
        assert damaged_tables(data_dir) == []  # a sound index is kept
        corrupt(process, what)
        assert damaged_tables(data_dir)
        log_file = tmp_path / f"{process.group}.log"
        await process.start()
        if what == "block":
            # start-up only opens the index (a restart is not as slow as the index is
            # large); the check after SERVING reads every block, finds this one, and
            # the worker stops and rebuilds: wait for that before asking for a verdict
            opened = damaged_tables(data_dir, opened_only=frozenset({INDEX_FOLDER}))
            assert opened == []
            await process.wait_for_log("rebuilding from the topics", within=60)
        await process.wait_serving()
        await verdict_everywhere({"d": process.stub}, code, VALID, within=60)
        log = log_file.read_text(errors="replace")
        if what == "block":  # met after the open (a read or the check), then rebuilt
            assert "is damaged" in log and "Corruption" in log, log
        else:
            assert "is damaged" in log and "rebuilding it from the topics" in log
        # counted by the start that rebuilt, whichever start dropped the index (a
        # start whose port was taken meanwhile exits after dropping it: CI of record)
        metrics = await scrape(metrics_port)
        assert (
            'certseal_verifier_index_rebuilds_total{reason="damaged"} 1.0' in metrics
        ), metrics
    finally:
        await process.stop()


async def scrape(port: int) -> str:
    """The Prometheus text a worker's metrics address serves."""
    url = f"http://127.0.0.1:{port}/metrics"
    return await asyncio.to_thread(
        lambda: urllib.request.urlopen(url, timeout=5).read().decode()
    )


async def rebuilds_counted(port: int) -> list[str]:
    """The rebuild counter's samples a worker serves (``reason="…"} n``)."""
    family = "certseal_verifier_index_rebuilds_total{"
    return [
        line.removeprefix(family)
        for line in (await scrape(port)).splitlines()
        if line.startswith(family)
    ]


@pytest.mark.fault
async def test_a_start_killed_after_dropping_a_damaged_index_leaves_its_reason(
    stack, config, victim, tmp_path
):
    """The start that drops a damaged index may not be the one that rebuilds it (it
    is killed, or its port is taken by then): the next start finds an empty folder
    and still counts the rebuild as ``damaged``; once the rebuilt index is read
    through whole, a further start counts nothing."""
    process, metrics_port = watched_verifier(stack, config, tmp_path, "d-killed")
    await process.start()
    try:
        await process.wait_serving()
        _licence, code, _png = await valid_code(victim, process)
        await process.stop()
        corrupt(process, "CURRENT")
        await process.start()
        await process.wait_for_log("dropped it, rebuilding it from the topics", 60)
        await process.kill()  # before it could have rebuilt anything
        data_dir = tmp_path / "data" / process.group
        # nothing left for the next to find but, when the kill came while RocksDB
        # made the new table, a table without its CURRENT yet, which the next start
        # drops as damaged too (CI, 2026-12-07)
        left = damaged_tables(data_dir)
        assert all("CURRENT: No such file" in why for _, why in left), left
        await process.start()
        await process.wait_serving()
        await verdict_everywhere({"d": process.stub}, code, VALID, within=60)
        assert await rebuilds_counted(metrics_port) == ['reason="damaged"} 1.0']
        await process.wait_for_log("keys checked in", within=60)
        await process.stop()
        await process.start()
        await process.wait_serving()
        assert "rebuilding" not in process.log_since_start()
        assert await rebuilds_counted(metrics_port) == []
    finally:
        await process.stop()


async def test_a_heic_lying_about_its_size_is_invalid_argument_not_internal(verifier):
    """A HEIC whose HEVC stream is larger than its ``ispe`` box declares made
    pillow-heif raise RuntimeError ("Security limit exceeded"): VerifyImage answered
    INTERNAL and the console 502 (F3)."""
    from tests.kernel.test_photos import heic_lying_about_its_size

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await verifier.stub.VerifyImage(
            verifier_pb2.VerifyImageRequest(
                image=heic_lying_about_its_size(), purpose="窗口办事"
            ),
            timeout=30,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "image" in err.value.details()
