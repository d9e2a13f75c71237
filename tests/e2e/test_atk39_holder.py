# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""Outside review atk39holder: the holder's side of certseal (the licence file,
授权用证, 用证记录), attacked for a record that is incomplete or names the wrong party,
a holder's choice that is not honoured, and inputs that are not refused clearly.

Each test asserts the correct behaviour; each was marked xfail (strict) until the
product was fixed (atk39holder 1 to 7, one commit each). The stack is the session's
(tests/conftest.py); the world is test_atk39_authz.py's (a fresh issuing department,
holder, holder app and authorised department per test).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import ssl

import aiohttp
import grpc
import pytest

from certseal import identifiers
from certseal.licencefile import read_licence_metadata
from certseal.v1 import issuer_pb2 as pb
from certseal.v1 import seal_pb2 as seal_pb
from certseal.v1 import verifier_pb2
from services.console.access import COOKIE
from tests.conftest import verdict_everywhere
from tests.e2e.test_atk39_authz import (  # noqa: F401 (fixtures)
    authorise,
    holder_side,
    world,
)
from tests.e2e.test_holder_documents import (  # noqa: F401 (fixtures)
    console,
    verifier_group,
)

PASSWORD = "atk39holder-password"
#: the counter the test verifier processes' stub calls as (tests/conftest.py)
TEST_COUNTER = "dept:11440300VERIFIERS1"


async def rows(issuer, world, kind: str) -> list:
    """The licence's usage entries of ``kind`` as stored (read from the database: a
    listing would add a view)."""
    return await issuer.pool.fetch(
        """select * from licence_usage where lineage = $1 and kind = $2
            order by occurred_at, entry_id""",
        identifiers.parse_licence_id(world["licence"].identifier).lineage,
        kind,
    )


