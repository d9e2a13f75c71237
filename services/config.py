"""The configuration file's schema: the kernel's shared sections and every service's.

This is one of the two composition roots (with :mod:`services.cli`): it alone imports
every service's ``config`` module. A service process loads the file through it, so a
typo'd section or setting of any service fails every process at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import msgspec

from certseal.calls import CALL_TIMEOUT_RANGE_S
from certseal.config import BaseConfig, Section, load_config
from services.console.config import ConsoleConfig
from services.feed.config import FeedConfig
from services.issuer.config import IssuerConfig
from services.seal.config import SealConfig
from services.tlog.config import TlogConfig
from services.verifier.config import VerifierConfig


class CliConfig(Section):
    """What the ``certseal`` CLI presents when it calls the services, and where."""

    cert_file: str = ""
    key_file: str = ""
    issuer_target: str = "127.0.0.1:50051"
    verifier_target: str = "127.0.0.1:50052"
    seal_target: str = "127.0.0.1:50053"
    feed_target: str = "127.0.0.1:50054"
    tlog_target: str = "127.0.0.1:50056"
    # seconds a command waits for each call's answer (1 to 3,600): a service that
    # takes a call and never answers (stopped, hung) ends the command, saying a
    # change's key to repeat it with, instead of holding the terminal for ever
    call_timeout_s: Annotated[
        float, msgspec.Meta(ge=CALL_TIMEOUT_RANGE_S[0], le=CALL_TIMEOUT_RANGE_S[1])
    ] = 120.0
    # the transparency log's note-verifier key ("<origin>+<hex id>+<base64 key>"), given
    # out of band: what 'certseal log verify' trusts checkpoints with ("": none given)
    log_key: str = ""
    # verifier groups by name, for 'certseal verify --group NAME' (NAME = HOST:PORT)
    verifier_groups: dict[str, str] = msgspec.field(default_factory=dict)


class Config(BaseConfig):
    """The whole configuration file."""

    issuer: IssuerConfig = msgspec.field(default_factory=IssuerConfig)
    verifier: VerifierConfig = msgspec.field(default_factory=VerifierConfig)
    seal: SealConfig = msgspec.field(default_factory=SealConfig)
    feed: FeedConfig = msgspec.field(default_factory=FeedConfig)
    console: ConsoleConfig = msgspec.field(default_factory=ConsoleConfig)
    tlog: TlogConfig = msgspec.field(default_factory=TlogConfig)
    cli: CliConfig = msgspec.field(default_factory=CliConfig)


#: settings of earlier versions, and where they live now: (section, key) -> (section, key)
RENAMED = {
    ("issuer", "outbox_poll_interval_s"): ("outbox", "poll_interval_s"),
    ("issuer", "outbox_retention_days"): ("outbox", "retention_days"),
}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Move settings an earlier version named otherwise to where they live now (the
    new name wins when a file gives both), so an existing configuration keeps working."""
    for (section, key), (to_section, to_key) in RENAMED.items():
        old = data.get(section)
        if isinstance(old, dict) and key in old:
            value = old.pop(key)
            new = data.setdefault(to_section, {})
            if isinstance(new, dict):
                new.setdefault(to_key, value)
    return data


def renamed_settings(data: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The settings of :data:`RENAMED` that the layered files' ``data`` (before
    :func:`upgrade`) give by an earlier name: (old, new, ignored) as ``section.key``,
    ``ignored`` when the new name is given too (it wins: :func:`upgrade`)."""
    return [
        (
            f"{section}.{key}",
            f"{to_section}.{to_key}",
            isinstance(data.get(to_section), dict) and to_key in data[to_section],
        )
        for (section, key), (to_section, to_key) in RENAMED.items()
        if isinstance(data.get(section), dict) and key in data[section]
    ]


def load(paths: str | Path | Sequence[str | Path] | None) -> Config:
    """Load the layered files in ``paths`` (None: every default) as :class:`Config`.

    Raises CertsealError(INVALID_ARGUMENT) naming the setting or file that is wrong.
    """
    return load_config(paths, Config, upgrade, RENAMED)
