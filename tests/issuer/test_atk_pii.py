"""atk-pii: where a holder's personal data leaves the places it should stay, in the
issuer (an outside review; each finding is a strict xfail asserting what the docs
promise, so it fails until fixed)."""

from __future__ import annotations

import secrets

import grpc

from certseal import identifiers
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from tests.conftest import issue_request, text_field
from tests.issuer.test_rpc import rpc_error


def _marked() -> tuple[str, str, str]:
    """A holder name, a resident ID number and a personal address found nowhere else."""
    tag = secrets.token_hex(4)
    return f"Quxleak Holder{tag}", identifiers.random_resident_id(), f"ADDR-{tag}"


def _contains(blob: object, *needles: str) -> list[str]:
    """The needles found in ``blob`` (text, or bytes read as UTF-8)."""
    text = (
        bytes(blob).decode("utf-8", "replace")
        if isinstance(blob, bytes | bytearray | memoryview)
        else str(blob)
    )
    return [n for n in needles if n in text]


async def test_an_idempotent_answer_keeps_no_personal_data_in_clear(dept, issuer):
    """README.md, "Security": "the holder and personal fields are stored AES-GCM
    encrypted"; services/issuer/domain.py Holder: "personal data: never in events or
    logs". docs/operations.md "Retries and idempotency keys" stores the answer's bytes
    in ``idempotent_requests`` (the same database, its backups included): an
    IssueLicenceResponse is the Licence with ``holder`` (name, id_type, id_number) and
    every field, personal ones included, so the encrypted ``private_data`` column is
    copied in clear beside it. Reproduce: IssueLicence with metadata
    ``idempotency-key``, then ``select response from idempotent_requests``."""
    name, number, address = _marked()
    request = issue_request(dept, name=name, id_number=number)
    request.fields["address"].CopyFrom(text_field(address))
    key = f"atk-pii-{secrets.token_hex(8)}"
    licence = (
        await dept.clients.issuer.IssueLicence(
            request, metadata=(("idempotency-key", key),)
        )
    ).licence
    new_name = f"Quxleak Renamed{secrets.token_hex(4)}"
    await dept.clients.issuer.AmendLicence(
        pb.AmendLicenceRequest(identifier=licence.identifier, holder_name=new_name),
        metadata=(("idempotency-key", key + "-amend"),),
    )
    rows = await issuer.pool.fetch(
        "select key, response from idempotent_requests where caller = $1",
        f"dept:{dept.code}",
    )
    assert {r["key"] for r in rows} >= {key, key + "-amend"}
    found = {
        r["key"]: _contains(r["response"], name, number, address, new_name)
        for r in rows
    }
    assert found == {r["key"]: [] for r in rows}


async def test_a_reason_naming_the_holder_is_kept_off_the_licence_topic(dept, issuer):
    """docs/events.md, "Types": "No name, identity number or personal field is ever in
    an event"; docs/architecture.md §4 "Events": "no personal data in clear". The
    issuer itself knows this licence's holder and applies an ID-number rule to a
    refused caller's text (certseal.audit.recordable: a run of 15 digits or more),
    but a reason is copied into ``LicenceEvent.reason`` unchecked. Reproduce:
    SuspendLicence / RevokeLicence with reason ``持证人 <name> (<ID number>) ...`` and
    read the outbox row (what the relay publishes) of the lineage."""
    name, number, _address = _marked()
    licence = (
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, name=name, id_number=number)
        )
    ).licence
    refused = 0
    for call in (
        dept.clients.issuer.SuspendLicence(
            pb.SuspendLicenceRequest(
                identifier=licence.lineage, reason=f"持证人 {name} 身份证 {number} 涉案"
            )
        ),
        dept.clients.issuer.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=licence.lineage,
                reason=f"holder {number} deceased",
                kind=pb.REVOCATION_KIND_REVOKE,
            )
        ),
    ):
        try:
            await call
        except grpc.aio.AioRpcError as exc:  # refusing it is a correct answer too
            assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT
            refused += 1
    events = await issuer.pool.fetch(
        "select value from outbox where key = $1", licence.lineage.encode()
    )
    audits = await issuer.pool.fetch(
        "select details::text as d from audit_log where subject like $1",
        licence.lineage + "%",
    )
    assert len(events) >= 1 and len(audits) >= 1
    leaked = [
        *(f for e in events for f in _contains(e["value"], name, number)),
        *(f for a in audits for f in _contains(a["d"], name, number)),
    ]
    assert leaked == [], f"{refused} refused; found {leaked}"


async def test_a_refused_holder_read_records_no_identity_number(connect, issuer):
    """docs/operations.md, "Caller kinds" (app:<name>): "Every read (also a refused
    one) leaves an audit row naming the app, the licence and the holder as its
    pseudonym (never the identity number)"; "Refusals in the audit log": a refused
    caller's subject "holds no run of 15 digits or more (a resident identity number,
    whole or in part); else -". The no-grant refusal
    (services/issuer/service/reading.py ``_holder_read`` -> ``granted_types(caller,
    action, text.strip()[:200])``) records the raw ``identifier`` before it is parsed.
    Reproduce: as an app with no grant, GetLicence(identifier=<an ID number>,
    holder=<that ID>) and look at audit_log's subject."""
    number = identifiers.random_resident_id()
    app = f"app:wallet-{secrets.token_hex(4)}"
    stranger = connect(app).issuer
    holder = licence_pb2.Holder(id_type="111", id_number=number)
    for call in (
        stranger.GetLicence(pb.GetLicenceRequest(identifier=number, holder=holder)),
        stranger.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=f"身份证{number}", holder=holder)
        ),
    ):
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    rows = await issuer.pool.fetch(
        "select subject, details::text as d from audit_log where actor = $1", app
    )
    assert len(rows) == 2
    assert [r["subject"] for r in rows if number in r["subject"] + r["d"]] == []


