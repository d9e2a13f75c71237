"""The issuer's real events, folded by the verifier's apply functions, give the verdicts
the issuer's database implies (the Faust agents will run exactly these functions)."""

import datetime as dt

from certseal.events import LICENCE_EVENTS, TRUST_EVENTS
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.verifier.domain import Verdict, evaluate, parse_code
from services.verifier.index import (
    BadEvent,
    apply_licence_event,
    apply_trust_event,
    index_entry,
    trust_entry,
)
from tests.conftest import EventWatcher, issue_request


def fold(records, apply) -> dict[bytes, bytes]:
    """What an agent's table holds after ``records`` (bad events are parked, as there)."""
    table: dict[bytes, bytes] = {}
    for record in records:
        try:
            new = apply(table.get(record.key), record.value)
        except BadEvent:
            continue
        if new is not None:
            table[record.key] = new
    return table


async def test_verdicts_follow_the_issuer(stack, dept, issuer, connect):
    issuer_stub = dept.clients.issuer
    first = (await issuer_stub.IssueLicence(issue_request(dept))).licence
    second = (await issuer_stub.IssueLicence(issue_request(dept))).licence
    old_code = (
        await issuer_stub.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=first.identifier)
        )
    ).text
    amend = pb.AmendLicenceRequest(identifier=first.identifier, reason="升级")
    amend.fields["class"].string_value = "A1"
    amended = (await issuer_stub.AmendLicence(amend)).licence
    new_code = (
        await issuer_stub.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=amended.identifier)
        )
    ).text
    await issuer_stub.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=second.identifier, reason="检查")
    )
    presented = (
        await dept.clients.issuer.CreatePresentationCode(
            pb.CreatePresentationCodeRequest(identifier=amended.identifier)
        )
    ).text

    lineages = {first.lineage.encode(): 2, second.lineage.encode(): 2}
    async with (
        EventWatcher(stack, LICENCE_EVENTS) as licences,
        EventWatcher(stack, TRUST_EVENTS) as keys,
    ):
        licence_records = await licences.wait_for(
            lambda rs: all(
                sum(r.key == k for r in rs) >= n for k, n in lineages.items()
            )
        )
        trust_records = await keys.wait_for(
            lambda rs: any(r.key == dept.kid.encode() for r in rs)
        )
    index = fold(licence_records, apply_licence_event)
    trust = fold(trust_records, apply_trust_event)

    def verdict(text: str, nonce_seen: bool = False) -> Verdict:
        code = parse_code(text)
        stored_key = trust.get(code.kid.encode())
        stored_lineage = index.get(code.lineage.encode())
        return evaluate(
            code,
            trust=trust_entry(stored_key) if stored_key else None,
            index=index_entry(stored_lineage) if stored_lineage else None,
            nonce_seen=nonce_seen,
            now=dt.datetime.now(dt.UTC),
        ).verdict

    second_code = (
        await issuer_stub.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=second.identifier)
        )
    ).text
    assert verdict(new_code) is Verdict.VALID
    assert verdict(old_code) is Verdict.SUPERSEDED
    assert verdict(second_code) is Verdict.SUSPENDED
    assert verdict(presented) is Verdict.VALID
    assert verdict(presented, nonce_seen=True) is Verdict.REPLAYED
    # the index agrees with the issuer's database
    row = await issuer.pool.fetchrow(
        "select status, lineage_version from licences where identifier = $1",
        second.identifier,
    )
    entry = index_entry(index[second.lineage.encode()])
    assert (entry.status, entry.lineage_version) == (
        row["status"],
        row["lineage_version"],
    )
    assert entry.status == f"{licence_pb2.LICENCE_STATUS_SUSPENDED:02d}"
