"""A first VerifySealedDocument in a light verification process ([seal]
light_verify_processes; services.seal.offload.SealOffload.start_light): the trust
stores are installed in the process once, each job carries its signature and document
alone, and the verdict is the one the light thread gives, for every outcome; a job
past its time bound has its process replaced, which verifies again with the trust
stores installed anew."""

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from certseal.crypto import KeyWrapper, Suite, digest
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.secretfiles import KEK, read_secret_file
from services.seal.domain import SealVerdict
from services.seal.offload import SealOffload
from services.seal.service import SealService
from tests.conftest import seal_owner
from tests.seal.service_samples import DOCUMENT, request
from tests.seal.test_domain import sealed
from tests.seal.test_kept_verifications import _sealed


def _service(seal_store, seal_ca, config, clock, offload: SealOffload) -> SealService:
    wrapper = KeyWrapper(read_secret_file(Path(config.secrets.kek_file), KEK))
    return SealService(
        store=seal_store,
        wrapper=wrapper,
        seal_ca=seal_ca,
        clock=clock,
        offload=offload,
        kept_verifications=0,  # every call verified afresh
    )


@pytest.fixture
async def in_process(seal_store, seal_ca, config, clock):
    """A seal service whose first verifications run in one light process."""
    service = _service(
        seal_store, seal_ca, config, clock, SealOffload(light_processes=1)
    )
    await service.start_light_processes()
    assert service.offload.light is not None
    yield service
    service.offload.shutdown()


@pytest.fixture
def on_thread(seal_store, seal_ca, config, clock):
    """The same service's verifications on the light thread."""
    service = _service(seal_store, seal_ca, config, clock, SealOffload())
    assert service.offload.light is None
    yield service
    service.offload.shutdown()


