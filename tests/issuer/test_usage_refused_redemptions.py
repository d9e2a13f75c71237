"""Refused redemptions in the holder's usage record (用证记录, docs/holder.md): a
department's redemption of an authorisation made out to it that is refused (another
counter's code, withdrawn, expired, the licence no longer or not yet valid, the licence
changed while the copy was made) is one ``redemption_refused`` entry the holder's app
reads with ListLicenceUsage, written with its audit row in one transaction; an unknown
code or another department's makes none; a department trying again and again adds at
most one per authorisation and reason. Against the real database, with an injected
clock; the upgrade of a database of the previous main in place."""

from __future__ import annotations

import datetime as dt
import secrets

import asyncpg
import pytest

from certseal import identifiers
from certseal.errors import CertsealError, ErrorKind
from certseal.rpc import Caller
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import licence_pb2
from services.issuer import convert
from services.issuer.authorisation import new_code
from services.issuer.domain import Action, Holder
from services.issuer.service.issuance import IssueInput
from services.issuer.service.sealing import LicenceDocument
from services.issuer.usage import (
    REFUSALS,
    UsageEntry,
    UsageKind,
    refusal_words,
    refused_redemption,
)
from tests.conftest import make_department
from tests.issuer.test_trial2b_holder_outputs import ID, _command
from tests.issuer.upgrades import applied_by_an_issuer, previous_main_database

REFUSED = pb.LICENCE_USAGE_KIND_REDEMPTION_REFUSED
US = dt.timedelta(microseconds=1)
NAME = "欧阳建国"
PURPOSE = "开立银行账户"


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def world(issuer, operator, connect):
    """A licence valid for 30 days, valid from the (injected) clock's start or
    ``later`` (tomorrow); its holder's app granted the type; the department
    authorised (``other``) and a third (``stranger``); a service on the clock."""
    dept = await make_department(operator, connect)
    other = await make_department(operator, connect)
    stranger = await make_department(operator, connect)
    app = f"app:wallet-{secrets.token_hex(4)}"
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=app, type_code=dept.type_code)
    )
    clock = FakeClock()
    service = issuer.make_service(clock)
    number = identifiers.random_resident_id()

    async def issue(start: dt.datetime):
        return await service.issue(
            Caller("dept", dept.code),
            IssueInput(
                dept.type_code,
                Holder(NAME, "111", number),
                {"class": "C1", "address": "深圳市福田区"},
                valid_from=start,
                valid_until=start + dt.timedelta(days=30),
            ),
        )

    return {
        "dept": dept,
        "other": other,
        "stranger": stranger,
        "app": Caller.parse(app),
        "holder": ("111", number),
        "clock": clock,
        "service": service,
        "licence": await issue(clock.now),
        "later": await issue(clock.now + dt.timedelta(days=1)),
        "stub": connect(app).issuer,
    }


async def authorise(w, *, counter: str = "", licence=None):
    licence = licence or w["licence"]
    auth, code, _ = await w["service"].holder.authorise(
        w["app"],
        licence.identifier,
        holder=w["holder"],
        department_code=w["other"].code,
        counter=counter,
        purpose=PURPOSE,
        fields=["class"],
        expires_at=w["clock"].now + dt.timedelta(days=7),
    )
    return auth, code


async def redeem(w, code: str, *, clerk: str = "", as_dept=None) -> CertsealError:
    """The refusal of ``code`` redeemed by ``as_dept`` (the authorised department)."""
    caller = Caller("dept", (as_dept or w["other"]).code)
    with pytest.raises(CertsealError) as err:
        await w["service"].holder.redeem(caller, code, counter=clerk)
    return err.value


async def listed(w, licence=None) -> list[pb.LicenceUsage]:
    """The licence's refused redemptions as the holder's app reads them."""
    reply = await w["stub"].ListLicenceUsage(
        pb.ListLicenceUsageRequest(
            identifier=(licence or w["licence"]).identifier,
            holder=licence_pb2.Holder(id_type="111", id_number=w["holder"][1]),
            kinds=[REFUSED],
        )
    )
    return list(reply.uses)


