"""Who may make a seal: GB/T 38540 tells the seal maker (制章者, who signs the
SESeal's eSealInfo) from the signers (用章者, who sign documents with it).

A certificate of a trusted seal CA may sign with a seal; it makes one only when it is
an authorised maker of its platform (``[seal] seal_makers``: the platform's
seal-making systems' own certificates, or a maker CA with the extended key usage or
certificate policy its makers carry) or a maker of the platform's own seal CA, and
never when it is one of the seal's own signers (atk15 F13). Pure.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from certseal.certificates import same_name
from certseal.errors import invalid
from services.seal.certificates import read_certificate
from services.seal.ses import CERT_LIST_CERTS, cert_digest
from services.seal.ses_read import SealData
from services.seal.trust import (
    PathResult,
    TrustStore,
    der_certificate,
    load_trust_files,
    subject_of,
)

ANY_POLICY = "2.5.29.32.0"
ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0"


@dataclass(frozen=True)
class MakerRule:
    """Which certificates may make seals (GB/T 38540's seal maker, 制章者) for one
    trusted seal platform (``[seal] seal_makers``):

    - ``certificates``: the platform's seal-making systems' own certificates (DER),
      each one a maker wherever it chains to; or
    - ``cas``: maker CAs (DER, each also a trusted seal CA): a certificate whose path
      runs through one of them is a maker when it carries one of
      ``extended_key_usages`` (when any is given) and one of ``policies`` (when any is
      given). A rule of ``cas`` alone makes every certificate below them a maker:
      only for a CA that certifies nothing but seal-making systems.

    ValueError for a rule that names no maker, or a usage or policy without a CA to
    read it under.
    """

    platform: str
    certificates: frozenset[bytes] = frozenset()
    cas: frozenset[bytes] = frozenset()
    extended_key_usages: frozenset[str] = frozenset()
    policies: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.certificates and not self.cas:
            raise ValueError(
                "names no seal maker: give the seal-making systems' certificates, "
                "or a maker CA"
            )
        if (self.extended_key_usages or self.policies) and not self.cas:
            raise ValueError(
                "an extended key usage or certificate policy is read under a maker "
                "CA: name the CA that issues the makers' certificates"
            )
        if ANY_POLICY in self.policies:
            raise ValueError(f"{ANY_POLICY} (anyPolicy) names no maker policy")
        if ANY_EXTENDED_KEY_USAGE in self.extended_key_usages:
            raise ValueError(
                f"{ANY_EXTENDED_KEY_USAGE} (anyExtendedKeyUsage) names no maker usage"
            )

    def admits(self, chain: tuple[bytes, ...]) -> bool:
        """Whether the leaf of ``chain`` (a validated path, DER, leaf first) is one of
        this platform's seal makers."""
        if not chain:
            return False
        if chain[0] in self.certificates:
            return True
        if not self.cas or not any(ca in self.cas for ca in chain[1:]):
            return False
        leaf = der_certificate(chain[0])
        if self.extended_key_usages:
            usages = leaf.extended_key_usage_value
            found = {usage.dotted for usage in usages} if usages is not None else set()
            if not found & self.extended_key_usages:
                return False
        if self.policies:
            policies = leaf.certificate_policies_value
            named = (
                {p["policy_identifier"].dotted for p in policies}
                if policies is not None
                else set()
            )
            if not named & self.policies:
                return False
        return True


def maker_problem(path: PathResult, trust: TrustStore) -> str | None:
    """Why the seal maker whose validated path is ``path`` may not make seals, or
    None: a maker of the platform's own seal CA (``path.own``: that CA certifies
    only keys this platform holds), or one a rule of ``trust.makers`` admits."""
    if not path.ok:
        return path.detail
    if path.own or any(rule.admits(path.chain) for rule in trust.makers):
        return None
    who = path.path[0] if path.path else "?"
    under = f", certified by {path.path[1]}" if len(path.path) > 1 else ""
    if not trust.makers:
        return (
            f"the seal maker ({who}{under}) is not an authorised seal maker: no other "
            "platform's seal maker is configured ([seal] seal_makers)"
        )
    platforms = ", ".join(rule.platform for rule in trust.makers)
    return (
        f"the seal maker ({who}{under}) is not an authorised seal maker of any "
        f"trusted platform ([seal] seal_makers: {platforms}): a certificate that "
        "may sign with a seal may not make one"
    )


_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]{0,19})){1,63}")