@pytest.mark.parametrize("suite", [Suite.SM2, Suite.ES256, Suite.ED25519])
async def test_every_outcome_is_the_light_threads(
    suite, in_process, on_thread, operator, tmp_path
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    seal = await in_process.register(caller, request(owner, suite))
    signature = await _sealed(in_process, caller, seal.seal_id)
    broken = signature[:-1] + bytes([signature[-1] ^ 1])
    # a seal of a CA this service does not trust: its trust stores decide it
    from tests.seal.test_domain import _ca

    stranger = await sealed(_ca(tmp_path / "stranger"), Suite.ES256)
    cases = [
        (signature, {"document": DOCUMENT}, SealVerdict.VALID),
        (signature, {"document": DOCUMENT[:-1] + b"!"}, SealVerdict.MODIFIED),
        (signature, {"document_hash": digest(suite, DOCUMENT)}, SealVerdict.VALID),
        (broken, {"document": DOCUMENT}, None),
        (b"\x30\x03\x02\x01\x01", {"document": DOCUMENT}, SealVerdict.MALFORMED),
        (stranger, {"document": DOCUMENT}, SealVerdict.UNTRUSTED_SEAL),
    ]
    for data, given, wanted in cases:
        there = await in_process.verify(data, **given)
        here = await on_thread.verify(data, **given)
        assert there == here, (given, there, here)
        if wanted is not None:
            assert there.verdict is wanted, there.checks
        else:
            assert there.verdict is not SealVerdict.VALID
    await in_process.revoke(caller, seal.seal_id, "遗失")
    # the registry's status is asked on the loop, after the process's checks
    revoked = await in_process.verify(signature, document=DOCUMENT)
    assert revoked == await on_thread.verify(signature, document=DOCUMENT)
    assert revoked.verdict is SealVerdict.SEAL_NOT_VALID, revoked.checks


async def test_a_job_past_its_bound_has_its_process_replaced(
    seal_store, seal_ca, config, clock, operator
):
    owner = await seal_owner(operator)
    caller = Caller("dept", owner)
    service = _service(
        seal_store,
        seal_ca,
        config,
        clock,
        SealOffload(light_processes=1, timeout_s=1.0),
    )
    await service.start_light_processes()
    light = service.offload.light
    assert light is not None
    try:
        seal = await service.register(caller, request(owner, Suite.ES256))
        signature = await _sealed(service, caller, seal.seal_id)
        started = time.monotonic()
        with pytest.raises(CertsealError) as raised:
            await light.run("signature", time.sleep, 30)
        assert raised.value.kind is ErrorKind.INVALID_ARGUMENT
        assert raised.value.field == "signature"
        assert "took longer than 1 s" in raised.value.message
        assert time.monotonic() - started < 10
        assert light.in_flight == 0
        # its replacement has the trust stores installed at its start
        again = await service.verify(signature, document=DOCUMENT)
        assert again.verdict is SealVerdict.VALID, again.checks
    finally:
        service.offload.shutdown()


async def test_no_light_process_is_started_unless_configured(on_thread):
    await on_thread.start_light_processes()
    assert on_thread.offload.light is None


@pytest.fixture
async def light():
    """One light verification process, a short time bound."""
    offload = SealOffload(light_processes=1, timeout_s=2.0)
    await offload.start_light(_nothing)
    assert offload.light is not None
    yield offload.light
    offload.shutdown()


def _nothing() -> None:
    """What a test's light process installs at its start."""


async def _gone(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` has ended within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_worker_killed_while_idle_is_replaced_and_no_call_hangs(light):
    # atk58 F1: the only worker killed outside a job left pebble's pool broken for
    # good: the next calls INTERNAL, then RESOURCE_EXHAUSTED for ever, some hung
    pid = await light.run("signature", os.getpid)
    os.kill(pid, signal.SIGKILL)
    assert await _gone(pid)
    answers = []
    for _ in range(3):
        async with asyncio.timeout(3 * light.timeout_s + 5):
            try:
                answers.append(await light.run("signature", os.getpid))
            except CertsealError as exc:
                assert exc.kind is ErrorKind.UNAVAILABLE, exc
                answers.append(exc.kind)
    assert answers[-1] not in (pid, ErrorKind.UNAVAILABLE), answers  # a new worker
    assert answers.count(ErrorKind.UNAVAILABLE) <= 1, answers
    assert light.in_flight == 0


async def test_a_caller_that_goes_away_leaves_its_job_and_its_worker(light, tmp_path):
    # atk58 F3: a cancelled call killed its worker, which the next call waited for
    started, release = tmp_path / "started", tmp_path / "release"
    pid = await light.run("signature", os.getpid)
    call = asyncio.ensure_future(light.run("signature", _held, started, release))
    async with asyncio.timeout(10):
        while not started.exists():  # noqa: ASYNC110 - a file from another process
            await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call  # the job cannot have ended: it waits for ``release``
    assert light.in_flight == 1  # left running, not killed
    release.touch()
    assert await light.run("signature", os.getpid) == pid
    assert light.in_flight == 0


def _held(started: Path, release: Path) -> int:
    """A job that says it has started, then waits for ``release`` (at most 1.5 s,
    within the fixture's 2 s bound); this worker's pid."""
    started.touch()
    deadline = time.monotonic() + 1.5
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.getpid()


async def test_a_stop_ends_the_workers():
    # atk58 F2: pebble's stop alone left them running until this process ended
    offload = SealOffload(light_processes=2)
    await offload.start_light(_nothing)
    assert offload.light is not None
    pids = {await offload.light.run("signature", os.getpid) for _ in range(4)}
    offload.shutdown()
    for pid in pids:
        assert await _gone(pid, within=5), pid
    with pytest.raises(CertsealError) as raised:
        await offload.light.run("signature", os.getpid)
    assert raised.value.kind is ErrorKind.UNAVAILABLE


async def test_processes_that_do_not_start_name_the_setting():
    offload = SealOffload(light_processes=1)
    try:
        with pytest.raises(CertsealError) as raised:
            await offload.start_light(_fails)
        assert raised.value.kind is ErrorKind.INVALID_ARGUMENT
        assert raised.value.field == "seal.light_verify_processes"
        assert "did not start" in raised.value.message
    finally:
        offload.shutdown()


def _fails() -> None:
    """A light process's start that fails."""
    raise RuntimeError("no")