async def stored(issuer, licence) -> list[asyncpg.Record]:
    """The lineage's refused-redemption rows (read from the database: no view)."""
    return await issuer.pool.fetch(
        """select * from licence_usage where lineage = $1
             and kind = 'redemption_refused' order by occurred_at, entry_id""",
        licence.lineage,
    )


async def denied(issuer, subject: str) -> list[asyncpg.Record]:
    return await issuer.pool.fetch(
        """select details from audit_log where action = 'authorisation.redeem'
             and outcome = 'denied' and subject = $1 order by id""",
        subject,
    )


def a_copy() -> LicenceDocument:
    return LicenceDocument(b"%PDF-1.7 not sealed", "seal-test", "0" * 64)


# -- each refusal: one entry, in the holder's words ------------------------------------


async def other_counter(w):
    auth, code = await authorise(w, counter="clerk-a")
    return auth, code, "clerk-b", w["licence"], ErrorKind.PERMISSION_DENIED


async def withdrawn(w):
    auth, code = await authorise(w)
    await w["service"].holder.revoke(
        w["app"], auth.authorisation_id, holder=w["holder"], reason=""
    )
    return auth, code, "clerk-a", w["licence"], ErrorKind.FAILED_PRECONDITION


async def expired(w):
    auth, code = await authorise(w)
    w["clock"].now = auth.expires_at
    return auth, code, "", w["licence"], ErrorKind.FAILED_PRECONDITION


async def licence_no_longer_valid(w):
    auth, code = await authorise(w)
    await w["service"].change_status(
        Caller("dept", w["dept"].code), w["licence"].identifier, Action.REVOKE, "伪造"
    )
    return auth, code, "", w["licence"], ErrorKind.FAILED_PRECONDITION


async def licence_not_yet_valid(w):
    later, clock = w["later"], w["clock"]
    clock.now = later.valid_from  # authorised once valid, redeemed before
    auth, code = await authorise(w, licence=later)
    clock.now = later.valid_from - US
    return auth, code, "", later, ErrorKind.FAILED_PRECONDITION


async def withdrawn_while_the_copy_was_made(w):
    auth, code = await authorise(w)

    async def meanwhile(*args, **kwargs):
        await w["service"].holder.revoke(
            w["app"], auth.authorisation_id, holder=w["holder"], reason=""
        )
        return a_copy()

    w["service"].holder._files.annotated_copy = meanwhile
    return auth, code, "clerk-a", w["licence"], ErrorKind.FAILED_PRECONDITION


async def licence_changed(w):
    auth, code = await authorise(w)

    async def meanwhile(*args, **kwargs):
        await w["service"].new_version(
            Caller("dept", w["dept"].code), w["licence"].lineage, Action.RENEW
        )
        return a_copy()

    w["service"].holder._files.annotated_copy = meanwhile
    return auth, code, "", w["licence"], ErrorKind.ABORTED


CASES = {
    other_counter: "OTHER_COUNTER",
    withdrawn: "WITHDRAWN",
    expired: "EXPIRED",
    licence_no_longer_valid: "LICENCE_NO_LONGER_VALID",
    licence_not_yet_valid: "LICENCE_NOT_YET_VALID",
    withdrawn_while_the_copy_was_made: "WITHDRAWN",
    licence_changed: "LICENCE_CHANGED",
}


