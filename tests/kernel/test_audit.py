"""The audit trail is hash-chained; edits, deletions and truncation are detected."""

import asyncio
import datetime as dt

import pytest

from certseal.audit import GENESIS, AuditEntry, canonical, chain_hash
from certseal.config import dump_config
from certseal.metrics import Metrics
from certseal.storage.audit import AuditSealer, verify_chain, write_audit
from certseal.storage.pool import connect, create_pool
from certseal.timestamps import utcnow
from services import cli
from tests.conftest import migrated_database


async def seal_all(dsn: str) -> None:
    """Seal deterministically, safe beside the running sealer: the head row
    serialises the two, and a batch the running one sealed first is rolled back and
    read again, as the worker does (CI, 2026-12-07: "audit rows were sealed by
    another sealer meanwhile" ended a test that sealed beside the issuer's)."""
    sealer = AuditSealer(dsn=dsn, metrics=Metrics())
    conn = await connect(dsn)
    try:
        while True:
            try:
                if not await sealer.work_once(conn):
                    return
            except RuntimeError as exc:
                if "sealed by another sealer meanwhile" not in str(exc):
                    raise
    finally:
        await conn.close()


async def fresh_database(config) -> str:
    """A new database on the session's server, migrated, with its DSN."""
    new_dsn = await migrated_database(config, "audit")
    pool = await create_pool(new_dsn, min_size=1, max_size=2)
    await write_audit(
        pool,
        [
            AuditEntry(
                utcnow(), "operator:admin", "test.action", f"s{i}", details={"n": i}
            )
            for i in range(10)
        ],
    )
    await pool.close()
    await seal_all(new_dsn)
    return new_dsn


async def test_chain_of_the_running_issuer_verifies(issuer, dept, config):
    await seal_all(config.database.dsn())
    async with issuer.pool.acquire() as conn:
        report = await verify_chain(conn)
    assert report.ok, report.problems
    assert report.rows_checked > 0


async def test_edit_delete_and_truncation_are_detected(config):
    dsn = await fresh_database(config)
    conn = await connect(dsn)
    try:
        assert (await verify_chain(conn)).ok
        cases = [
            (
                "update audit_log set details = '{\"n\": 99}' where seq = 4",
                "seq 4 (id",
                "was modified",
            ),
            (
                "update audit_log set actor = 'operator:mallory' where seq = 2",
                "seq 2",
                "was modified",
            ),
            ("delete from audit_log where seq = 5", "rows 5..5", "missing"),
            ("delete from audit_log where seq = 10", "head says 10", "deleted"),
        ]
        for statement, where, what in cases:
            tx = conn.transaction()
            await tx.start()
            await conn.execute(statement)
            report = await verify_chain(conn)
            await tx.rollback()
            assert not report.ok
            assert any(where in p and what in p for p in report.problems), (
                report.problems
            )
    finally:
        await conn.close()


def config_for(config, tmp_path, dsn: str):
    """A config file like the session's whose database is ``dsn``."""
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text(dsn)
    config_file = tmp_path / "config.toml"
    original = config.database.dsn_file
    config.database.dsn_file = str(dsn_file)
    config_file.write_text(dump_config(config))
    config.database.dsn_file = original
    return config_file


