"""Wiring of the event-feed process."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import grpc

from certseal.config import Config
from certseal.crypto import KeyWrapper, read_secret_file
from certseal.process import ServiceProcess
from certseal.timestamps import Clock, utcnow
from certseal.v1 import feed_pb2, feed_pb2_grpc
from services.feed.service import MIGRATIONS, FeedService
from services.feed.servicer import EventFeedAdminServicer, EventFeedServicer
from services.feed.webhooks import RetryPolicy, WebhookDispatcher, WebhookRegistry

EVENT_FEED = feed_pb2.DESCRIPTOR.services_by_name["EventFeed"].full_name
EVENT_FEED_ADMIN = feed_pb2.DESCRIPTOR.services_by_name["EventFeedAdmin"].full_name


class FeedApp(ServiceProcess):
    """One event-feed process."""

    name = "feed"
    allowed_kinds = {  # noqa: RUF012
        EVENT_FEED: {"app", "operator"},
        EVENT_FEED_ADMIN: {"operator"},
    }
    migrations = MIGRATIONS

    def __init__(
        self, config: Config, *, clock: Clock = utcnow, listen: str | None = None
    ):
        super().__init__(
            config,
            listen=listen or config.feed.listen,
            metrics_listen=config.feed.metrics_listen,
            probe_listen=config.feed.probe_listen,
            max_request_bytes=1024 * 1024,
            clock=clock,
        )

    async def prepare(self) -> None:
        """The feed service and the webhooks."""
        cfg = self.config
        kafka = cfg.kafka.settings("certseal-feed")
        self.service = FeedService(pool=self.pool, kafka=kafka, clock=self.clock)
        context = ssl.create_default_context(cafile=cfg.feed.webhook_ca_file or None)
        self.webhooks = WebhookRegistry(
            pool=self.pool,
            kafka=kafka,
            wrapper=KeyWrapper(read_secret_file(Path(cfg.secrets.kek_file))),
            entitlements=self.service.entitlement,
            ssl_context=context,
            retry=RetryPolicy(
                cfg.feed.webhook_attempts,
                cfg.feed.webhook_first_delay_s,
                cfg.feed.webhook_max_delay_s,
            ),
        )
        self._dispatch_stop = asyncio.Event()
        self._dispatcher = asyncio.create_task(
            WebhookDispatcher(self.webhooks).run(self._dispatch_stop)
        )

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the webhook deliveries, then the process."""
        self._dispatch_stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._dispatcher, 10)
        await super().stop(grace)

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """EventFeed and EventFeedAdmin."""
        feed_pb2_grpc.add_EventFeedServicer_to_server(
            EventFeedServicer(service=self.service), server
        )
        feed_pb2_grpc.add_EventFeedAdminServicer_to_server(
            EventFeedAdminServicer(service=self.service, webhooks=self.webhooks), server
        )
