"""The transparency log's configuration section, ``[tlog]``, and what it reads."""

from __future__ import annotations

from typing import Annotated, Protocol

import msgspec

from certseal.config import ServiceSection, SharedSettings


class TlogConfig(ServiceSection):
    """The transparency log service."""

    listen: str = "127.0.0.1:50056"
    metrics_listen: str = "127.0.0.1:9514"
    # the checkpoints' origin line and the log key's name (C2SP tlog-checkpoint: a
    # schema-less URL that names this log alone)
    origin: str = "certseal.example/transparency-log"
    # the log's Ed25519 private key: a file of its 32 raw bytes (the RFC 8032 seed, mode
    # 0600); its verifier key is what auditors and 'certseal log verify' trust
    signing_key_file: str = "/run/secrets/certseal/tlog/log.key"
    # events appended per sequencer transaction (and so at most one checkpoint per batch)
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    poll_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0


class TlogSettings(SharedSettings, Protocol):
    """The sections a log process reads."""

    tlog: TlogConfig