async def test_cli_audit_verify_exit_codes(config, tmp_path, capsys):
    dsn = await fresh_database(config)
    config_file = config_for(config, tmp_path, dsn)
    assert (
        await asyncio.to_thread(
            cli.main, ["--config", str(config_file), "audit", "verify"]
        )
        == 0
    )
    assert "10 rows checked, 0 not sealed yet: chain intact" in capsys.readouterr().out
    conn = await connect(dsn)
    await conn.execute("update audit_log set subject = 'forged' where seq = 3")
    await conn.close()
    assert (
        await asyncio.to_thread(
            cli.main, ["--config", str(config_file), "audit", "verify"]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "TAMPERED: row seq 3" in out and "chain BROKEN" in out


def test_canonical_takes_a_plain_mapping_and_is_stable():
    at = dt.datetime(2026, 11, 22, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    row = {
        "id": 7,
        "occurred_at": at,
        "actor": "operator:admin",
        "action": "test.action",
        "subject": "s7",
        "outcome": "ok",
        "details": {"b": 2, "a": "é"},
        "request_id": "r1",
    }
    same_instant_in_utc = {**row, "occurred_at": at.astimezone(dt.UTC)}
    assert canonical(row, 3) == canonical(same_instant_in_utc, 3)
    expected = (
        '{"action":"test.action","actor":"operator:admin","details":{"a":"é","b":2},'
        '"id":7,"occurred_at":"2026-11-22T10:00:00+00:00","outcome":"ok",'
        '"request_id":"r1","seq":3,"subject":"s7"}'
    )
    assert canonical(row, 3) == expected.encode()
    assert canonical(row, 4) != canonical(row, 3)
    assert chain_hash(GENESIS, row, 3) != chain_hash(bytes([1]) * 32, row, 3)


async def test_chain_hash_of_a_plain_dict_matches_the_sealed_row(config):
    dsn = await fresh_database(config)
    conn = await connect(dsn)
    try:
        first = await conn.fetchrow("select * from audit_log where seq = 1")
    finally:
        await conn.close()
    assert bytes(first["prev_hash"]) == GENESIS
    assert chain_hash(GENESIS, dict(first.items()), 1) == bytes(first["hash"])


class _SealsWhileReading:
    """A connection that lets the sealer commit a batch between verify_chain's reads of
    the rows and of the head: exactly when a seal landing concurrently used to be
    reported as tampering."""

    def __init__(self, conn, dsn: str):
        self._conn, self._dsn = conn, dsn
        self.landed = 0

    def transaction(self, **kwargs):
        return self._conn.transaction(**kwargs)

    def is_in_transaction(self) -> bool:
        return self._conn.is_in_transaction()

    async def fetch(self, *args):
        return await self._conn.fetch(*args)

    async def fetchval(self, *args):
        return await self._conn.fetchval(*args)

    async def fetchrow(self, query, *args):
        if "audit_head" in query:
            pool = await create_pool(self._dsn, min_size=1, max_size=1)
            await write_audit(
                pool, [AuditEntry(utcnow(), "operator:admin", "late", "s", details={})]
            )
            await pool.close()
            await seal_all(self._dsn)
            self.landed += 1
        return await self._conn.fetchrow(query, *args)


async def test_audit_verify_reads_one_snapshot_while_seals_land(config):
    dsn = await fresh_database(config)
    conn = await connect(dsn)
    try:
        racing = _SealsWhileReading(conn, dsn)
        report = await verify_chain(racing, page=4)  # type: ignore[arg-type]
        assert racing.landed == 1
        assert report.ok, report.problems
        assert report.rows_checked == 10  # the snapshot's rows, not the late one
        after = await verify_chain(conn)
        assert after.ok and after.rows_checked == 11
    finally:
        await conn.close()


async def test_audit_verify_stays_intact_with_a_sealer_running(config):
    dsn = await fresh_database(config)

    async def land_seals() -> None:
        pool = await create_pool(dsn, min_size=1, max_size=1)
        try:
            for i in range(40):
                await write_audit(
                    pool,
                    [
                        AuditEntry(
                            utcnow(), "operator:admin", "race", f"r{i}", details={}
                        )
                    ],
                )
                await seal_all(dsn)
        finally:
            await pool.close()

    async def verify_repeatedly() -> list[list[str]]:
        conn = await connect(dsn)
        try:
            return [(await verify_chain(conn, page=3)).problems for _ in range(40)]
        finally:
            await conn.close()

    _, problems = await asyncio.gather(land_seals(), verify_repeatedly())
    assert all(not p for p in problems), [p for p in problems if p]


def test_a_refusal_records_its_reason_and_bounds_what_the_caller_named():
    """certseal.audit.refusal: outcome denied, {"why": ...}; the subject (text a
    refused caller chose) and the reason are cut at their limits, not before."""
    from certseal.audit import REFUSAL_SUBJECT_LIMIT, REFUSAL_WHY_LIMIT, refusal

    at = utcnow()
    entry = refusal(at, "dept:x", "department.roles", "", "no", "r1")
    assert entry == AuditEntry(
        at, "dept:x", "department.roles", "-", "denied", {"why": "no"}, "r1"
    )
    for limit, make in (
        (REFUSAL_SUBJECT_LIMIT, lambda text: refusal(at, "a", "b", text, "w").subject),
        (
            REFUSAL_WHY_LIMIT,
            lambda text: refusal(at, "a", "b", "s", text).details["why"],
        ),
    ):
        assert make("x" * (limit - 1)) == "x" * (limit - 1)
        assert make("x" * limit) == "x" * limit
        assert make("x" * (limit + 1)) == "x" * (limit - 1) + "…"


def test_a_refusals_control_characters_are_escaped_within_its_bounds():
    """atk28: a refused caller's text with a line break, an escape, a NUL (which
    PostgreSQL refuses in text) or a bidirectional override is written escaped."""
    from certseal.audit import REFUSAL_SUBJECT_LIMIT, refusal

    at = utcnow()
    entry = refusal(at, "a", "b", "x\n1 ok\x1b[2K\x00\u202e", "why\r\n")
    assert entry.subject == "x\\u000a1 ok\\u001b[2K\\u0000\\u202e"
    assert entry.details["why"] == "why\\u000d\\u000a"
    assert refusal(at, "a", "b", "é 李", "w").subject == "é 李"  # printable: as it is
    long = refusal(at, "a", "b", "\x00" * 500, "w").subject
    assert len(long) == REFUSAL_SUBJECT_LIMIT and long.endswith("…")


def test_what_a_refusal_was_asked_is_escaped_and_bounded_as_its_subject():
    """certseal.audit.refusal's ``asked``: each text escaped and cut as the subject
    is, a list cut to REFUSAL_ASKED_ITEMS items and a last ``…``; ``why`` is the
    refusal's own detail, which nothing asked may replace."""
    from certseal.audit import (
        REFUSAL_ASKED_ITEMS,
        REFUSAL_SUBJECT_LIMIT,
        refusal,
    )

    at = utcnow()
    entry = refusal(
        at,
        "a",
        "department.roles",
        "s",
        "w",
        asked={"roles": ["issuer", "x\n1 ok\x1b[2K"], "suite": "\x00" * 500},
    )
    assert entry.details["why"] == "w"
    assert entry.details["roles"] == ["issuer", "x\\u000a1 ok\\u001b[2K"]
    suite = entry.details["suite"]
    assert len(suite) == REFUSAL_SUBJECT_LIMIT and suite.endswith("…")
    many = [str(i) for i in range(REFUSAL_ASKED_ITEMS + 5)]
    cut = refusal(at, "a", "b", "s", "w", asked={"roles": many}).details["roles"]
    assert cut == [*many[:REFUSAL_ASKED_ITEMS], "…"]
    exact = many[:REFUSAL_ASKED_ITEMS]
    assert refusal(at, "a", "b", "s", "w", asked={"r": exact}).details["r"] == exact
    assert refusal(at, "a", "b", "s", "w", asked={}).details == {"why": "w"}
    with pytest.raises(ValueError):
        refusal(at, "a", "b", "s", "w", asked={"why": "forged"})


def test_recordable_keeps_only_text_of_its_shape_and_no_id_number():
    """certseal.audit.recordable: what a refusal records of a refused caller's text
    (a subject, a value asked): ``-`` unless its check passes, and ``-`` for a run
    of 15 digits or more (a resident identity number) even when it does."""
    from certseal.audit import recordable
    from certseal.identifiers import random_resident_id, validate_type_code

    type_code = "91350100M000100Y43001"
    assert recordable(type_code, validate_type_code) == type_code
    for text in ("t", "x\n", random_resident_id() + "001", "110101199003070396001"):
        assert recordable(text, validate_type_code) == "-", text
    assert recordable("123456789012345", str) == "-"
    assert recordable("12345678901234", str) == "12345678901234"


def test_recordable_sees_an_id_number_grouped_by_separators():
    """certseal.audit.recordable: a resident identity number written in groups
    (``110105-19900101-1234``, as a holder-app name may hold it: app_identity takes
    ``-``, ``.`` and ``_``) is one still, recorded as ``-``; digits a letter parts,
    or fewer than 15, stay."""
    from certseal.audit import recordable

    for text in (
        "app:110105-19900101-1234",
        "app:110105.19900101.123X",
        "app:1101_0519_9001_0112_34",
        "110 105 199 001 011",
    ):
        assert recordable(text, str) == "-", text
    for text in ("app:2026-01-01-v12345", "app:shop-1234-5678-9012", "app:v1.2.3"):
        assert recordable(text, str) == text


async def test_a_held_refusal_waits_for_the_answer_and_none_waits_after_it(config):
    """certseal.audit.HELD_REFUSALS: while an idempotent call is open its refusals
    wait (recorded only if the refusal is answered); once it has ended, a refusal
    from a task it started is recorded at once."""
    from certseal.audit import HELD_REFUSALS, HeldRefusals
    from certseal.storage.audit import RefusalAudit

    dsn = await fresh_database(config)
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        store = RefusalAudit(pool)

        async def denied(subject: str) -> int:
            return await pool.fetchval(
                "select count(*) from audit_log where subject = $1 and "
                "outcome = 'denied'",
                subject,
            )

        held = HeldRefusals()
        token = HELD_REFUSALS.set(held)
        try:
            kw = {"at": utcnow(), "actor": "dept:x", "action": "a", "why": "w"}
            await store.audit_refusal(subject="held", **kw)
            assert await denied("held") == 0
            await held.record()
            assert await denied("held") == 1
            await store.audit_refusal(subject="dropped", **kw)
            held.open = False  # the call ended: answered its stored answer
            await store.audit_refusal(subject="after", **kw)
        finally:
            HELD_REFUSALS.reset(token)
        assert (await denied("dropped"), await denied("after")) == (0, 1)
    finally:
        await pool.close()


async def test_cli_audit_list_shows_rows_newest_first_and_escaped(
    config, tmp_path, capsys
):
    """nu28: an operator had no command to read the audit log (psql and the DSN).
    ``audit list`` shows it newest first, filtered, each row one line whose control
    characters are escaped (an older refused caller's text must not drive the
    terminal)."""
    dsn = await fresh_database(config)
    conn = await connect(dsn)
    try:
        await write_audit(
            conn,
            [
                AuditEntry(
                    utcnow(),
                    "dept:91350200M00020000L",
                    "department.roles",
                    "x\x1b[2Kforged\nline\t  ok\\u0009",
                    "denied",
                    {"why": "may not"},
                    "r-1",
                )
            ],
        )
    finally:
        await conn.close()
    config_file = config_for(config, tmp_path, dsn)

    def run(*args: str) -> int:
        return cli.main(["--config", str(config_file), "audit", "list", *args])

    assert await asyncio.to_thread(run, "--outcome", "denied") == 0
    (line,) = capsys.readouterr().out.splitlines()
    fields = line.split("\t")
    assert fields[1:5] == [
        "dept:91350200M00020000L",
        "department.roles",
        "x\\u001b[2Kforged\\u000aline\\u0009  ok\\\\u0009",
        "denied",
    ]
    assert fields[5:] == ['{"why": "may not"}', "request r-1", "not sealed yet"]
    assert await asyncio.to_thread(run, "--action", "test.action", "--limit", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [x.split("\t")[3] for x in lines] == ["s9", "s8", "s7"]
    assert all(x.endswith("\tsealed") for x in lines)
    assert await asyncio.to_thread(run, "--actor", "nobody") == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err.strip()) == ("", "no audit rows match")
    # an action the log has, with no row matching the rest: no more is said
    assert await asyncio.to_thread(run, "--action", "test.action", "--actor", "x") == 0
    assert capsys.readouterr().err.strip() == "no audit rows match"
    # an action the log has none of (nu29: key.revoke where it writes key.revoked)
    assert await asyncio.to_thread(run, "--action", "test.actions") == 0
    assert capsys.readouterr().err.splitlines() == [
        "no audit rows match",
        "the log has no action 'test.actions'; its actions: department.roles, "
        "test.action",
    ]
    # the platform's own refusal.counted before its first row: not a typo (trial35)
    assert await asyncio.to_thread(run, "--action", "refusal.counted") == 0
    assert capsys.readouterr().err.strip() == "no audit rows match"
    for bad, said in (
        (("--since", "2026-12-04T08:00"), "error: since: "),
        (("--limit", "0x10"), "error: limit: "),
        (("--limit", "0"), "error: limit: 0 is outside 1 to 10,000\n"),
        (("--limit", "10001"), "error: limit: 10001 is outside 1 to 10,000\n"),
        (("--outcome", "maybe"), "error: outcome: "),
    ):
        with pytest.raises(SystemExit) as refused:
            await asyncio.to_thread(run, *bad)
        assert refused.value.code == 2
        assert said in capsys.readouterr().err
    assert await asyncio.to_thread(run, "--since", "2000-01-01T00:00:00Z") == 0
    assert len(capsys.readouterr().out.splitlines()) == 11
