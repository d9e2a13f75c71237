"""The event feed's configuration section, ``[feed]``, and what a feed process reads."""

from __future__ import annotations

from typing import Annotated, Protocol

import msgspec

from certseal.config import ServiceSection, SharedSettings
from services.feed.identities import check_integrator_names


class FeedConfig(ServiceSection):
    """The event feed."""

    listen: str = "127.0.0.1:50054"
    metrics_listen: str = "127.0.0.1:9484"
    max_request_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)] = 1024 * 1024
    # Webhooks: CA bundle for the endpoints ("": the system's), and the retry window:
    # a failing endpoint is retried with exponential backoff (first delay, doubling up
    # to the largest) and jitter for this many hours after an event's first failure,
    # and only then is the event parked (docs/events.md, "Webhooks").
    webhook_ca_file: str = ""
    webhook_retry_window_h: Annotated[float, msgspec.Meta(gt=0, le=24 * 365)] = 24.0
    webhook_first_delay_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 1.0
    webhook_max_delay_s: Annotated[float, msgspec.Meta(gt=0, le=7 * 86_400)] = 600.0
    # ignored since the retry window replaced it (kept so older files still load)
    webhook_attempts: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    # Webhook egress: an endpoint's host must resolve to global addresses only (no
    # loopback, private, link-local, unique-local, multicast, ... address), checked at
    # registration and before every connection; host names listed here (exact, case
    # insensitive) may resolve to anything. Seconds per POST, and to connect.
    webhook_allowed_hosts: list[str] = msgspec.field(default_factory=list)
    webhook_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    webhook_connect_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    # Subscribe streams one integrator may have open at once in one feed process;
    # RESOURCE_EXHAUSTED above it.
    max_subscriptions_per_integrator: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 8
    # Integrators (names, e.g. "acme") whose app:<name> certificates from before
    # integrator:<name> identities (issue 13) still read integrator:<name>'s feed;
    # any other app:<name> caller is a holder app and is refused (docs/operations.md,
    # "Caller kinds"). Empty by default: list one only until its new certificate is out.
    legacy_app_integrators: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        check_integrator_names(self.legacy_app_integrators)  # msgspec: at [feed]


class FeedSettings(SharedSettings, Protocol):
    """The sections a feed process reads."""

    feed: FeedConfig
