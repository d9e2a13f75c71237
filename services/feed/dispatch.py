"""The webhook dispatcher: a delivery loop (:mod:`services.feed.webhooks`) for every
registered webhook, started and restarted as webhooks are registered or changed, and
ended as they are removed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Protocol

from services.feed.domain import Entitlement, Webhook
from services.feed.webhooks import WebhookEngine


class WebhookDirectory(Protocol):
    """Where the dispatcher learns the webhooks and their integrators' rights."""

    async def webhooks(self) -> list[Webhook]:
        """Every registered webhook."""
        ...

    async def entitlement(self, integrator: str) -> Entitlement | None:
        """The integrator's entitlement, if one was set."""
        ...


class WebhookDispatcher:
    """Runs a delivery loop for every registered webhook, starting new ones as they
    are registered and ending those of webhooks removed (several feed replicas share
    each webhook's partitions)."""

    def __init__(
        self,
        *,
        directory: WebhookDirectory,
        engine: WebhookEngine,
        poll_s: float = 1.0,
    ):
        self._directory = directory
        self._engine = engine
        self._poll = poll_s
        self._running: dict[str, tuple[Webhook, asyncio.Task[None]]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``."""
        try:
            while not stop.is_set():
                registered = await self._directory.webhooks()
                names = {webhook.name for webhook in registered}
                for name in [n for n in self._running if n not in names]:
                    self._running.pop(name)[1].cancel()  # removed: its loop ends
                for webhook in registered:
                    known = self._running.get(webhook.name)
                    if (
                        known is not None
                        and known[0] == webhook
                        and not known[1].done()
                    ):
                        continue
                    if known is not None:  # changed or crashed: restart it
                        known[1].cancel()
                    entitlement = functools.partial(
                        self._directory.entitlement, webhook.integrator
                    )
                    task = asyncio.create_task(
                        self._engine.delivery(webhook, entitlement).run(stop)
                    )
                    self._running[webhook.name] = (webhook, task)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)
        finally:
            for _, task in self._running.values():
                task.cancel()
            for _, task in self._running.values():
                with contextlib.suppress(BaseException):
                    await task
