"""atk70: a running subscription whose entitlement is narrowed (b65bad9e), through
the real feed app (refresh 5 s), a gRPC client and ``certseal events tail``."""

from __future__ import annotations

import asyncio
import copy
import secrets
import sys

import grpc

from certseal.config import dump_config
from certseal.v1 import feed_pb2 as pb
from certseal.v1 import feed_pb2_grpc
from tests.conftest import fresh_uscc
from tests.feed.test_atk_feed import lineage_of, publish
from tests.feed.test_service import channel_as, entitle, feed_app

__all__ = ["channel_as", "feed_app"]  # fixtures


async def _tail(config, feed_app, tmp_path, *args: str):
    cfg = copy.deepcopy(config)
    cfg.cli.feed_target = f"localhost:{feed_app.port}"
    config_file = tmp_path / f"cli-{secrets.token_hex(3)}.toml"
    config_file.write_text(dump_config(cfg))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "--config", str(config_file),
        "events", "tail", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_a_narrowed_stream_ends_for_the_cli_and_a_grpc_client_and_a_covered_one_runs(
    config, feed_app, channel_as, tmp_path, stack
):
    gone, kept = fresh_uscc(), fresh_uscc()
    integrator = f"integrator:atk70-{secrets.token_hex(3)}"
    types = ["licence.*", "seal.*"]
    await entitle(channel_as, integrator, [gone, kept], types)
    tail = await _tail(
        config, feed_app, tmp_path,
        "--as", integrator, "--department", gone, "--department", kept,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            said = (await tail.stderr.readline()).decode()
        assert said.startswith(f"subscribed as {integrator}"), said
        async with channel_as(integrator) as channel:
            stub = feed_pb2_grpc.EventFeedStub(channel)
            ending = stub.Subscribe(
                pb.SubscribeRequest(latest=True, departments=[gone, kept])
            )
            covered = stub.Subscribe(
                pb.SubscribeRequest(latest=True, departments=[kept])
            )
            everything = stub.Subscribe(pb.SubscribeRequest(latest=True))
            for stream in (ending, covered, everything):
                async with asyncio.timeout(60):
                    await stream.initial_metadata()
            await entitle(channel_as, integrator, [kept], types)  # narrowed
            try:
                async with asyncio.timeout(30):
                    async for _ in ending:
                        pass
                raise AssertionError("the narrowed stream ended without an error")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() is grpc.StatusCode.PERMISSION_DENIED, exc
                assert "was narrowed since this subscription began" in (
                    exc.details() or ""
                ), exc.details()
            async with asyncio.timeout(30):
                code = await tail.wait()
            err = (await tail.stderr.read()).decode()
            out = (await tail.stdout.read()).decode()
            assert code != 0
            assert out == "", out
            lines = err.splitlines()
            assert len(lines) == 1, err
            assert lines[0].startswith(
                f"error: department: the entitlement of {integrator} was narrowed "
            ), err
            # the streams the narrower rights still cover run on and deliver
            # (that a re-read lets them run: test_atk70_narrowed_unit and
            # test_atk_feed's slow subscriber, whose feed re-reads at every event)
            sent = await publish(stack, [(lineage_of(kept), kept)])
            for stream in (covered, everything):
                async with asyncio.timeout(30):
                    async for event in stream:
                        if event.id == sent[0]:
                            break
                stream.cancel()
    finally:
        if tail.returncode is None:
            tail.kill()
            await tail.wait()
