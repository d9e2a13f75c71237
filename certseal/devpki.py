"""A development certificate authority for mTLS identities.

Production certificates come from cert-manager; this issues the same shapes locally.
An identity is the certificate's common name: ``dept:<code>``, ``operator:<name>``,
``app:<name>``, ``integrator:<name>`` or ``service:<name>`` (servers also get the
loopback SANs: localhost, 127.0.0.1 and ::1).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Identity:
    """Paths of a certificate and its key."""

    cert_file: Path
    key_file: Path


#: how far back dev certificates are valid from: a day's leeway for clocks that differ
#: between a laptop and its containers, and for a test whose clock was read before the
#: certificate was made (a full test run takes minutes)
_LEEWAY = dt.timedelta(days=1)


class DevCA:
    """A CA kept in a folder: ``ca.pem``, ``ca.key`` and one pair per identity."""

    def __init__(self, folder: Path, name: str = "certseal dev CA"):
        self.folder = folder
        self.name = name
        self.ca_file = folder / "ca.pem"
        self._ca_key_file = folder / "ca.key"
        if not self.ca_file.exists():
            self._create()
        self._ca_cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        key = serialization.load_pem_private_key(self._ca_key_file.read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self._ca_key_file} is not a dev CA's key (EC P-256)")
        self._ca_key = key

    @classmethod
    def existing(cls, folder: Path) -> DevCA:
        """The dev CA already in ``folder``, never a new one: recognised by what
        :meth:`_create` writes (common name ``certseal dev CA``, an EC P-256 key),
        not by the files' names, so that a deployment's own CA kept as ``ca.pem``
        and ``ca.key`` gets no identities of ours. ValueError saying why when
        ``folder`` holds none or another."""
        if not (folder / "ca.pem").is_file() or not (folder / "ca.key").is_file():
            raise ValueError(f"{folder} holds no dev CA (ca.pem and ca.key)")
        unreadable = (ValueError, TypeError, OSError, UnsupportedAlgorithm)
        try:
            ca = cls(folder)
        except (*unreadable, x509.InvalidVersion):
            raise ValueError(
                f"{folder} holds no usable dev CA (its ca.pem and ca.key: a PEM "
                "certificate and an unencrypted EC P-256 key)"
            ) from None
        names = ca._ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        curve = ca._ca_key.curve
        if [n.value for n in names] != [ca.name] or not isinstance(curve, ec.SECP256R1):
            subject = ca._ca_cert.subject.rfc4514_string()
            raise ValueError(
                f"{folder}/ca.pem is not the dev CA ({subject}, not CN={ca.name} "
                "with an EC P-256 key)"
            )
        return ca

    def _create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _LEEWAY)
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    False, False, False, False, False, True, True, False, False
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(self.folder / "ca.key", key)
        self.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _files(self, common_name: str) -> Identity:
        stem = common_name.replace(":", "_").replace("/", "_")
        return Identity(self.folder / f"{stem}.pem", self.folder / f"{stem}.key")

    def holds(self, common_name: str) -> bool:
        """Whether the pair for ``common_name`` was issued (:meth:`identity`): its
        files are there and the certificate's common name is ``common_name``, not
        another name whose files are named the same (``integrator:acme_x`` for
        ``integrator:acme/x``, ``app:a_b`` for ``app:a:b``)."""
        ident = self._files(common_name)
        return (
            ident.cert_file.is_file()
            and ident.key_file.is_file()
            and self._held_name(ident) == common_name
        )

    def _held_name(self, ident: Identity) -> str | None:
        """The common name of ``ident``'s certificate (None: no certificate)."""
        try:
            cert = x509.load_pem_x509_certificate(ident.cert_file.read_bytes())
        except (ValueError, OSError):
            return None
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if len(names) == 1 else None

    def issued(self, kind: str) -> list[str]:
        """The common names ``<kind>:<name>`` of the pairs :meth:`identity` issued,
        sorted, as their certificates say them (a file that is no certificate of
        one, or has no key beside it, is none)."""
        names = set()
        for cert_file in self.folder.glob(f"{kind}_*.pem"):
            try:
                cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            except (ValueError, OSError):
                continue
            for cn in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
                name = str(cn.value)
                if name.startswith(f"{kind}:") and self.holds(name):
                    names.add(name)
        return sorted(names)

    def identity(self, common_name: str, *, server: bool = False) -> Identity:
        """The pair for ``common_name``, issued on first use. ValueError when its
        files hold another identity's pair: its file names keep ``:``, ``/`` and
        ``_`` apart no better than ``integrator:acme/x`` and ``integrator:acme_x``,
        and a name must never act as another."""
        ident = self._files(common_name)
        if ident.cert_file.exists() and ident.key_file.exists():
            held = self._held_name(ident)
            if held != common_name:
                raise ValueError(
                    f"{ident.cert_file.name} holds the identity of "
                    f"{held or 'no readable certificate'}, not {common_name}: their "
                    "files are named alike (':' and '/' are written as '_'), so "
                    f"{common_name} cannot be made here; choose another name"
                )
            return ident
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        local: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),  # a listen moved to [::1]
        ]
        self._issue(ident, common_name, usages, local if server else [])
        return ident

    def tsa_identity(self, common_name: str, *, rsa_key: bool = False) -> Identity:
        """A time-stamping authority's pair for ``common_name``, issued on first use:
        an EC P-256 key (``rsa_key``: RSA-2048; services.seal.tsa signs with either)
        and a certificate whose only extended key usage is timeStamping, critical
        (RFC 3161 section 2.3). A pair issued before is kept, whatever its key."""
        stem = "tsa-" + common_name.replace(":", "_").replace("/", "_").replace(
            " ", "_"
        )
        ident = Identity(self.folder / f"{stem}.pem", self.folder / f"{stem}.key")
        if ident.cert_file.exists() and ident.key_file.exists():
            return ident
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        cert = (
            self._leaf(common_name, key.public_key())
            .add_extension(
                x509.KeyUsage(
                    True, True, False, False, False, False, False, False, False
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                critical=True,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        _write_private(ident.key_file, key)
        ident.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return ident

    def certify(self, common_name: str, public_key_der: bytes, path: Path) -> Path:
        """Issue an 825-day certificate to ``common_name`` for a key held elsewhere
        (``public_key_der``, a DER SubjectPublicKeyInfo: e.g. a PKCS#11 token key's,
        as for ``[verifier] bundle_key``), written as PEM to ``path``.

        Raises ValueError for a public key that is not DER SubjectPublicKeyInfo.
        """
        public_key = serialization.load_der_public_key(public_key_der)
        cert = (
            self._leaf(common_name, public_key)  # type: ignore[arg-type]
            .add_extension(
                x509.KeyUsage(
                    True, False, False, False, False, False, False, False, False
                ),
                critical=True,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def server_identity(
        self, name: str, hosts: Sequence[str], *, replace: bool = False
    ) -> Identity:
        """A new HTTPS server certificate for ``hosts`` (DNS names or IP literals, in
        its subjectAltName) under ``server-<name>``, e.g. for a local webhook receiver
        the feed trusts through this CA. A key or certificate already there is kept
        (FileExistsError naming it) unless ``replace``: a receiver may be serving with
        it.

        Raises ValueError for no host or a host that is neither a DNS name nor an IP.
        """
        if not hosts:
            raise ValueError("a server certificate needs at least one host")
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                if not _DNS_NAME.fullmatch(host):
                    raise ValueError(
                        f"{host!r} is neither a DNS name nor an IP"
                    ) from None
                names.append(x509.DNSName(host.lower()))
        stem = "server-" + name.replace(":", "_").replace("/", "_")
        ident = Identity(self.folder / f"{stem}.pem", self.folder / f"{stem}.key")
        there = [p for p in (ident.key_file, ident.cert_file) if p.exists()]
        if there and not replace:
            raise FileExistsError(str(there[0]))
        self._issue(ident, hosts[0], [ExtendedKeyUsageOID.SERVER_AUTH], names)
        return ident

    def _leaf(
        self, common_name: str, public_key: CertificateIssuerPublicKeyTypes
    ) -> x509.CertificateBuilder:
        """What every leaf this CA issues has: ``common_name`` as its subject, this
        CA as its issuer, a random serial, 825 days' validity from a day back, and
        no CA rights; the caller adds its key usages and signs."""
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
            )
            .issuer_name(self._ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _LEEWAY)
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        )

    def _issue(
        self,
        ident: Identity,
        common_name: str,
        usages: list[x509.ObjectIdentifier],
        names: list[x509.GeneralName],
    ) -> None:
        """Issue a fresh P-256 key and an 825-day leaf certificate for it under this
        CA (``usages``: extended key usages; ``names``: its subjectAltName, if any),
        written to ``ident``'s files."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._leaf(common_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage(usages), critical=False
        )
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(names), critical=False
            )
        cert = builder.sign(self._ca_key, hashes.SHA256())
        _write_private(ident.key_file, key)
        ident.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


_DNS_NAME = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _write_private(
    path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
