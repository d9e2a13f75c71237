"""The verifier's configuration section, ``[verifier]``, and what a verifier reads."""

from __future__ import annotations

from typing import Protocol

import msgspec

from certseal.config import ServiceSection, SharedSettings


class VerifierConfig(ServiceSection):
    """A verifier deployment: one consumer group with its own complete index."""

    listen: str = "127.0.0.1:50052"
    max_request_bytes: int = 1024 * 1024
    group: str = "default"
    data_dir: str = "/var/lib/certseal/verifier"
    # Faust's consumer waits up to this long for data; the embedded broker does not
    # wake a fetch on new data, so this bounds how stale an answer can be.
    fetch_max_wait_ms: int = 20
    session_timeout_s: float = 6.0
    # Offline trust bundles: how long a counter may rely on one, and how often a new
    # snapshot is taken when asked (a snapshot scans the whole index).
    bundle_validity_s: int = 24 * 3600
    bundle_refresh_s: float = 10.0
    # Department codes whose counters may verify here; empty: every department.
    counters: list[str] = msgspec.field(default_factory=list)
    # TYPE:DEPARTMENT:FIELD,FIELD rules narrowing the fields a counter sees (see
    # services.verifier.domain.FieldRights); none: the fields the code carries.
    field_rights: list[str] = msgspec.field(default_factory=list)


class VerifierSettings(SharedSettings, Protocol):
    """The sections a verifier process reads."""

    verifier: VerifierConfig
