"""The event feed's configuration section, ``[feed]``, and what a feed process reads."""

from __future__ import annotations

from typing import Protocol

from certseal.config import OutboxServiceSection, SharedSettings


class FeedConfig(OutboxServiceSection):
    """The event feed (its process runs the shared outbox relay too, as every
    PostgreSQL-backed service process does)."""

    listen: str = "127.0.0.1:50054"
    metrics_listen: str = "127.0.0.1:9484"
    max_request_bytes: int = 1024 * 1024
    # Webhooks: CA bundle for the endpoints ("": the system's), and the retry budget
    # (attempts with exponential backoff) before an event is parked.
    webhook_ca_file: str = ""
    webhook_attempts: int = 8
    webhook_first_delay_s: float = 0.2
    webhook_max_delay_s: float = 30.0


class FeedSettings(SharedSettings, Protocol):
    """The sections a feed process reads."""

    feed: FeedConfig
