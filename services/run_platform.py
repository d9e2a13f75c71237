"""``make run``'s set-up of the platform's seal: the official seal annotated copies
(加注件) are sealed with when a counter redeems a holder's authorisation (docs/holder.md).

Without one every redemption is refused, and the README's walk-through had no step
for it, so ``certseal run`` registers it once the seal service and the issuer serve,
as the CLI's operator: an active official es256 seal of ``[platform] code`` that only
``service:issuer`` may use, unless such a seal exists already (a second run, or one
the operator registered: nothing is registered then).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from typing import Any

import grpc

from certseal.calls import channel
from certseal.rpcerrors import error_from_rpc
from certseal.v1 import seal_pb2, seal_pb2_grpc

#: the one identity that may use the platform's seal (the seal service refuses a
#: platform seal others may use: whoever may use it could "copy" any licence)
COPY_SEALER = "service:issuer"
#: the suites the issuer seals PDF copies with
COPY_SUITES = ("es256", "ed25519")
PLATFORM_SEAL_NAME = "平台专用章"


def copies_seal(seals: Iterable[Any], *, now: dt.datetime) -> str | None:
    """The id of a seal of ``seals`` (``SealInfo``, the platform's) annotated copies
    can be sealed with at ``now``, None when there is none."""
    for seal in seals:
        if (
            seal.seal_type == "official"
            and seal.status == "active"
            and seal.suite in COPY_SUITES
            and set(seal.signers) == {COPY_SEALER}
            and seal.valid_start.ToDatetime(dt.UTC) <= now
            and now <= seal.valid_end.ToDatetime(dt.UTC)
        ):
            return str(seal.seal_id)
    return None


async def ensure_platform_seal(cfg: Any, *, now: dt.datetime) -> tuple[str, bool]:
    """The platform's seal for annotated copies, registered when there is none: its
    id, and whether it was registered now. Calls the seal service as the CLI's
    identity (an operator); raises ``grpc.aio.AioRpcError`` as the call does."""
    async with channel(cfg, cfg.cli.seal_target) as chan:
        stub = seal_pb2_grpc.SealStub(chan)
        seals: list[Any] = []
        token = ""
        while True:
            page = await stub.ListSeals(
                seal_pb2.ListSealsRequest(
                    owner_code=cfg.platform.code, page_size=500, page_token=token
                ),
                timeout=30,
            )
            seals += page.seals
            token = page.next_page_token
            if not token:
                break
        if found := copies_seal(seals, now=now):
            return found, False
        reply = await stub.RegisterSeal(
            seal_pb2.RegisterSealRequest(
                owner_code=cfg.platform.code,
                seal_type="official",
                name=PLATFORM_SEAL_NAME,
                suite="es256",
                signers=[COPY_SEALER],
            ),
            timeout=30,
        )
        return reply.seal.seal_id, True


def platform_seal_line(cfg: Any) -> str:
    """The banner's words on the platform's seal, after making sure it exists."""
    try:
        seal_id, registered = asyncio.run(
            ensure_platform_seal(cfg, now=dt.datetime.now(dt.UTC))
        )
    except grpc.aio.AioRpcError as exc:
        return (
            f"none: registering it failed ({error_from_rpc(exc)}); redeeming "
            "authorisations fails until an operator registers it (docs/holder.md)"
        )
    done = "registered now" if registered else "present"
    return f"seal {seal_id} of {cfg.platform.code}, {done} (seals annotated copies)"
