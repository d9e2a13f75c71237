"""Wiring of the event-feed process: store, webhook engine and dispatcher, service,
the EventFeed and EventFeedAdmin servicers."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import grpc
from aiohttp.abc import AbstractResolver

from certseal.bounds import MAX_CA_BUNDLE_BYTES
from certseal.config import SettingCheck
from certseal.crypto import KeyWrapper
from certseal.process import ServiceProcess
from certseal.rpc import RefusedCall
from certseal.secretfiles import KEK, read_secret_file
from certseal.timestamps import Clock, utcnow
from certseal.tlsfiles import der_bundle, read_certificates
from certseal.v1 import feed_pb2, feed_pb2_grpc
from services.feed.config import FeedSettings
from services.feed.dispatch import WebhookDispatcher
from services.feed.egress import EgressPolicy
from services.feed.metrics import WebhookMetrics
from services.feed.refusals import audit_refused_call
from services.feed.service import FeedService
from services.feed.servicer import EventFeedAdminServicer, EventFeedServicer
from services.feed.signing import RetryPolicy
from services.feed.storage import MIGRATIONS, FeedStore
from services.feed.webhooks import RequestTimeouts, WebhookEngine

EVENT_FEED = feed_pb2.DESCRIPTOR.services_by_name["EventFeed"].full_name
EVENT_FEED_ADMIN = feed_pb2.DESCRIPTOR.services_by_name["EventFeedAdmin"].full_name


class FeedApp(ServiceProcess):
    """One event-feed process."""

    name = "feed"
    holds_kek = True
    allowed_kinds = {  # noqa: RUF012
        # integrators; app:<name> is a holder app, refused by the service (with why)
        # unless [feed] legacy_app_integrators lists the name (docs/operations.md)
        EVENT_FEED: {"integrator", "app", "operator"},
        EVENT_FEED_ADMIN: {"operator"},
    }
    migrations = MIGRATIONS
    config: FeedSettings

    def __init__(
        self,
        config: FeedSettings,
        *,
        clock: Clock = utcnow,
        listen: str | None = None,
        webhook_resolver: AbstractResolver | None = None,
    ):
        """``webhook_resolver`` answers the webhooks' DNS questions (the system's
        resolver by default)."""
        super().__init__(config, listen=listen, clock=clock)
        self._webhook_resolver = webhook_resolver

    def setting_checks(self, *, open_token: bool = True) -> list[SettingCheck]:
        """The webhooks' CA file and the key-encryption key, read before
        connecting."""
        return [self._read_webhook_ca, self._read_kek]

    def _read_webhook_ca(self) -> None:
        cfg = self.config
        roots = None
        if cfg.feed.webhook_ca_file:  # parsed first: ssl says only "PEM lib"; and
            # ssl is handed what was parsed, not a second read of the file
            _, roots = read_certificates(
                cfg.feed.webhook_ca_file, "feed.webhook_ca_file", MAX_CA_BUNDLE_BYTES
            )
        self._webhook_ssl = ssl.create_default_context(
            cadata=der_bundle(roots) if roots is not None else None
        )

    def _read_kek(self) -> None:
        kek = read_secret_file(Path(self.config.secrets.kek_file), KEK)
        self._wrapper = KeyWrapper(kek)

    async def prepare(self) -> None:
        """The store, the webhook engine, the service; the webhook dispatcher."""
        cfg = self.config
        kafka = cfg.kafka.settings("certseal-feed")
        self.store = FeedStore(self.pool)
        self.webhooks = WebhookEngine(
            kafka=kafka,
            ssl_context=self._webhook_ssl,
            retry=RetryPolicy(
                window_s=cfg.feed.webhook_retry_window_h * 3600,
                first_delay_s=cfg.feed.webhook_first_delay_s,
                max_delay_s=cfg.feed.webhook_max_delay_s,
            ),
            metrics=WebhookMetrics(self.metrics.registry),
            egress=EgressPolicy(
                allowed_hosts=cfg.feed.webhook_allowed_hosts,
                resolver=self._webhook_resolver,
            ),
            timeouts=RequestTimeouts(
                cfg.feed.webhook_timeout_s, cfg.feed.webhook_connect_timeout_s
            ),
        )
        self.service = FeedService(
            store=self.store,
            kafka=kafka,
            wrapper=self._wrapper,
            webhooks=self.webhooks,
            clock=self.clock,
            max_subscriptions=cfg.feed.max_subscriptions_per_integrator,
            legacy_app_integrators=cfg.feed.legacy_app_integrators,
        )
        # Every replica runs the dispatcher: the webhooks' consumer groups share the
        # partitions among them, so it is not a leader-elected worker.
        self._dispatch_stop = asyncio.Event()
        self._dispatcher = asyncio.create_task(
            WebhookDispatcher(directory=self.service, engine=self.webhooks).run(
                self._dispatch_stop
            )
        )

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the webhook deliveries (if they started), then the process."""
        if hasattr(self, "_dispatcher"):
            self._dispatch_stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._dispatcher, 10)
        await super().stop(grace)

    def refused_calls(self) -> RefusedCall:
        """Audit an EventFeedAdmin change refused for the caller's kind
        (:func:`services.feed.refusals.audit_refused_call`)."""
        return audit_refused_call(self.store, self.clock)

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """EventFeed and EventFeedAdmin."""
        feed_pb2_grpc.add_EventFeedServicer_to_server(
            EventFeedServicer(service=self.service), server
        )
        feed_pb2_grpc.add_EventFeedAdminServicer_to_server(
            EventFeedAdminServicer(service=self.service), server
        )
