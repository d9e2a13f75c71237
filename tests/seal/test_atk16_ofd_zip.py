"""atk16 F4: admitting an OFD reads its whole central directory on the event loop.

VerifyOfd and SealOfd are admitted for what the package's entries declare they
inflate to (``ofd_service._held``, ``ofd_zip.declared_size``), computed on the seal
process's event loop before the request's ticket is taken, and so before any bound
on requests in flight. ``declared_size`` is "cheap: it reads the directory only", but
reading the directory parses every header's extra fields in Python: a header may
carry 65,535 bytes of them, 16,383 empty fields with distinct tags, so a 60 MiB
package of 1,000 such headers (all directory, no entry) costs 5 s of CPU on the loop
(measured: declared_size took 5.0 s of process time for 62.5 MiB), during which no
other RPC, health check, outbox relay or audit sealer of the seal process runs; and
it is refused only afterwards, in a worker.
"""

from __future__ import annotations

import asyncio
import struct
import threading

import grpc
import pytest

from certseal.errors import CertsealError
from certseal.v1 import seal_pb2 as pb
from services.seal import ofd_service
from services.seal.ofd_zip import MAX_ZIP_EXTRA_FIELDS, declared_size
from services.seal.offload import SealOffload
from tests.conftest import seal_owner

HEADERS = 400  # 25 MiB of directory, about 2 s of CPU to read before admission


def _directory_only(count: int) -> bytes:
    """A ZIP that is only a central directory: ``count`` headers of empty entries,
    each with 65,532 bytes of empty extra fields (distinct tags), and no entry."""
    extra = b"".join(struct.pack("<2H", tag, 0) for tag in range(2, 2 + 16383))
    headers = []
    for index in range(count):
        name = f"f{index}".encode()
        headers.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                len(name),
                len(extra),
                0,
                0,
                0,
                0,
                0,
            )
            + name
            + extra
        )
    directory = b"".join(headers)
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), 0, 0
    )
    return directory + end


async def test_an_ofd_is_admitted_without_holding_the_event_loop(seal_stub, operator):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    package = _directory_only(HEADERS)
    # the channel is up before the ticker starts
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=b"\x00"))
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.01)  # measured, not waited on
            now = loop.time()
            lags.append(now - last - 0.01)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=package))
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc
    finally:
        done.set()
        await ticking
    # the finding held it 7.5 s; on two shared cores under load a turn can wait
    # 0.5 s for the GIL while the directory is read on the light thread
    assert max(lags) < 1.5, f"the event loop stood still for {max(lags):.2f} s"


# the same kind: the directory's structure is bounded (entries, extra fields per
# header), and it is read off the event loop, for SealOfd as for VerifyOfd


def test_a_header_with_more_extra_fields_than_producers_write_is_refused():
    header = _directory_only(1)
    with pytest.raises(CertsealError) as refused:
        declared_size(header)
    assert refused.value.field == "ofd"
    assert f"more than {MAX_ZIP_EXTRA_FIELDS} extra fields" in refused.value.message


async def test_the_admission_reads_the_directory_on_a_worker_thread(monkeypatch):
    """VerifyOfd and SealOfd both take the directory's size through _admitted,
    which runs _held on the offload's threads, never on the event loop."""
    seen: list[str] = []

    def held(ofd: bytes) -> int:
        seen.append(threading.current_thread().name)
        return len(ofd)

    monkeypatch.setattr(ofd_service, "_held", held)

    offload = SealOffload(workers=1, queue=1)
    try:
        assert await ofd_service._admitted(offload, b"x" * 10) == 10
    finally:
        offload.shutdown()
    assert seen and seen[0].startswith("seal-"), seen


async def test_sealing_an_ofd_is_admitted_without_holding_the_event_loop(
    seal_stub, operator
):
    owner = await seal_owner(operator)
    stub = seal_stub(f"dept:{owner}")
    seal = (
        await stub.RegisterSeal(
            pb.RegisterSealRequest(seal_type="official", name="示例局", suite="sm2")
        )
    ).seal
    package = _directory_only(HEADERS)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.SealOfd(pb.SealOfdRequest(seal_id=seal.seal_id, ofd=package))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "extra fields" in refused.value.details()
    assert loop.time() - started < 5.0
