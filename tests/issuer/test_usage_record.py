"""The usage record (用证记录) on the real stack: the issuer's consumer of the usage
topic, authorisations written with their events (and those a previous version left in
the outbox), ListLicenceUsage for the holder's own app only, holder-bound reads as
entries of kind viewed, redelivery, retention with an injected clock, and the upgrade
in place (issue 16)."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid

import asyncpg
import grpc
import pytest

from certseal.events import LICENCE_EVENTS, LICENCE_USAGE, OutboxRecord, cloudevent
from certseal.rpc import Caller
from certseal.storage.outbox import write_outbox
from certseal.timestamps import ts, utcnow
from certseal.v1 import events_pb2, licence_pb2
from certseal.v1 import issuer_pb2 as pb
from services.issuer.app import IssuerApp
from services.issuer.service.reading import masked_number
from services.issuer.service.usage import VIEW_WINDOW
from services.issuer.usage import UsageEntry, UsageKind
from services.issuer.usage_consumer import UsageConsumer
from tests.issuer.test_holder_apps import (
    absent_identifier,
    fresh_app,
    make_world,
    rpc_error,
)
from tests.issuer.upgrades import applied_by_an_issuer, previous_main_database

VERIFIED = pb.LICENCE_USAGE_KIND_VERIFIED
VIEWED = pb.LICENCE_USAGE_KIND_VIEWED


@pytest.fixture
async def world(operator, connect):
    """Holders A and B, an app granted the first type (test_holder_apps)."""
    return await make_world(operator, connect)


@pytest.fixture
async def producer(stack):
    made = stack.config.kafka.settings("usage-record-tests").producer()
    await made.start()
    yield made
    await made.stop()


def used_event(*uses: events_pb2.LicenceUse, **fields) -> events_pb2.LicenceUsedEvent:
    """A ``licence.used`` record as a verifier writes it (one use: singular fields)."""
    event = events_pb2.LicenceUsedEvent(
        event_id=str(uuid.uuid4()),
        type="licence.used",
        counter=fields.pop("counter", "dept:11440300MA5F00000X"),
        purpose=fields.pop("purpose", "窗口办事"),
        verifier_group=fields.pop("group", "g1"),
        occurred_at=ts(fields.pop("at", utcnow())),
        **fields,
    )
    if len(uses) == 1:
        (use,) = uses
        event.lineage, event.identifier = use.lineage, use.identifier
        event.verdict, event.code_kind = use.verdict, use.code_kind
        event.nonce_hash = use.nonce_hash
    else:
        event.uses.extend(uses)
    return event


def use_of(licence, verdict: str = "VALID") -> events_pb2.LicenceUse:
    return events_pb2.LicenceUse(
        lineage=licence.lineage,
        identifier=licence.identifier,
        verdict=verdict,
        code_kind="licence",
    )


async def usage(w, licence=None, holder=None, **kw) -> list[pb.LicenceUsage]:
    reply = await w["stub"].ListLicenceUsage(
        pb.ListLicenceUsageRequest(
            identifier=(licence or w["mine"]).identifier,
            holder=holder or w["a"],
            **kw,
        )
    )
    return list(reply.uses)


async def until(issuer, w, predicate, licence=None, holder=None, within=10.0):
    """The record once ``predicate(uses)`` holds, awaiting the consumer's commits."""
    async with asyncio.timeout(within):
        while True:
            committed = issuer.usage_consumer.next_commit()
            uses = await usage(w, licence, holder)
            if predicate(uses):
                return uses
            await committed.wait()


def of_kind(uses, kind) -> list[pb.LicenceUsage]:
    return [u for u in uses if u.kind == kind]


async def test_verifications_from_the_topic_show_in_order_with_who_and_why(
    issuer, world, producer
):
    w = world
    first = used_event(use_of(w["mine"]), group="ga", purpose="办理入学")
    second = used_event(
        use_of(w["mine"], "REVOKED"),
        group="gb",
        purpose="办理落户",
        clerk="clerk-7",
        via="service:console",
    )
    for event in (first, second):
        await producer.send_and_wait(
            LICENCE_USAGE, event.SerializeToString(), key=w["mine"].lineage.encode()
        )
    uses = await until(issuer, w, lambda u: len(of_kind(u, VERIFIED)) == 2)
    a, b = of_kind(uses, VERIFIED)
    assert (a.verifier_group, a.purpose, a.verdict) == ("ga", "办理入学", "VALID")
    assert (b.verifier_group, b.purpose, b.verdict, b.clerk) == (
        "gb",
        "办理落户",
        "REVOKED",
        "clerk-7",
    )
    assert a.counter == "dept:11440300MA5F00000X"
    assert a.department_code == "11440300MA5F00000X"
    assert a.identifier == w["mine"].identifier
    assert a.entry_id == f"{first.event_id}/1"
    assert (a.occurred_at.ToDatetime(), a.entry_id) <= (
        b.occurred_at.ToDatetime(),
        b.entry_id,
    )