def load_seal_trust(
    trusted_ca_files: Iterable[str],
    seal_makers: Iterable[MakerSettings],
    field: str = "seal",
) -> TrustStore:
    """The store of ``[seal] trusted_ca_files`` and ``[seal] seal_makers``.

    Raises INVALID_ARGUMENT naming the setting: a file :func:`load_trust_files`
    refuses; trusted CAs with no seal maker configured (since atk15 F13 another
    platform's seal verifies only when its maker is authorised: the message says
    what to add); a maker rule naming no maker, an OID that is none, a maker CA
    that is not among the trusted CAs, or a maker certificate that is a CA or that
    none of them issued.
    """
    files = list(trusted_ca_files)
    trusted = load_trust_files(files, f"{field}.trusted_ca_files")
    rules: list[MakerRule] = []
    for index, entry in enumerate(seal_makers):
        rules.append(_maker_rule(entry, f"{field}.seal_makers[{index}]", trusted))
    if trusted and not rules:
        names = ", ".join(
            sorted({subject_of(der_certificate(data)) for data in trusted})
        )
        raise invalid(
            f"{field}.seal_makers",
            f"{field}.trusted_ca_files trusts other seal platforms' CAs ({names}) "
            "but names none of their seal makers: a certificate of a trusted seal "
            "CA may sign with a seal, and makes one only when it is an authorised "
            "seal maker. Add, per trusted platform, a [[seal.seal_makers]] table with "
            "platform = its name and certificate_files = its seal-making systems' "
            "certificates (certseal seal inspect --maker-cert FILE SEAL writes one "
            "from a seal), "
            "or ca_files = its maker CA with extended_key_usages or "
            "certificate_policies (docs/operations.md, 'Trusted seal platforms')",
        )
    return TrustStore.of(trusted, makers=rules)


class MakerSettings(Protocol):
    """One ``[[seal.seal_makers]]`` table (services.seal.config.SealMakerConfig)."""

    platform: str
    certificate_files: list[str]
    ca_files: list[str]
    extended_key_usages: list[str]
    certificate_policies: list[str]


def _maker_rule(entry: MakerSettings, field: str, trusted: list[bytes]) -> MakerRule:
    platform = entry.platform.strip()
    if not platform:
        raise invalid(f"{field}.platform", "name the trusted seal platform")
    certificates = load_trust_files(
        entry.certificate_files, f"{field}.certificate_files"
    )
    for data in certificates:
        cert = der_certificate(data)
        constraints = cert.basic_constraints_value
        if constraints is not None and constraints["ca"].native:
            raise invalid(
                f"{field}.certificate_files",
                f"{subject_of(cert)} is a CA certificate: name a maker CA in ca_files, "
                "with the extended key usage or policy its makers carry",
            )
        issuer = cert["tbs_certificate"]["issuer"]
        if not any(
            same_name(der_certificate(ca)["tbs_certificate"]["subject"], issuer)
            for ca in trusted
        ):
            raise invalid(
                f"{field}.certificate_files",
                f"{subject_of(cert)}'s issuer is not in seal.trusted_ca_files: add the "
                "CA that issued it there",
            )
    cas = load_trust_files(entry.ca_files, f"{field}.ca_files")
    for data in cas:
        if data not in trusted:
            raise invalid(
                f"{field}.ca_files",
                f"{subject_of(der_certificate(data))} is not in seal.trusted_ca_files: a maker CA "
                "is one of the trusted seal CAs; add it there",
            )
    oids: dict[str, frozenset[str]] = {}
    for name, values in (
        ("extended_key_usages", entry.extended_key_usages),
        ("certificate_policies", entry.certificate_policies),
    ):
        for value in values:
            if not _OID.fullmatch(value):
                raise invalid(f"{field}.{name}", f"{value!r} is no dotted OID")
        oids[name] = frozenset(values)
    try:
        return MakerRule(
            platform,
            frozenset(certificates),
            frozenset(cas),
            oids["extended_key_usages"],
            oids["certificate_policies"],
        )
    except ValueError as exc:
        raise invalid(field, str(exc)) from None


def maker_signs(seal: SealData, signer_cert: bytes) -> str | None:
    """Why the seal's maker is one of its signers (GB/T 38540 tells the maker, 制章者,
    from the signers, 用章者): its certificate or its key is the document's signer's
    or one the seal lists; None when it is none of them."""
    if seal.cert_list_type == CERT_LIST_CERTS:
        listed = list(seal.certs)
        named = seal.maker_cert in listed
    else:  # a list of digests: only the document's signer is known in full
        listed = []
        named = any(
            value == cert_digest(name, seal.maker_cert) for name, value in seal.digests
        )
    if named or seal.maker_cert == signer_cert:
        return "the seal maker's certificate is one the seal lists as its signer"
    try:
        key = read_certificate(seal.maker_cert).public_key_der
    except ValueError:
        return None  # the maker's signature check names it
    for cert in (signer_cert, *listed):
        with contextlib.suppress(ValueError):
            if read_certificate(cert).public_key_der == key:
                return "the seal maker's key is one of the seal's signers' keys"
    return None