@pytest.mark.parametrize("case", list(CASES), ids=lambda c: c.__name__)
async def test_each_refused_redemption_is_one_entry_the_holder_reads(
    world, issuer, case
):
    w = world
    auth, code, clerk, licence, kind = await case(w)
    err = await redeem(w, code, clerk=clerk)
    assert err.kind is kind, err
    assert err.field == "code"
    (use,) = await listed(w, licence)
    verdict = CASES[case]
    assert use.kind == REFUSED and use.verdict == verdict
    assert use.department_code == w["other"].code
    assert use.department_name == f"测试部门 {w['other'].code[-4:]}"
    assert use.counter == use.actor == f"dept:{w['other'].code}"
    assert use.clerk == clerk
    assert use.purpose == PURPOSE and use.reference == auth.authorisation_id
    current = await issuer.store.current_identifier(licence.lineage)
    assert use.identifier == current  # the version it would have used
    # dated when refused, never before the authorisation it refuses (licence not yet
    # valid: the test's clock goes back to before the licence's start)
    assert use.occurred_at.ToDatetime(tzinfo=dt.UTC) == max(
        w["clock"].now, auth.created_at
    )
    # in the holder's words, as the app or the CLI says them
    why = next(k for k, (v, _, _) in REFUSALS.items() if v == verdict)
    assert refusal_words(verdict) == REFUSALS[why][2]
    # no personal data, no field value
    for secret in (NAME, w["holder"][1], "深圳市福田区"):
        assert secret not in str(use)
    # its audit row says the same why
    audited = await denied(issuer, auth.authorisation_id)
    assert [r["details"]["why"] for r in audited] == [why]
    assert audited[0]["details"].get("clerk", "") == clerk


async def test_unknown_codes_and_other_departments_codes_make_no_entry(world, issuer):
    """NOT_FOUND identifies nobody's authorisation: audited, and nothing in any
    holder's record (a stranger learns nothing, and cannot write to it)."""
    w = world
    auth, code = await authorise(w)
    err = await redeem(w, code, as_dept=w["stranger"])
    assert err.kind is ErrorKind.NOT_FOUND
    err = await redeem(w, new_code())
    assert err.kind is ErrorKind.NOT_FOUND
    # withdrawn: another department still learns nothing, nor writes an entry
    await w["service"].holder.revoke(
        w["app"], auth.authorisation_id, holder=w["holder"], reason=""
    )
    err = await redeem(w, code, as_dept=w["stranger"])
    assert err.kind is ErrorKind.NOT_FOUND
    assert await stored(issuer, w["licence"]) == []
    assert await listed(w) == []
    audited = await denied(issuer, auth.authorisation_id)
    assert [r["details"]["why"] for r in audited] == ["not_found", "not_found"]


async def test_a_department_hammering_a_withdrawn_code_adds_one_entry_per_reason(
    world, issuer
):
    """Every attempt is audited; the record has one entry per authorisation and
    reason, whichever clerk tried and however long after (atk41h: one an hour was
    kept, thousands over the record's retention); another reason is an entry of its
    own, once."""
    w = world
    auth, code = await authorise(w, counter="clerk-a")
    await w["service"].holder.revoke(
        w["app"], auth.authorisation_id, holder=w["holder"], reason=""
    )
    start = w["clock"].now
    for n in range(6):
        w["clock"].now = start + n * dt.timedelta(minutes=1)
        await redeem(w, code, clerk="clerk-a")
    await redeem(w, code, clerk="clerk-x")  # another counter's: its own reason
    await redeem(w, code, clerk="clerk-y")
    once = [("WITHDRAWN", "clerk-a"), ("OTHER_COUNTER", "clerk-x")]
    rows = await stored(issuer, w["licence"])
    assert [(r["verdict"], r["clerk"]) for r in rows] == once
    # an hour, a day, a hundred days on: the same reasons, nothing more
    for later in (dt.timedelta(hours=1, microseconds=1), dt.timedelta(days=1)):
        w["clock"].now = start + later
        await redeem(w, code, clerk="clerk-a")
        await redeem(w, code, clerk="clerk-b")
    w["clock"].now = start + dt.timedelta(days=100)
    for _ in range(24):  # one a (simulated) hour
        w["clock"].now += dt.timedelta(hours=1)
        await redeem(w, code, clerk="clerk-a")
    rows = await stored(issuer, w["licence"])
    assert [(r["verdict"], r["clerk"]) for r in rows] == once
    assert len(await denied(issuer, auth.authorisation_id)) == 8 + 4 + 24
    assert len(await listed(w)) == 2