async def test_a_redelivered_event_is_one_entry(issuer, world, producer):
    w = world
    event = used_event(use_of(w["mine"]), purpose="重复投递")
    for _ in range(3):
        await producer.send_and_wait(
            LICENCE_USAGE, event.SerializeToString(), key=w["mine"].lineage.encode()
        )
    marker = used_event(use_of(w["mine"]), purpose="之后")  # arrives after all three
    await producer.send_and_wait(
        LICENCE_USAGE, marker.SerializeToString(), key=w["mine"].lineage.encode()
    )
    uses = await until(
        issuer, w, lambda u: any(x.purpose == "之后" for x in of_kind(u, VERIFIED))
    )
    assert [x.purpose for x in of_kind(uses, VERIFIED)] == ["重复投递", "之后"]
    count = await issuer.pool.fetchval(
        "select count(*) from licence_usage where entry_id = $1", f"{event.event_id}/1"
    )
    assert count == 1


async def test_a_batch_record_gives_each_holder_only_their_own_use(
    issuer, world, producer
):
    w = world
    batch = used_event(use_of(w["theirs"]), use_of(w["mine"]), purpose="批量核验")
    await producer.send_and_wait(
        LICENCE_USAGE, batch.SerializeToString(), key=w["theirs"].lineage.encode()
    )
    mine = await until(issuer, w, lambda u: bool(of_kind(u, VERIFIED)))
    assert [(u.identifier, u.entry_id) for u in of_kind(mine, VERIFIED)] == [
        (w["mine"].identifier, f"{batch.event_id}/2")
    ]
    theirs = await usage(w, w["theirs"], w["b"])
    assert [u.identifier for u in of_kind(theirs, VERIFIED)] == [w["theirs"].identifier]


def authorisation_record(w, kind: str, **change) -> OutboxRecord:
    """A ``licence.authorised`` or ``licence.authorisation_revoked`` event of the
    holder's licence as the issuer writes it to its outbox; with no ``change``, as
    versions before ``AuthorisationChange`` wrote it."""
    event = events_pb2.LicenceEvent(
        event_id=str(uuid.uuid4()),
        type=kind,
        lineage=w["mine"].lineage,
        identifier=w["mine"].identifier,
        actor_department=w["dept"].code,
        reason="办理公积金",
        occurred_at=ts(utcnow()),
    )
    if change:
        event.actor_department = w["app"]
        event.authorisation.CopyFrom(events_pb2.AuthorisationChange(**change))
    return cloudevent(
        topic=LICENCE_EVENTS,
        key=w["mine"].lineage,
        message=event,
        event_id=event.event_id,
        event_type=kind,
        source=w["dept"].code,
        time=utcnow(),
    )


async def test_authorisation_events_a_previous_version_left_in_the_outbox_are_entries(
    issuer, world, producer
):
    """A previous version wrote an authorisation's event and no entry, for its
    consumer to read from the licence topic; this one reads the outbox instead (at
    each start of its consumer and with each prune), once per event id. The licence
    topic itself is no longer read: the same event there adds nothing."""
    w = world
    authorised = authorisation_record(
        w,
        "licence.authorised",
        authorisation_id=f"au-{secrets.token_hex(4)}",
        department_code=w["dept"].code,
        purpose="办理公积金",
        fields=["class"],
    )
    withdrawn = authorisation_record(w, "licence.authorisation_revoked")
    async with issuer.store.pool.acquire() as conn, conn.transaction():
        await write_outbox(conn, [authorised, withdrawn])
    for record in (authorised, withdrawn):  # as the previous version's relay did
        await producer.send_and_wait(
            LICENCE_EVENTS,
            record.value,
            key=record.key,
            headers=[(k, v.encode()) for k, v in record.headers.items()],
        )
    assert of_kind(await usage(w), pb.LICENCE_USAGE_KIND_AUTHORISED) == []

    assert await issuer.service.usage.backfill() == 2
    assert await issuer.service.usage.backfill() == 0  # each event once
    uses = await usage(w)
    made = of_kind(uses, pb.LICENCE_USAGE_KIND_AUTHORISED)
    assert [
        (u.entry_id, u.department_code, u.purpose, u.reference, u.actor) for u in made
    ] == [
        (
            authorised.headers["ce_id"],
            w["dept"].code,
            "办理公积金",
            events_pb2.LicenceEvent.FromString(
                authorised.value
            ).authorisation.authorisation_id,
            w["app"],
        )
    ]
    assert made[0].department_name  # named from the directory
    revoked = of_kind(uses, pb.LICENCE_USAGE_KIND_AUTHORISATION_REVOKED)
    assert [(u.department_code, u.purpose) for u in revoked] == [
        (w["dept"].code, "办理公积金")
    ]