def test_an_asked_identifier_is_recorded_only_in_its_shape_and_without_a_number():
    from certseal.identifiers import LICENCE_OID_PREFIX, LicenceId, mint_serial
    from services.issuer.service.reading import asked_licence

    number = identifiers.random_resident_id()
    real = LicenceId("1" * 8 + "MB" + "0" * 11, "91350100M000100Y43", mint_serial(), 1)
    assert asked_licence(f"  {real} ") == str(real)
    assert asked_licence(real.lineage) == real.lineage
    smuggled = LicenceId(real.type_code, real.authority_code, number[:17] + "0", 1)
    for text in (
        number,
        f"身份证{number}",
        str(smuggled),
        smuggled.lineage,
        f"{LICENCE_OID_PREFIX}{number}",
        str(real) + "x",
        str(real)[:-1] + ("A" if str(real)[-1] != "A" else "B"),
    ):
        assert asked_licence(text) == "-", text


async def test_a_reason_naming_the_holder_only_by_name_is_refused_by_field(
    dept, operator, connect, issuer
):
    """The holder's name alone (no number to find) is refused for the issuing
    department, INVALID_ARGUMENT ``reason``, for every change that takes a reason,
    and the amended name too; another department asking the same is refused as a
    stranger first (PERMISSION_DENIED), so the check tells it nothing of the holder."""
    from tests.conftest import make_department

    name, number, _address = _marked()
    licence = (
        await dept.clients.issuer.IssueLicence(
            issue_request(dept, name=name, id_number=number)
        )
    ).licence
    reason = f"持证人 {name.upper()} 已注销"
    issuer_stub = dept.clients.issuer
    for call in (
        issuer_stub.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.lineage, reason=reason)
        ),
        issuer_stub.CancelLicence(
            pb.CancelLicenceRequest(identifier=licence.lineage, reason=reason)
        ),
        issuer_stub.AmendLicence(
            pb.AmendLicenceRequest(identifier=licence.lineage, reason=reason)
        ),
        issuer_stub.AmendLicence(
            pb.AmendLicenceRequest(
                identifier=licence.lineage,
                holder_name="Quxleak Newname",
                reason="更正为 quxleak newname",
            )
        ),
    ):
        err = await rpc_error(call)
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err.details()
        assert dict(err.trailing_metadata())["certseal-error-field"] == "reason"
        assert name not in (err.details() or "")
    other = await make_department(operator, connect)
    err = await rpc_error(
        other.clients.issuer.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=licence.lineage, reason=reason)
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    suspended = await issuer_stub.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=licence.lineage, reason="依法暂停 30 日")
    )
    assert suspended.licence.status == licence_pb2.LICENCE_STATUS_SUSPENDED
    rows = await issuer.pool.fetch(
        "select value from outbox where key = $1", licence.lineage.encode()
    )
    assert [v for r in rows for v in _contains(r["value"], name, number)] == []


async def test_a_row_kept_before_answers_were_sealed_still_answers_its_retry(
    dept, issuer
):
    """Upgrade (migration 0005_idempotent_sealed.sql): a key kept by the previous
    version (plain SHA-256 fingerprint, plain answer, ``sealed`` false) is answered
    from its row byte for byte, and another request under it is ALREADY_EXISTS; a
    key kept now holds neither the fingerprint nor the answer in clear, and is
    answered the same way."""
    import hashlib

    from certseal.idempotency import fingerprint

    method = "/certseal.v1.Issuer/IssueLicence"
    request = issue_request(dept)
    old_answer = pb.IssueLicenceResponse(
        licence=licence_pb2.Licence(identifier="as-kept-before")
    )
    key = f"atk-pii-old-{secrets.token_hex(6)}"
    await issuer.pool.execute(
        """insert into idempotent_requests
               (caller, key, method, fingerprint, response, created_at)
           values ($1, $2, $3, $4, $5, now())""",
        f"dept:{dept.code}",
        key,
        method,
        fingerprint(method, request),
        old_answer.SerializeToString(),
    )
    again = await dept.clients.issuer.IssueLicence(
        request, metadata=(("idempotency-key", key),)
    )
    assert again == old_answer
    err = await rpc_error(
        dept.clients.issuer.IssueLicence(
            issue_request(dept, name="另一人"), metadata=(("idempotency-key", key),)
        )
    )
    assert err.code() is grpc.StatusCode.ALREADY_EXISTS

    new_key = f"atk-pii-new-{secrets.token_hex(6)}"
    first = await dept.clients.issuer.IssueLicence(
        request, metadata=(("idempotency-key", new_key),)
    )
    row = await issuer.pool.fetchrow(
        "select * from idempotent_requests where caller = $1 and key = $2",
        f"dept:{dept.code}",
        new_key,
    )
    assert row["sealed"] is True
    plain = first.SerializeToString()
    assert bytes(row["response"]) != plain and plain[:40] not in bytes(row["response"])
    assert bytes(row["fingerprint"]) != fingerprint(method, request)
    assert hashlib.sha256(plain).digest() != bytes(row["fingerprint"])
    assert (
        await dept.clients.issuer.IssueLicence(
            request, metadata=(("idempotency-key", new_key),)
        )
        == first
    )