async def test_an_authorisation_has_at_most_one_entry_per_reason(world, issuer):
    """Another input of the same kind: an expired authorisation tried for days, by
    the department with no counter named, then at a counter: one EXPIRED entry, one
    per reason; a second authorisation of the same licence has entries of its own."""
    w = world
    auth, code = await authorise(w)
    other, other_code = await authorise(w)
    w["clock"].now = auth.expires_at
    for day in range(5):
        w["clock"].now = auth.expires_at + dt.timedelta(days=day)
        await redeem(w, code)
        await redeem(w, code, clerk="clerk-a")
    await redeem(w, other_code)
    rows = await stored(issuer, w["licence"])
    assert [(r["verdict"], r["reference"]) for r in rows] == [
        ("EXPIRED", auth.authorisation_id),
        ("EXPIRED", other.authorisation_id),
    ]
    assert len(await denied(issuer, auth.authorisation_id)) == 10


async def test_the_entry_and_its_audit_row_are_one_transaction(
    world, issuer, monkeypatch
):
    """A refusal whose audit row cannot be written leaves no entry either (the entry
    is written first, in the same transaction); once it can, both are there."""
    from services.issuer.storage import authorisations

    w = world
    auth, code = await authorise(w)
    w["clock"].now = auth.expires_at

    async def broken(conn, entries):
        raise RuntimeError("the audit log is full")

    monkeypatch.setattr(authorisations, "write_audit", broken)
    with pytest.raises(RuntimeError, match="the audit log is full"):
        await w["service"].holder.redeem(
            Caller("dept", w["other"].code), code, counter=""
        )
    assert await stored(issuer, w["licence"]) == []
    assert await denied(issuer, auth.authorisation_id) == []
    monkeypatch.undo()
    await redeem(w, code)
    assert len(await stored(issuer, w["licence"])) == 1
    assert len(await denied(issuer, auth.authorisation_id)) == 1


async def test_list_licence_usage_returns_the_kind_with_or_without_a_filter(world):
    w = world
    _, code = await authorise(w, counter="clerk-a")
    await redeem(w, code, clerk="clerk-b")
    reply = await w["stub"].ListLicenceUsage(
        pb.ListLicenceUsageRequest(
            identifier=w["licence"].identifier,
            holder=licence_pb2.Holder(id_type="111", id_number=w["holder"][1]),
        )
    )
    kinds = [u.kind for u in reply.uses]
    assert REFUSED in kinds and pb.LICENCE_USAGE_KIND_AUTHORISED in kinds
    assert convert.usage_kinds([REFUSED]) == [UsageKind.REDEMPTION_REFUSED]


# -- the wire and the holder's command ------------------------------------------------


def test_the_kind_is_appended_and_an_older_client_reads_it_as_a_number():
    """The new value comes after every earlier one (their numbers unchanged), and a
    client whose enum does not know a value (proto3 enums are open) parses the entry
    with the number and every other field intact."""
    assert REFUSED == 7 and pb.LICENCE_USAGE_KIND_VIEWED == 6
    newer = pb.LicenceUsage(kind=99, verdict="WHATEVER", reference="au-1")  # type: ignore[arg-type]
    read = pb.LicenceUsage.FromString(newer.SerializeToString())
    assert read.kind == 99 and read.verdict == "WHATEVER" and read.reference == "au-1"


def _usage_reply(*uses: pb.LicenceUsage) -> pb.ListLicenceUsageResponse:
    for use in uses:
        use.occurred_at.FromDatetime(dt.datetime(2026, 12, 5, 8, 30, tzinfo=dt.UTC))
    return pb.ListLicenceUsageResponse(uses=uses)


