# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""One audit row per attempt, whatever refuses it (atk43holder F5).

The issuer's calls whose every attempt is one audit row are the servicer methods
marked ``@attempted`` (services/issuer/servicer.py, ``ATTEMPTS``): the holder's file,
authorisation and withdrawal, the usage record and the redemption. A refusal on the
way in, before the method runs, was no row: a field's character the interceptor
refuses (``check_request``), a request that cannot be decoded, the caller's kind for
a call missing from a hand-kept list, an idempotency key. Now the interceptor hands
every such refusal to the issuer's hook, which records it for every marked method:
each method × each kind of refusal is one ``denied`` row of the method's action,
holding none of the text sent. Over gRPC, against the real database."""

from __future__ import annotations

import inspect
import secrets

import grpc
import pytest

from certseal.requests import SCANNED_TEXT_FIELDS
from certseal.v1 import issuer_pb2 as pb
from services.issuer import servicer
from services.issuer.servicer import ATTEMPTS
from tests.issuer.test_audit42_holder_audit import (  # noqa: F401 (fixture)
    new_rows,
    world,
)

#: the calls audited per attempt, and their actions (docs/holder.md)
AUDITED = {
    "/certseal.v1.LicenceHolder/GetLicenceDocument": "licence.document",
    "/certseal.v1.LicenceHolder/AuthoriseUse": "licence.authorise",
    "/certseal.v1.LicenceHolder/RevokeAuthorisation": "licence.authorisation_revoke",
    "/certseal.v1.Redemption/RedeemAuthorisation": "authorisation.redeem",
    "/certseal.v1.Issuer/ListLicenceUsage": "licence.usage",
}
#: what the text sent holds, which no row may hold (a key is ASCII, as metadata is)
SENT, SENT_KEY = "寄送文本", "sent-text key"


def test_the_audited_calls_are_the_marked_methods():
    assert {m: c.action for m, c in ATTEMPTS.items()} == AUDITED
    # the mark is the one way a servicer audits attempts (none calls attempt itself)
    assert inspect.getsource(servicer).count("self._service.attempt(") == 1


def _request(method: str, char: str) -> bytes:
    """A request of ``method`` whose first text field the universal rule checks holds
    ``char`` (a redemption has none but its scanned code: its servicer refuses it)."""
    service, name = method.strip("/").split("/")
    descriptor = pb.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]]
    message_type = descriptor.methods_by_name[name].input_type
    request = pb.__dict__[message_type.name]()
    texts = [
        f for f in message_type.fields if f.type == f.TYPE_STRING and not f.is_repeated
    ]
    checked = [f for f in texts if f.full_name not in SCANNED_TEXT_FIELDS]
    setattr(request, (checked or texts)[0].name, f"{SENT}{char}")
    return request.SerializeToString()


REFUSALS = {
    "direction-override": lambda m: (_request(m, "\u202e"), ()),
    "nul": lambda m: (_request(m, "\x00"), ()),
    "undecodable": lambda m: (b"\x0a\xff\xff\xff\x0f", ()),
    "idempotency-key": lambda m: (b"", (("idempotency-key", SENT_KEY),)),
}


def _raw(channel: grpc.aio.Channel, method: str):
    return channel.unary_unary(
        method, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )


async def _one_row(w, channel, actor: str, method: str, payload, metadata) -> None:
    await new_rows(w, actor)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _raw(channel, method)(payload, metadata=metadata)
    assert refused.value.code() is not grpc.StatusCode.OK
    rows = await new_rows(w, actor)
    assert [r[:2] for r in rows] == [(AUDITED[method], "denied")], (method, rows)
    assert SENT not in rows[0][2] and SENT_KEY not in rows[0][2], rows


@pytest.mark.parametrize("kind", list(REFUSALS))
@pytest.mark.parametrize("method", list(AUDITED))
async def test_a_call_refused_on_its_way_in_is_one_audit_row(
    world, connect, method, kind
):
    w = world
    if "/Redemption/" in method:
        actor, channel = f"dept:{w['other'].code}", w["other"].clients.channel
    else:
        actor, channel = w["app"], connect(w["app"]).channel
    payload, metadata = REFUSALS[kind](method)
    await _one_row(w, channel, actor, method, payload, metadata)


@pytest.mark.parametrize("method", list(AUDITED))
async def test_a_call_refused_for_its_callers_kind_is_one_audit_row(
    world, connect, method
):
    """An operator calls none of them (nor does an integrator): PERMISSION_DENIED."""
    for kind in ("operator", "integrator"):
        actor = f"{kind}:probe-{secrets.token_hex(4)}"
        channel = connect(actor).channel
        await _one_row(world, channel, actor, method, b"", ())
