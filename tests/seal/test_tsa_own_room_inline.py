"""The process's own TSA room makes an EC P-256 token on the event loop (a thread
would block the loop about as long, the GIL held, and the hop costs more) and an
RSA token on a worker thread; either way the token verifies and a failure is
UNAVAILABLE on tsa_url."""

import asyncio

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.seal.timestamp import check_token
from services.seal.tsa import Timestamper
from tests.seal.test_timestamps import Tsa


@pytest.fixture(params=["ec-p256", "rsa-2048"])
def room(tmp_path, request):
    found = Tsa(tmp_path / "tsa", rsa_key=request.param == "rsa-2048")
    found.rsa = request.param == "rsa-2048"
    return found


async def test_ec_tokens_are_made_on_the_loop_and_rsa_ones_on_a_thread(
    room, monkeypatch
):
    hops = []
    real = asyncio.to_thread

    async def counted(func, *args, **kwargs):
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counted)
    assert room.server.signs_quickly is not room.rsa
    stamper = Timestamper("http://127.0.0.1:1/", timeout_s=3, own_room=room.server)
    token = await stamper.stamp(b"signature value")
    assert check_token(token, stamped=b"signature value", trust=room.trust)
    assert len(hops) == (1 if room.rsa else 0)


async def test_a_token_the_room_cannot_make_is_unavailable_on_either_path(
    room, monkeypatch
):
    def broken(data: bytes) -> bytes:
        raise ValueError("the key cannot sign")

    monkeypatch.setattr(room.server, "token", broken)
    stamper = Timestamper("http://127.0.0.1:1/", timeout_s=3, own_room=room.server)
    with pytest.raises(CertsealError) as caught:
        await stamper.stamp(b"signature value")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.field == "tsa_url"
    assert "cannot sign" in caught.value.message
