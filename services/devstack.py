"""The embedded stack for the whole platform: the kernel's PostgreSQL, broker and dev CA,
plus each service's dev identities (the verifier's ``service:verifier``, the seal CA,
the console's service:console, the CLI's operator identity), in one
:class:`services.config.Config`."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certseal.checkpoints import NoteSigner
from certseal.devpki import DevCA
from certseal.devstack import EmbeddedStack, free_port
from certseal.secretfiles import read_secret_file
from services.config import Config
from services.seal.certificates import dev_sm2_ca

__all__ = ["DevStack", "free_port"]


class DevStack(EmbeddedStack[Config]):
    """The embedded stack configured for every certseal service."""

    def __init__(
        self,
        home: Path,
        config: Config | None = None,
        *,
        topic_partitions: int = 12,
        broker_port: int | None = None,
    ):
        super().__init__(
            home,
            config or Config(),
            topic_partitions=topic_partitions,
            broker_port=broker_port,
        )

    def configure(self, cfg: Config) -> None:
        """Dev identities: the CLI's operator, the verifier, the seal CA, the console's
        own; the index key of the issuer and the verifiers."""
        operator = self.ca.identity("operator:admin")
        cfg.cli.cert_file, cfg.cli.key_file = (
            str(operator.cert_file),
            str(operator.key_file),
        )
        # the verifier has an identity of its own (the others share [tls]'s
        # service:certseal): only service:verifier signs offline trust bundles that
        # counters accept; one for every group (service:verifier-<group> would bind a
        # certificate to one group)
        verifier = self.ca.identity("service:verifier", server=True)
        cfg.verifier.cert_file, cfg.verifier.key_file = (
            str(verifier.cert_file),
            str(verifier.key_file),
        )
        # one index key, held by the issuer and every verifier group only: it seals
        # licences' restricted field values in their events (certseal.indexkeys)
        index_key = self.home / "secrets" / "index-key"
        read_secret_file(index_key, "issuer.index_key_file", create=True)
        cfg.issuer.index_key_file = str(index_key)
        cfg.verifier.index_key_files = [str(index_key)]
        # the transparency log's Ed25519 key (a 32-byte seed); the CLI trusts its
        # verifier key, as an auditor would, given out of band
        log_key = self.home / "secrets" / "tlog-key"
        seed = read_secret_file(log_key, "tlog.signing_key_file", create=True)
        cfg.tlog.signing_key_file = str(log_key)
        cfg.cli.log_key = NoteSigner(
            cfg.tlog.origin, Ed25519PrivateKey.from_private_bytes(seed)
        ).verifier.encode()
        # every verifier group carries the log's latest checkpoint
        cfg.verifier.log_target = cfg.tlog.listen
        cfg.verifier.log_key = cfg.cli.log_key
        seal_ca = DevCA(self.home / "seal-ca", name="certseal dev seal CA")
        cfg.seal.ca_cert_file = str(seal_ca.ca_file)
        cfg.seal.ca_key_file = str(seal_ca.folder / "ca.key")
        # sm2 seals and the sm2 seal maker chain to an SM2 root, as real ones do
        cfg.seal.sm2_ca_cert_file, cfg.seal.sm2_ca_key_file = dev_sm2_ca(
            self.home / "seal-ca-sm2"
        )
        # the issuer seals licence files through the seal service as service:issuer
        issuer_client = self.ca.identity("service:issuer")
        cfg.issuer.cert_file, cfg.issuer.key_file = (
            str(issuer_client.cert_file),
            str(issuer_client.key_file),
        )
        cfg.issuer.seal_target = cfg.seal.listen
        # the seal service asks a verifier group for a licence file's status
        seal_client = self.ca.identity("service:seal")
        cfg.seal.cert_file, cfg.seal.key_file = (
            str(seal_client.cert_file),
            str(seal_client.key_file),
        )
        cfg.seal.verifier_target = (cfg.console.verifier_targets or [""])[0]
        # the platform's TSA, a room of the seal process, with its own certificate from
        # a dev TSA CA (extendedKeyUsage timeStamping, critical); seals are stamped
        tsa_ca = DevCA(self.home / "tsa-ca", name="certseal dev TSA CA")
        tsa = tsa_ca.tsa_identity("certseal dev TSA")
        cfg.seal.tsa_cert_file, cfg.seal.tsa_key_file = (
            str(tsa.cert_file),
            str(tsa.key_file),
        )
        if not cfg.seal.tsa_listen:
            cfg.seal.tsa_listen = f"127.0.0.1:{free_port()}"
            cfg.seal.tsa_url = f"http://{cfg.seal.tsa_listen}/"
        cfg.seal.tsa_trusted_ca_files = [str(tsa_ca.ca_file)]
        # the counter console calls as itself and names each clerk's counter
        console = self.ca.identity("service:console", server=True)
        cfg.console.cert_file, cfg.console.key_file = (
            str(console.cert_file),
            str(console.key_file),
        )
        cfg.console.https_cert_file, cfg.console.https_key_file = (
            str(console.cert_file),
            str(console.key_file),
        )
        # every process that may relay the outbox (one leader for the one database
        # make run shares; the operator page shows each): with [issuer] workers > 0
        # the issuer's relay is its own process, on its own metrics port
        issuer_relay = (
            cfg.issuer.child_metrics_listen(cfg.issuer.workers)
            if cfg.issuer.workers > 0
            else cfg.issuer.metrics_listen
        )
        cfg.console.metrics_sources = [
            f"{name}=http://{listen}/metrics"
            for name, listen in (
                ("issuer", issuer_relay),
                ("seal", cfg.seal.metrics_listen),
                ("feed", cfg.feed.metrics_listen),
                ("tlog", cfg.tlog.metrics_listen),
            )
            if listen
        ]
