"""Wiring of the log process: the shared service process plus the log's sequencer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certseal.checkpoints import NoteSigner
from certseal.config import SettingCheck
from certseal.process import ServiceProcess
from certseal.secretfiles import read_secret_file
from certseal.storage.worker import NotifiedWorker
from certseal.v1 import tlog_pb2, tlog_pb2_grpc
from services.tlog.config import TlogSettings
from services.tlog.service import LogService
from services.tlog.servicer import TransparencyLogServicer
from services.tlog.storage import MIGRATIONS, LogSequencer, LogStore

TLOG = tlog_pb2.DESCRIPTOR.services_by_name["TransparencyLog"].full_name


def load_signer(origin: str, key_file: str) -> NoteSigner:
    """The log's note signer from its key file (``[tlog] signing_key_file``): a
    32-byte Ed25519 private key (RFC 8032 seed), read like every other secret file;
    ``origin`` (``[tlog] origin``) is its key name."""
    seed = read_secret_file(Path(key_file), "tlog.signing_key_file", length=32)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return NoteSigner(origin, key, "tlog.origin")


class TlogApp(ServiceProcess):
    """One log process: gRPC reads, the sequencer, outbox relay and audit sealer."""

    name = "tlog"
    keeps_answers = False  # no idempotent method: nothing to keep
    # read-only and free of personal data: every authenticated kind may read it,
    # auditors only it (docs/operations.md, "Caller kinds"); nobody writes over gRPC
    allowed_kinds = {  # noqa: RUF012
        TLOG: {"dept", "operator", "app", "integrator", "service", "auditor"}
    }
    migrations = MIGRATIONS
    config: TlogSettings

    def setting_checks(self, *, open_token: bool = True) -> list[SettingCheck]:
        """The log's signing key, read before connecting."""
        return [self._read_signer]

    def _read_signer(self) -> None:
        cfg = self.config.tlog
        self._signer = load_signer(cfg.origin, cfg.signing_key_file)

    async def prepare(self) -> None:
        """The log service over this process's pool."""
        self.store = LogStore(self.pool)
        self.service = LogService(store=self.store, signer=self._signer)

    def workers(self, dsn: str) -> Sequence[NotifiedWorker]:
        """The sequencer."""
        return (
            LogSequencer(
                dsn=dsn,
                store=self.store,
                append=self.service.append_batch,
                clock=self.clock,
                batch_size=self.config.tlog.batch_size,
                poll_interval_s=self.config.tlog.poll_interval_s,
            ),
        )

    def add_servicers(self, server: grpc.aio.Server) -> None:
        """TransparencyLog."""
        tlog_pb2_grpc.add_TransparencyLogServicer_to_server(
            TransparencyLogServicer(service=self.service), server
        )
