"""What the licence use cases (issuance, lifecycle, codes) are built from."""

from __future__ import annotations

from dataclasses import dataclass

from certseal.indexkeys import IndexSealer
from certseal.protectors import PersonalDataProtector
from certseal.timestamps import Clock
from services.issuer.service.common import Auditor
from services.issuer.service.directory import Directory
from services.issuer.service.keys import Keyring
from services.issuer.service.reading import Reader
from services.issuer.storage import IssuerStore


@dataclass(frozen=True, slots=True)
class Licensing:
    """The parts a licence use case works with, built once by the facade."""

    store: IssuerStore
    directory: Directory
    reader: Reader
    keyring: Keyring
    protector: PersonalDataProtector
    #: seals restricted field values for the verifiers (licence events)
    sealer: IndexSealer
    auditor: Auditor
    clock: Clock


class LicenceCases:
    """Base of the licence use cases: the parts as private attributes."""

    def __init__(self, parts: Licensing):
        self._store = parts.store
        self._directory = parts.directory
        self._reader = parts.reader
        self._keyring = parts.keyring
        self._protector = parts.protector
        self._sealer = parts.sealer
        self._auditor = parts.auditor
        self._clock = parts.clock
