"""``events tail``'s subscription while the feed's broker is away: said once, and
subscribed again until it answers."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from services.feed.domain import BROKER_AWAY

#: seconds between subscriptions while the feed's broker does not answer
RESUBSCRIBE_S = 2.0


async def opened(stub: Any, request: Any) -> Any:
    """A Subscribe stream that got its answer (its headers, or an error other than
    the broker's absence), subscribing again every :data:`RESUBSCRIBE_S` while the
    feed says its broker does not answer (:data:`BROKER_AWAY`), said once on
    stderr (trial: the command stayed silent while the broker was away)."""
    import grpc

    from certseal.rpcerrors import error_from_rpc

    waiting = False
    while True:
        stream = stub.Subscribe(request)
        try:
            await stream.initial_metadata()
            await stream.wait_for_connection()  # raises the refusal, if one came
            return stream
        except grpc.aio.AioRpcError as exc:
            error = error_from_rpc(exc)
            if error.reason != BROKER_AWAY:
                return stream  # the caller's iteration raises it, as before
            if not waiting:
                print(
                    f"waiting for the broker: {error.message}; subscribing again "
                    f"every {RESUBSCRIBE_S:g} s until it answers (Ctrl-C stops)",
                    file=sys.stderr,
                    flush=True,
                )
                waiting = True
        await asyncio.sleep(RESUBSCRIBE_S)
