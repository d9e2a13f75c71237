"""Fixtures shared by the seal tests."""

from __future__ import annotations

import pytest

from tests.seal.test_timestamps import Tsa


@pytest.fixture(params=["ec-p256", "rsa-2048"])
async def tsa(tmp_path, request):
    # a TSA signs with an EC P-256 key (the dev stack's) or an RSA one (many others')
    found = Tsa(tmp_path / "tsa", rsa_key=request.param == "rsa-2048")
    found.stamper = await found.client()
    yield found
    await found.stamper.close()
    await found.server.stop()
