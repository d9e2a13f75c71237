"""Fixtures shared by the seal tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from certseal.crypto import KeyWrapper, Suite
from certseal.devpki import DevCA
from certseal.secretfiles import KEK, read_secret_file
from certseal.storage.pool import create_pool
from services.seal.service import SealCa, SealService
from services.seal.storage import SealStore, migrate_all
from tests.seal.service_samples import NOW, FixedClock
from tests.seal.ses_platforms import Tsa as PlatformTsa
from tests.seal.test_timestamps import Tsa


@pytest.fixture(params=["ec-p256", "rsa-2048"])
async def tsa(tmp_path, request):
    # a TSA signs with an EC P-256 key (the dev stack's) or an RSA one (many others')
    found = Tsa(tmp_path / "tsa", rsa_key=request.param == "rsa-2048")
    found.stamper = await found.client()
    yield found
    await found.stamper.close()
    await found.server.stop()


@pytest.fixture(scope="module")
async def seal_store(config, issuer):
    # the session's issuer runs the outbox relay, which publishes the seal events too
    pool = await create_pool(config.database.dsn(), min_size=1, max_size=4)
    await migrate_all(pool)
    yield SealStore(pool)
    await pool.close()


@pytest.fixture(scope="module")
def seal_ca(tmp_path_factory) -> SealCa:
    ca = DevCA(tmp_path_factory.mktemp("seal-ca"), name="certseal dev seal CA")
    return SealCa.from_files(str(ca.ca_file), str(ca.folder / "ca.key"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def service(seal_store, seal_ca, config, clock) -> SealService:
    wrapper = KeyWrapper(read_secret_file(Path(config.secrets.kek_file), KEK))
    return SealService(store=seal_store, wrapper=wrapper, seal_ca=seal_ca, clock=clock)


@pytest.fixture(scope="module")
def sm2_tsa() -> PlatformTsa:
    """A GB/T 20520 TSA (SM2 key, SM3 digests; tests/seal/ses_platforms.py)."""
    return PlatformTsa(Suite.SM2)


@pytest.fixture(scope="module")
def p256_tsa() -> PlatformTsa:
    """An RFC 3161 TSA with a P-256 key, beside :func:`sm2_tsa`."""
    return PlatformTsa(Suite.ES256)