async def test_the_consumer_reads_the_usage_topic_alone(issuer, stack):
    """Authorisations are written with their events: the issuer no longer reads its
    own licence topic back (docs/architecture.md §2d)."""
    subscribed: list[set[str]] = []
    made = asyncio.Event()
    settings = stack.config.kafka.settings("usage-record-tests")

    class Spy:
        def consumer(self, *topics, **kw):
            subscribed.append(set(topics))
            made.set()
            return settings.consumer(*topics, **kw)

    consumer = UsageConsumer(
        kafka=Spy(),  # type: ignore[arg-type]
        usage=issuer.service.usage,
        group_id=f"usage-alone-{secrets.token_hex(4)}",
    )
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(made.wait(), 10)
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
    assert subscribed == [{LICENCE_USAGE}]


async def test_another_holders_app_or_holder_gets_not_found(world, connect, operator):
    w = world
    # the app naming another holder, a licence of another holder, an absent one, a
    # licence of a type it is not granted: all the same NOT_FOUND
    cases = [
        (w["mine"].identifier, w["b"]),
        (w["theirs"].identifier, w["a"]),
        (absent_identifier(w["mine"].identifier), w["a"]),
        (w["ungranted"].identifier, w["a"]),
    ]
    for identifier, holder in cases:
        err = await rpc_error(
            w["stub"].ListLicenceUsage(
                pb.ListLicenceUsageRequest(identifier=identifier, holder=holder)
            )
        )
        assert err.code() is grpc.StatusCode.NOT_FOUND, identifier
    # another holder app, granted the same type, naming holder A: it may read A's
    # licence, but a third app without any grant is refused outright
    other = f"app:other-{secrets.token_hex(3)}"
    stranger = connect(other).issuer
    err = await rpc_error(
        stranger.ListLicenceUsage(
            pb.ListLicenceUsageRequest(identifier=w["mine"].identifier, holder=w["a"])
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    # the issuing department itself does not read the holder's record
    err = await rpc_error(
        w["dept"].clients.issuer.ListLicenceUsage(
            pb.ListLicenceUsageRequest(identifier=w["mine"].identifier, holder=w["a"])
        )
    )
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(
        w["stub"].ListLicenceUsage(
            pb.ListLicenceUsageRequest(identifier=w["mine"].identifier)
        )
    )
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_holder_bound_reads_not_found_matrix_and_views(world, issuer):
    """Every holder-app read names the holder; another's, absent or ungranted licence
    is NOT_FOUND with the same message; each successful read is a viewed entry."""
    w = world
    stub = w["stub"]
    reads = {
        "licence.get": lambda i, h: stub.GetLicence(
            pb.GetLicenceRequest(identifier=i, holder=h)
        ),
        "licence.code": lambda i, h: stub.GetLicenceCode(
            pb.GetLicenceCodeRequest(identifier=i, holder=h)
        ),
        "licence.present": lambda i, h: stub.CreatePresentationCode(
            pb.CreatePresentationCodeRequest(identifier=i, holder=h)
        ),
        "licence.usage": lambda i, h: stub.ListLicenceUsage(
            pb.ListLicenceUsageRequest(identifier=i, holder=h)
        ),
    }
    absent = absent_identifier(w["theirs"].identifier)
    for action, read in reads.items():
        messages = set()
        for identifier, holder in (
            (w["theirs"].identifier, w["a"]),
            (absent, w["a"]),
            (w["ungranted"].identifier, w["a"]),
            (w["mine"].identifier, w["b"]),
        ):
            err = await rpc_error(read(identifier, holder))
            assert err.code() is grpc.StatusCode.NOT_FOUND, (action, identifier)
            messages.add(  # but what was asked (the number masked, audit42)
                err.details()
                .replace(identifier, "<id>")
                .replace(masked_number(holder.id_number), "<holder>")
            )
        assert len(messages) == 1, (action, messages)
        err = await rpc_error(
            read(w["mine"].identifier, licence_pb2.Holder())  # no holder named
        )
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, action
        await read(w["mine"].identifier, w["a"])
    await stub.ListLicences(pb.ListLicencesRequest(holder=w["a"]))
    views = of_kind(await usage(w), VIEWED)
    assert [v.action for v in views] == [
        "licence.get",
        "licence.code",
        "licence.present",
        "licence.usage",
        "licence.list",
        "licence.usage",
    ]
    assert {v.actor for v in views} == {w["app"]}
    # the refused reads left no entry in holder B's record: only B's own listing
    theirs = of_kind(await usage(w, w["theirs"], w["b"]), VIEWED)
    assert [v.action for v in theirs] == ["licence.usage"]


async def test_the_record_holds_nothing_the_holder_did_not_have(
    issuer, world, producer
):
    w = world
    event = used_event(use_of(w["mine"]), purpose="核验")
    await producer.send_and_wait(
        LICENCE_USAGE, event.SerializeToString(), key=w["mine"].lineage.encode()
    )
    uses = await until(issuer, w, lambda u: bool(of_kind(u, VERIFIED)))
    text = "".join(str(u) for u in uses)
    for secret in (
        "李小明",
        "王大力",
        "深圳市福田区",
        w["a"].id_number,
        w["b"].id_number,
    ):
        assert secret not in text
    assert w["theirs"].identifier not in text
    row_text = str(
        await issuer.pool.fetch(
            "select * from licence_usage where lineage = $1", w["mine"].lineage
        )
    )
    for secret in ("李小明", "深圳市福田区", w["a"].id_number):
        assert secret not in row_text


async def test_pages_are_oldest_first_and_a_forged_token_is_refused(issuer, world):
    w = world
    base = utcnow() - dt.timedelta(hours=1)
    entries = [
        UsageEntry(
            entry_id=f"test:{uuid.uuid4()}",
            lineage=w["mine"].lineage,
            identifier=w["mine"].identifier,
            kind=UsageKind.VERIFIED,
            occurred_at=base + dt.timedelta(seconds=n),
            purpose=f"p{n}",
        )
        for n in (3, 1, 2)
    ]
    assert await issuer.service.usage.record(entries) == 3
    assert await issuer.service.usage.record(entries) == 0  # each once
    seen, token = [], ""
    while True:
        reply = await w["stub"].ListLicenceUsage(
            pb.ListLicenceUsageRequest(
                identifier=w["mine"].lineage,
                holder=w["a"],
                page_size=1,
                page_token=token,
            )
        )
        seen.extend(u.purpose for u in reply.uses if u.kind == VERIFIED)
        token = reply.next_page_token
        if not token:
            break
    assert seen == ["p1", "p2", "p3"]
    newest, token = [], ""
    while True:
        reply = await w["stub"].ListLicenceUsage(
            pb.ListLicenceUsageRequest(
                identifier=w["mine"].lineage,
                holder=w["a"],
                page_size=2,
                page_token=token,
                newest_first=True,
            )
        )
        newest.extend(u.purpose for u in reply.uses if u.kind == VERIFIED)
        token = reply.next_page_token
        if not token:
            break
    assert newest == ["p3", "p2", "p1"]
    only = await w["stub"].ListLicenceUsage(
        pb.ListLicenceUsageRequest(
            identifier=w["mine"].identifier, holder=w["a"], kinds=[VERIFIED]
        )
    )
    assert [u.purpose for u in only.uses] == ["p1", "p2", "p3"]
    views = await w["stub"].ListLicenceUsage(
        pb.ListLicenceUsageRequest(
            identifier=w["mine"].identifier, holder=w["a"], kinds=[VIEWED]
        )
    )
    assert views.uses and {u.kind for u in views.uses} == {VIEWED}
    for bad in ([0], [99]):
        err = await rpc_error(
            w["stub"].ListLicenceUsage(
                pb.ListLicenceUsageRequest(
                    identifier=w["mine"].identifier, holder=w["a"], kinds=bad
                )
            )
        )
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "kinds" in str(err.trailing_metadata())
    for bad in ("zz", b"2024|x".hex(), b"not a key".hex()):
        err = await rpc_error(
            w["stub"].ListLicenceUsage(
                pb.ListLicenceUsageRequest(
                    identifier=w["mine"].identifier, holder=w["a"], page_token=bad
                )
            )
        )
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in str(err.trailing_metadata())


async def test_a_later_page_is_a_view_once_the_last_one_is_ten_minutes_old(
    issuer, world, operator
):
    """A page read with a token records a view unless this app has a listing's view
    of the lineage within VIEW_WINDOW (the service's injected clock): a token is a
    page key any app can make, so none reads the record unseen for longer."""
    w = world
    start = utcnow()
    now = [start]
    service = issuer.make_service(lambda: now[0])
    app = Caller.parse(w["app"])
    holder = (w["a"].id_type, w["a"].id_number)
    token = f"{0:020d}|0".encode().hex()  # a key before every entry

    async def read(page_token: str) -> None:
        await service.usage.list(
            app, w["mine"].identifier, holder=holder, page_size=0, page_token=page_token
        )

    async def views() -> list[dt.datetime]:
        rows = await issuer.pool.fetch(
            """select occurred_at from licence_usage
                where lineage = $1 and kind = 'viewed' and action = 'licence.usage'
                order by occurred_at""",
            w["mine"].lineage,
        )
        return [r["occurred_at"] for r in rows]

    await read("")  # a first page: always a view
    assert len(await views()) == 1
    now[0] = start + VIEW_WINDOW - dt.timedelta(seconds=1)
    await read(token)  # covered by the first page's view
    assert len(await views()) == 1
    now[0] = start + VIEW_WINDOW + dt.timedelta(seconds=1)
    await read(token)  # the last view is older than the window: a new one
    assert await views() == [start, now[0]]
    await read(token)  # and it covers the next page
    assert len(await views()) == 2
    # another app's view covers nobody else's read
    other = fresh_app()
    await operator.admin.GrantHolderApp(
        pb.GrantHolderAppRequest(app=other, type_code=w["dept"].type_code)
    )
    await service.usage.list(
        Caller.parse(other),
        w["mine"].identifier,
        holder=holder,
        page_size=0,
        page_token=token,
    )
    assert len(await views()) == 3


async def test_entries_of_lineages_the_issuer_does_not_hold_are_not_kept(issuer):
    entry = UsageEntry(
        entry_id=f"test:{uuid.uuid4()}",
        lineage="1.2.156.3005.2.NOSUCHTYPE00000000000.NOSUCH.X",
        identifier="x",
        kind=UsageKind.VERIFIED,
        occurred_at=utcnow(),
    )
    assert await issuer.service.usage.record([entry]) == 0


async def test_retention_prunes_with_an_injected_clock(issuer, world):
    w = world
    now = utcnow()
    days = issuer.service.usage.retention_days

    def entry(age: dt.timedelta, name: str) -> UsageEntry:
        return UsageEntry(
            entry_id=f"test:{name}:{uuid.uuid4()}",
            lineage=w["mine"].lineage,
            identifier=w["mine"].identifier,
            kind=UsageKind.VERIFIED,
            occurred_at=now - age,
            purpose=name,
        )

    # ten days later the cutoff is now - (days - 10): older entries go, one exactly
    # at the cutoff stays
    keep = entry(dt.timedelta(days=days - 11), "kept")
    edge = entry(dt.timedelta(days=days - 10), "edge")
    gone = entry(dt.timedelta(days=days - 9), "gone")
    assert await issuer.service.usage.record([keep, edge, gone]) == 3
    # an entry from the topic already past retention is not stored (again)
    stale = entry(dt.timedelta(days=days, seconds=1), "stale")
    assert await issuer.service.usage.record([stale]) == 0
    later = issuer.make_service(lambda: now + dt.timedelta(days=10))
    assert later.usage.retention_days == days
    assert await later.usage.prune() >= 1
    left = {
        r["purpose"]
        for r in await issuer.pool.fetch(
            "select purpose from licence_usage where entry_id = any($1::text[])",
            [e.entry_id for e in (keep, edge, gone)],
        )
    }
    assert left == {"kept", "edge"}


async def test_the_usage_record_comes_with_an_in_place_upgrade(config, tmp_path):
    """A database made by the previous main (issuer migrations up to 0005) upgrades in
    place: its licences stay and the record starts empty."""
    cfg, pool = await previous_main_database(config, tmp_path, last=5)
    try:
        assert await pool.fetchval("select to_regclass('licence_usage')") is None
        await pool.execute(
            "insert into lineages values ('1.2.156.3005.2.X.Y.Z', 'id', 1, 'c')"
        )
        applied = await applied_by_an_issuer(cfg, pool, "issuer")
        assert "0007_usage_record.sql" in applied
        assert await pool.fetchval("select count(*) from licence_usage") == 0
        assert await pool.fetchval("select count(*) from lineages") == 1
    finally:
        await pool.close()


def claim_of(licence, nonce: str) -> events_pb2.LicenceUse:
    """The use a verifier publishes when it accepts a presentation code: a claim."""
    return events_pb2.LicenceUse(
        lineage=licence.lineage,
        identifier=licence.identifier,
        verdict="VALID",
        code_kind="presentation",
        nonce_hash=nonce,
    )


async def test_only_the_first_claim_of_a_nonce_shows_valid(issuer, world, producer):
    """docs/architecture.md §2c, "First in the log wins": a later claim of the same
    nonce was answered REPLAYED, and the holder's record says so; a redelivered first
    claim stays the one VALID entry; another nonce is its own acceptance."""
    w = world
    nonce, other = secrets.token_hex(16), secrets.token_hex(16)
    first = used_event(claim_of(w["mine"], nonce), group="ga", purpose="第一")
    later = used_event(claim_of(w["mine"], nonce), group="gb", purpose="第二")
    # a batch naming the nonce twice, and a fresh nonce after it
    batch = used_event(
        claim_of(w["mine"], nonce),
        claim_of(w["mine"], other),
        claim_of(w["mine"], other),
        group="gc",
        purpose="批量",
    )
    for event in (first, later, first, batch):
        await producer.send_and_wait(
            LICENCE_USAGE, event.SerializeToString(), key=w["mine"].lineage.encode()
        )
    uses = await until(
        issuer, w, lambda u: sum(x.purpose == "批量" for x in of_kind(u, VERIFIED)) == 3
    )
    shown = [(x.purpose, x.verdict) for x in of_kind(uses, VERIFIED)]
    assert shown == [
        ("第一", "VALID"),
        ("第二", "REPLAYED"),
        ("批量", "REPLAYED"),
        ("批量", "VALID"),
        ("批量", "REPLAYED"),
    ]
    stored = await issuer.pool.fetch(
        "select verdict, count(*) from licence_usage where nonce_hash = $1"
        " group by verdict order by verdict",
        nonce,
    )
    assert [(r["verdict"], r["count"]) for r in stored] == [
        ("REPLAYED", 2),
        ("VALID", 1),
    ]


async def test_a_second_accepted_use_of_a_nonce_is_refused_by_the_database(issuer):
    """The rule holds in the database too (two issuer replicas writing at once): a
    second VALID row of one lineage's nonce is a unique violation."""
    nonce, lineage = secrets.token_hex(16), f"1.2.156.3005.2.T.{secrets.token_hex(4)}"
    insert = (
        "insert into licence_usage (entry_id, lineage, identifier, kind, occurred_at,"
        " verdict, nonce_hash, recorded_at) values ($1, $2, 'i', 'verified', now(),"
        " 'VALID', $3, now())"
    )
    await issuer.pool.execute(insert, str(uuid.uuid4()), lineage, nonce)
    with pytest.raises(asyncpg.UniqueViolationError):
        await issuer.pool.execute(insert, str(uuid.uuid4()), lineage, nonce)
    await issuer.pool.execute(insert, str(uuid.uuid4()), lineage, "")  # plain codes
    await issuer.pool.execute(insert, str(uuid.uuid4()), lineage, "")


async def test_the_usage_record_of_the_previous_main_upgrades_in_place(
    config, tmp_path
):
    """A database made by the previous main (issuer migrations up to 0007) keeps its
    usage entries, which carry no nonce hash, and takes claims after the upgrade."""
    cfg, pool = await previous_main_database(config, tmp_path, last=7)
    try:
        await pool.execute(
            "insert into licence_usage (entry_id, lineage, identifier, kind,"
            " occurred_at, verdict, recorded_at) values"
            " ('old/1', 'L', 'L.1', 'verified', now(), 'VALID', now()),"
            " ('old/2', 'L', 'L.1', 'verified', now(), 'VALID', now())"
        )
        app = IssuerApp(cfg, serve=False, background=False)
        await app.start()
        await app.stop()
        rows = await pool.fetch(
            "select entry_id, verdict, nonce_hash from licence_usage order by entry_id"
        )
        assert [tuple(r) for r in rows] == [
            ("old/1", "VALID", ""),
            ("old/2", "VALID", ""),
        ]
    finally:
        await pool.close()