async def clerk(console, config, department: str) -> tuple[str, aiohttp.ClientSession]:
    """A signed-in clerk of ``department`` at the console: its name and session."""
    name = f"clerk-{secrets.token_hex(3)}"
    await console.accounts.add(
        name, department=department, role="clerk", password=PASSWORD, by="operator:e2e"
    )
    session = aiohttp.ClientSession(
        base_url=f"https://localhost:{console.port}",
        connector=aiohttp.TCPConnector(
            ssl=ssl.create_default_context(cafile=config.tls.ca_file)
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    async with session.post(
        "/api/login", json={"name": name, "password": PASSWORD}
    ) as reply:
        assert reply.status == 200, await reply.text()
        session.headers["Cookie"] = f"{COOKIE}={reply.cookies[COOKIE].value}"
    return name, session


# -- 1. the record names the wrong party ------------------------------------------------


async def test_a_department_verifying_the_annotated_copy_is_named_in_the_record(
    world, holder_side, seal_stub, verifier_group, issuer
):
    """docs/holder.md, the annotated copy: "every verification of it enters the
    holder's usage record under the counter that made it. So a department that keeps
    the copy can check the licence again after the authorisation ended, and the holder
    sees each time it does". The seal service verifies the copy's licence code at the
    verifier group as itself (``GrpcLicenceVerifier``, purpose 电子证照文件核验, no
    counter forwarded): the entry is ``counter=service:seal``, no department. The
    department that kept the copy checks it as often as it likes, after the
    authorisation is withdrawn too, and the holder never learns who."""
    app, holder = world["app"], world["holder"]
    auth = (await app.holder.AuthoriseUse(authorise(world))).authorisation
    other = world["other"]
    copy = (
        await holder_side(f"dept:{other}").redemption.RedeemAuthorisation(
            pb.RedeemAuthorisationRequest(code=auth.code)
        )
    ).annotated_copy
    await app.holder.RevokeAuthorisation(
        pb.RevokeAuthorisationRequest(
            authorisation_id=auth.authorisation_id, holder=holder, reason="办完了"
        )
    )
    code = read_licence_metadata(copy)["licence_code"]
    await verdict_everywhere(
        {"g": verifier_group.stub}, code, verifier_pb2.VERDICT_VALID, within=30
    )
    verified = await seal_stub(f"dept:{other}").VerifyPdf(
        seal_pb.VerifyPdfRequest(pdf=copy)
    )
    assert verified.licence.verdict == "VALID", verified.licence.detail
    async with asyncio.timeout(20):  # the copy's verification reaches the record
        while True:
            committed = issuer.usage_consumer.next_commit()
            found = [
                r
                for r in await rows(issuer, world, "verified")
                if r["counter"] != TEST_COUNTER
            ]
            if found:
                break
            await committed.wait()
    assert [(r["department_code"], r["counter"]) for r in found] == [
        (other, f"dept:{other}")
    ], "the holder cannot tell who checked the copy"


async def test_a_console_redemption_names_the_clerk_in_the_record(
    world, console, config, issuer
):
    """A verification at the console enters the record with its counter and clerk
    (``LicenceUsedEvent.counter``/``clerk``); a redemption there, the use that hands
    over the holder's shared (maybe personal) fields, enters as ``actor=dept:<code>``
    with ``counter`` and ``clerk`` empty (``RedemptionServicer`` replaces the caller by
    the named department and ``HolderSide.redeem`` records no clerk): the holder
    cannot tell which clerk took the fields, even for an authorisation the holder made
    out to one counter."""
    other = world["other"]
    name, session = await clerk(console, config, other)
    request = authorise(world)
    request.counter = name
    auth = (await world["app"].holder.AuthoriseUse(request)).authorisation
    try:
        async with session.post("/api/redeem", json={"code": auth.code}) as reply:
            assert reply.status == 200, await reply.text()
    finally:
        await session.close()
    (entry,) = await rows(issuer, world, "redeemed")
    assert entry["department_code"] == other  # held
    assert (entry["counter"], entry["clerk"]) == (f"dept:{other}", name), dict(entry)


async def test_a_download_by_the_issuing_department_names_the_department(world, issuer):
    """``GetLicenceDocument`` is also the issuing department's; its download is an
    entry of kind downloaded whose ``department_code`` is "" (``HolderSide.document``
    gives no department to ``LicenceUse``), so ``ListLicenceUsage`` answers no
    ``department_name`` for it, while a redemption's entry names its department."""
    dept = world["dept"]
    from tests.e2e.test_atk39_authz import HolderSide as Stubs

    await Stubs(dept.clients.channel).holder.GetLicenceDocument(
        pb.GetLicenceDocumentRequest(identifier=world["licence"].identifier)
    )
    (entry,) = await rows(issuer, world, "downloaded")
    assert entry["actor"] == f"dept:{dept.code}"  # held
    assert entry["department_code"] == dept.code, dict(entry)


# -- 2. the holder's withdrawal is not honoured -----------------------------------------


async def test_no_redemption_completes_after_the_holder_withdrew(
    world, holder_side, issuer, monkeypatch
):
    """``HolderSide.redeem`` reads the authorisation and decides, then renders and
    seals the copy (seconds), then answers: nothing ties the answer to the row's state.
    A holder who withdraws while the copy is made is told OK ("withdrawn"), and the
    department receives the shared fields and a sealed copy afterwards. Whichever
    comes first must win: either the withdrawal is refused (the code was redeemed) or
    the redemption is."""
    app, holder = world["app"], world["holder"]
    auth = (await app.holder.AuthoriseUse(authorise(world))).authorisation
    files = issuer.service.holder._files
    original = files.annotated_copy
    withdrawn: list[str] = []

    async def while_rendering(*args, **kwargs):
        try:
            await app.holder.RevokeAuthorisation(
                pb.RevokeAuthorisationRequest(
                    authorisation_id=auth.authorisation_id,
                    holder=holder,
                    reason="不同意了",
                )
            )
            withdrawn.append("ok")
        except grpc.aio.AioRpcError as exc:
            withdrawn.append(exc.code().name)
        return await original(*args, **kwargs)

    monkeypatch.setattr(files, "annotated_copy", while_rendering)
    redeemed: object
    try:
        reply = await holder_side(
            f"dept:{world['other']}"
        ).redemption.RedeemAuthorisation(pb.RedeemAuthorisationRequest(code=auth.code))
        redeemed = sorted(reply.fields)
    except grpc.aio.AioRpcError as exc:
        redeemed = exc.code()
    assert withdrawn, "the withdrawal was not attempted"
    # the holder was told "withdrawn" and the department got the fields anyway
    assert not (withdrawn == ["ok"] and isinstance(redeemed, list)), (
        withdrawn,
        redeemed,
    )


# -- 3. inputs not refused clearly -----------------------------------------------------


async def test_an_over_long_withdrawal_reason_is_refused_not_cut(world):
    """The reason is published in ``licence.authorisation_revoked`` (the licence
    topic) and kept with the row. A licence change's reason over 500 characters is
    INVALID_ARGUMENT (``validate_reason``), an authorisation's purpose over 64 too;
    ``HolderSide.revoke`` checks a withdrawal's reason for personal data only and
    keeps ``reason[:200]``: the holder's 1,200 characters are cut to 200 without a
    word, and what is kept and published is not what the holder wrote. (Control and
    bidi characters in it are refused already.)"""
    reason = "不用了" * 400
    app, holder = world["app"], world["holder"]
    auth = (await app.holder.AuthoriseUse(authorise(world))).authorisation
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await app.holder.RevokeAuthorisation(
            pb.RevokeAuthorisationRequest(
                authorisation_id=auth.authorisation_id, holder=holder, reason=reason
            )
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "reason" in err.value.details() and "200" in err.value.details()
    # the limit itself is kept whole
    await app.holder.RevokeAuthorisation(
        pb.RevokeAuthorisationRequest(
            authorisation_id=auth.authorisation_id, holder=holder, reason="不" * 200
        )
    )


# -- 4. what the holder authorises outlives what the licence is ----------------------


async def test_an_authorisation_does_not_outlive_the_licence(world, holder_side):
    """``AuthoriseUse`` bounds the expiry by now and 90 days only; the licence's
    ``valid_until`` is checked only as "valid now". A licence ending in 5 days is
    authorised for 60, and the annotated copy, sealed by the platform, reads
    "仅供…使用，<60 days ahead>前有效": the date its reader checks by eye
    (docs/holder.md) outruns the licence. The expiry should be refused
    (INVALID_ARGUMENT ``expires_at``) or held to the licence's end."""
    from tests.conftest import issue_request

    now = dt.datetime.now(dt.UTC)
    request = issue_request(
        world["dept"], name="欧阳建国", id_number=world["holder"].id_number
    )
    request.valid_until.FromDatetime(now + dt.timedelta(days=5))
    licence = (await world["dept"].clients.issuer.IssueLicence(request)).licence
    ask = authorise(world, identifier=licence.identifier)
    ask.expires_at.FromDatetime(now + dt.timedelta(days=60))
    try:
        auth = (await world["app"].holder.AuthoriseUse(ask)).authorisation
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        assert "expires_at" in exc.details()
        return
    ends = licence.valid_until.ToDatetime(tzinfo=dt.UTC)
    assert auth.expires_at.ToDatetime(tzinfo=dt.UTC) <= ends, (
        "authorised past the licence's end"
    )


# -- 5. a use is recorded whole or not at all --------------------------------------------


async def test_a_download_is_audited_and_recorded_in_one_transaction(
    world, issuer, monkeypatch
):
    """``HolderSide.record_use`` wrote the audit row, then the usage entry in a
    transaction of its own: a process stopped between them kept an audit row of a
    download the holder's record never shows. Both now commit together: when the
    entry cannot be written, no audit row of the download is kept either."""
    from services.issuer.storage import usage as usage_storage

    async def no_entry(*args, **kwargs):
        raise RuntimeError("stopped between the audit row and the entry")

    monkeypatch.setattr(usage_storage, "insert_usage", no_entry)
    with pytest.raises(grpc.aio.AioRpcError):
        await world["app"].holder.GetLicenceDocument(
            pb.GetLicenceDocumentRequest(
                identifier=world["licence"].identifier, holder=world["holder"]
            )
        )
    audited = await issuer.pool.fetchval(
        """select count(*) from audit_log
            where subject = $1 and action = 'licence.downloaded'""",
        world["licence"].identifier,
    )
    assert audited == 0
