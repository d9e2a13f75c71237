"""The verifier's configuration section, ``[verifier]``, and what a verifier reads."""

from __future__ import annotations

from typing import Protocol

import msgspec

from certseal.bounds import MAX_IMAGE_BYTES
from certseal.config import ServiceSection, SharedSettings


class VerifierConfig(ServiceSection):
    """A verifier deployment: one consumer group with its own complete index."""

    listen: str = "127.0.0.1:50052"
    # above certseal.bounds.MAX_IMAGE_BYTES, so a phone photo meets the one image
    # limit (a VerifyImage's own message) and not this one
    max_request_bytes: int = MAX_IMAGE_BYTES + 256 * 1024
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
    # Department codes whose counters may call this group (every Verifier RPC; the
    # console acting for a counter counts as that counter); empty: every department.
    counters: list[str] = msgspec.field(default_factory=list)
    # Worker threads that decode codes and check signatures, and how many more jobs
    # may wait for them; beyond that a request is refused with RESOURCE_EXHAUSTED
    # (services.verifier.offload). A VerifyCodes batch is one job per 50 codes.
    code_workers: int = 2
    code_queue: int = 64
    # The same for reading QR images: each one in flight may take up to ~100 MiB
    # (certseal.bounds.MAX_IMAGE_PIXELS), so these bound the verifier's memory.
    image_workers: int = 2
    image_queue: int = 4
    # TYPE:DEPARTMENT:FIELD,FIELD rules narrowing the fields a counter sees (see
    # services.verifier.domain.FieldRights); none: the fields the code carries.
    field_rights: list[str] = msgspec.field(default_factory=list)


class VerifierSettings(SharedSettings, Protocol):
    """The sections a verifier process reads."""

    verifier: VerifierConfig