def test_the_holders_command_says_why_in_words(monkeypatch, capsys):
    reply = _usage_reply(
        pb.LicenceUsage(
            kind=REFUSED,
            department_code="91350200M00020000L",
            department_name="厦门市公安局",
            counter="dept:91350200M00020000L",
            clerk="clerk-b",
            purpose=PURPOSE,
            verdict="WITHDRAWN",
            reference="au-00000000000000aa",
        ),
        pb.LicenceUsage(
            kind=REFUSED, department_name="厦门市公安局", verdict="EXPIRED"
        ),
    )
    code, out = _command(monkeypatch, capsys, ["usage", ID], reply)
    assert code == 0
    first, second = out.splitlines()[:2]
    assert first.split("  ")[1].rstrip() == "redemption refused"
    assert "厦门市公安局  the authorisation had been withdrawn; clerk clerk-b" in first
    assert first.endswith(f"for {PURPOSE} au-00000000000000aa")
    assert second.endswith("厦门市公安局  the authorisation had expired;")
    assert "WITHDRAWN" not in out and "redemption_refused" not in out


def test_the_holders_command_shows_a_kind_newer_than_itself(monkeypatch, capsys):
    reply = _usage_reply(pb.LicenceUsage(kind=99, actor="app:x"))  # type: ignore[arg-type]
    code, out = _command(monkeypatch, capsys, ["usage", ID], reply)
    assert code == 0 and "kind 99" in out.splitlines()[0]


def test_only_a_refusal_of_the_departments_own_authorisation_is_an_entry():
    at = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    kw = {
        "entry_id": "refused:1",
        "lineage": "L",
        "identifier": "L.1",
        "at": at,
        "authorisation_id": "au-00000000000000aa",
        "department_code": "D",
        "purpose": PURPOSE,
        "counter": "dept:D",
        "clerk": "clerk\x00a",  # no printable text: left out
    }
    entry = refused_redemption(**kw, why="expired")
    assert isinstance(entry, UsageEntry)
    assert (entry.kind, entry.verdict, entry.clerk) == (
        UsageKind.REDEMPTION_REFUSED,
        "EXPIRED",
        "",
    )
    with pytest.raises(ValueError):
        refused_redemption(**kw, why="not_found")
    assert refusal_words("WITHDRAWN", chinese=True) == "授权已撤回"
    assert refusal_words("SOMETHING_NEWER") == "SOMETHING_NEWER"


# -- the upgrade in place ------------------------------------------------------------------


async def test_the_usage_record_of_the_previous_main_takes_refusals_after_the_upgrade(
    config, tmp_path
):
    """A database made by the previous main (issuer migrations up to 0009) keeps its
    entries; after an issuer's start it stores refused redemptions, and still refuses
    a kind nobody knows."""
    cfg, pool = await previous_main_database(config, tmp_path, last=9)
    insert = (
        "insert into licence_usage (entry_id, lineage, identifier, kind, occurred_at,"
        " verdict, recorded_at) values ($1, 'L', 'L.1', $2, now(), $3, now())"
    )
    try:
        await pool.execute(insert, "old/1", "verified", "VALID")
        await pool.execute(insert, "old/2", "redeemed", "")
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(insert, "new/0", "redemption_refused", "EXPIRED")
        applied = await applied_by_an_issuer(cfg, pool, "issuer")
        assert {
            "0010_refused_redemptions.sql",
            "0011_refused_redemptions_validated.sql",
        } <= applied
        await pool.execute(insert, "new/1", "redemption_refused", "EXPIRED")
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(insert, "new/2", "bogus", "")
        kinds = await pool.fetch("select entry_id, kind from licence_usage order by 1")
        assert [tuple(r) for r in kinds] == [
            ("new/1", "redemption_refused"),
            ("old/1", "verified"),
            ("old/2", "redeemed"),
        ]
        assert await pool.fetchval(
            "select convalidated from pg_constraint"
            " where conname = 'licence_usage_kind_check'"
        )
    finally:
        await pool.close()
