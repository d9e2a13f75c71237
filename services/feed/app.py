"""Wiring of the event-feed process."""

from __future__ import annotations

import asyncpg
import grpc

from certseal.config import Config
from certseal.process import ServiceProcess
from certseal.timestamps import Clock, utcnow
from certseal.v1 import feed_pb2, feed_pb2_grpc
from services.feed.service import FeedService, migrate_all
from services.feed.servicer import EventFeedAdminServicer, EventFeedServicer

EVENT_FEED = feed_pb2.DESCRIPTOR.services_by_name["EventFeed"].full_name
EVENT_FEED_ADMIN = feed_pb2.DESCRIPTOR.services_by_name["EventFeedAdmin"].full_name


class FeedApp(ServiceProcess):
    """One event-feed process."""

    name = "feed"
    allowed_kinds = {  # noqa: RUF012
        EVENT_FEED: {"app", "operator"},
        EVENT_FEED_ADMIN: {"operator"},
    }

    def __init__(
        self, config: Config, *, clock: Clock = utcnow, listen: str | None = None
    ):
        super().__init__(
            config,
            listen=listen or config.feed.listen,
            metrics_listen=config.feed.metrics_listen,
            max_request_bytes=1024 * 1024,
            clock=clock,
        )

    async def migrate(self, pool: asyncpg.Pool) -> None:
        """Kernel and feed migrations."""
        await migrate_all(pool)

    async def prepare(self) -> None:
        """The feed service."""
        self.service = FeedService(
            pool=self.pool,
            kafka=self.config.kafka.settings("certseal-feed"),
            clock=self.clock,
        )

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """EventFeed and EventFeedAdmin."""
        feed_pb2_grpc.add_EventFeedServicer_to_server(
            EventFeedServicer(service=self.service), server
        )
        feed_pb2_grpc.add_EventFeedAdminServicer_to_server(
            EventFeedAdminServicer(service=self.service), server
        )
