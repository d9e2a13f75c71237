"""Every example of docs/console-api.md, as a script at a counter would send it (no
browser, no Origin header), against the console of tests/e2e/test_console.py: two
verifier groups, the seal service and the issuer, real PostgreSQL and broker.

A new user had to read static/counter.js to learn that /api/verify-image takes the
image's raw bytes with its media type and the purpose percent-encoded in the query
(fixnu-c 6); the page now says so, and this keeps it true."""

from __future__ import annotations

import secrets
import ssl
import urllib.parse

import aiohttp
from yarl import URL

from certseal.qr import qr_png
from certseal.rpc import secure_channel
from certseal.v1 import seal_pb2, seal_pb2_grpc, verifier_pb2
from services.console.access import COOKIE
from tests.conftest import blank_pdf, fresh_uscc, seal_owner
from tests.e2e import test_console
from tests.e2e.test_console import (
    PASSWORD,
    PURPOSE,
    api_session,
    licence_and_code,
    until_verdict,
)

#: the console, verifier groups, seal service and issuer of test_console.py (one of
#: its own for this module)
platform = test_console.platform

VERDICT_KEYS = {
    "verdict",
    "tone",
    "title_zh",
    "title_en",
    "reason_zh",
    "reason_en",
    "status",
    "checks",
    "identifier",
    "type_code",
    "issuer_code",
    "type_name",
    "issuer_name",
    "holder_display_name",
    "fields",
    "field_titles",
    "valid_from",
    "valid_until",
    "code_kind",
    "group",
    "index",
    "verified_at",
    "purpose",
    "counter",
    "clerk",
}
SEAL_KEYS = {
    "verdict",
    "tone",
    "title_zh",
    "title_en",
    "reason_zh",
    "reason_en",
    "field_name",
    "seal_id",
    "seal_name",
    "intact",
    "trusted",
    "modified",
    "signed_at",
    "current_status",
    "detail",
}
ACCOUNT_KEYS = {
    "name",
    "department",
    "role",
    "disabled",
    "password",
    "certificate",
    "counter",
}


def https(platform) -> aiohttp.ClientSession:
    """A client that trusts the console's CA and keeps no cookies by itself."""
    context = ssl.create_default_context(cafile=platform["config"].tls.ca_file)
    return aiohttp.ClientSession(
        base_url=platform["url"],
        connector=aiohttp.TCPConnector(ssl=context),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def signed_in(platform, who: str = "clerk") -> aiohttp.ClientSession:
    return await api_session(
        platform["url"],
        platform["config"].tls.ca_file,
        platform["accounts"][who].name,
    )


async def test_login_session_and_logout(platform):
    clerk = platform["accounts"]["clerk"]
    async with https(platform) as client:
        async with client.post(
            "/api/login", json={"name": clerk.name, "password": PASSWORD}
        ) as reply:
            assert reply.status == 200, await reply.text()
            body = await reply.json()
            token = reply.cookies[COOKIE].value
        assert set(body) == {"account", "expires_at"}
        assert set(body["account"]) == ACCOUNT_KEYS
        cookie = {"Cookie": f"{COOKIE}={token}"}
        async with client.get("/api/session", headers=cookie) as reply:
            session = await reply.json()
        assert session == {
            "account": clerk.name,
            "role": "clerk",
            "counter": platform["counter"],
            "verifier": session["verifier"],
            "purposes": session["purposes"],
            "operator_page": False,
        }
        assert PURPOSE in session["purposes"]
        async with client.post("/api/logout", headers=cookie) as reply:
            assert await reply.json() == {"signed_out": True}
        async with client.get("/api/session", headers=cookie) as reply:
            assert reply.status == 401
            assert (await reply.json())["field"] == "session"
        async with client.post(
            "/api/login", json={"name": clerk.name, "password": "not-the-password"}
        ) as reply:
            assert reply.status == 401
            assert (await reply.json())["field"] == "password"


async def test_verify_a_scanned_code(platform):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    http = await signed_in(platform)
    try:
        async with http.post(
            "/api/verify",
            data=f'{{"code":"{code}","purpose":"{PURPOSE}"}}'.encode(),
            headers={"Content-Type": "application/json"},
        ) as reply:
            assert reply.status == 200, await reply.text()
            verdict = await reply.json()
    finally:
        await http.close()
    assert set(verdict) == VERDICT_KEYS
    assert verdict["verdict"] == "VALID" and verdict["identifier"] == identifier
    assert set(verdict["index"]) == {
        "last_event_time",
        "lag_events",
        "lag_unknown",
        "lag_measured_at",
        "age_s",
    }
    assert {"name", "passed", "detail"} == set(verdict["checks"][0])
    assert (verdict["purpose"], verdict["counter"]) == (PURPOSE, platform["counter"])


async def test_verify_an_image_with_its_raw_bytes_and_an_encoded_purpose(platform):
    identifier, code = await licence_and_code(platform["open"])
    await until_verdict(platform, code, verifier_pb2.VERDICT_VALID)
    encoded = urllib.parse.quote(PURPOSE)
    assert encoded == "%E7%AA%97%E5%8F%A3%E5%8A%9E%E4%BA%8B"  # as the page says
    form = aiohttp.FormData()
    form.add_field("image", qr_png(code), filename="code.png", content_type="image/png")
    http = await signed_in(platform)
    try:
        async with http.post(
            f"/api/verify-image?purpose={encoded}",
            data=qr_png(code),
            headers={"Content-Type": "image/png"},
        ) as reply:
            assert reply.status == 200, await reply.text()
            verdict = await reply.json()
        async with http.post(
            f"/api/verify-image?purpose={encoded}",
            data=form,  # a form: not the body it takes
        ) as reply:
            assert reply.status == 415
            assert (await reply.json())["field"] == "image"
    finally:
        await http.close()
    assert set(verdict) == VERDICT_KEYS
    assert (verdict["verdict"], verdict["identifier"]) == ("VALID", identifier)
    assert verdict["purpose"] == PURPOSE


async def test_a_purpose_that_is_no_text_is_refused_by_name(platform):
    """A purpose whose percent-encoding is not UTF-8 (nu17: ``%FF`` was stored as
    U+FFFD in the usage record), or that holds a control character or a lone
    surrogate, is a 400 naming ``purpose``, from the query and from JSON alike."""
    _, code = await licence_and_code(platform["open"])
    http = await signed_in(platform)
    try:
        for query in ("%FF", "%E7%AA", "%E7%AA%97%FF", "a%07b"):
            async with http.post(
                URL(f"/api/verify-image?purpose={query}", encoded=True),
                data=qr_png(code),
                headers={"Content-Type": "image/png"},
            ) as reply:
                assert reply.status == 400, (query, await reply.text())
                assert (await reply.json())["field"] == "purpose", query
        # in JSON: a lone surrogate is refused with the body (no JSON text may hold
        # one), a control character by the purpose's own check
        for purpose, field in ((r"a\u0007b", "purpose"), (r"\udc80", "body")):
            body = f'{{"code": "x", "purpose": "{purpose}"}}'
            async with http.post(
                "/api/verify", data=body, headers={"Content-Type": "application/json"}
            ) as reply:
                assert reply.status == 400, (purpose, await reply.text())
                assert (await reply.json())["field"] == field, await reply.text()
    finally:
        await http.close()


async def _seal_stub(platform, operator):
    stack = platform["stack"]
    owner = await seal_owner(operator)
    ident = stack.ca.identity(f"dept:{owner}")
    channel = secure_channel(
        f"localhost:{platform['seal_port']}",
        str(stack.ca.ca_file),
        str(ident.cert_file),
        str(ident.key_file),
    )
    return channel, seal_pb2_grpc.SealStub(channel)


async def test_verify_a_sealed_pdf_and_a_sealed_ofd(platform, operator):
    from tests.seal.ofd_samples import make_ofd

    channel, seal = await _seal_stub(platform, operator)
    try:
        es256 = (
            await seal.RegisterSeal(
                seal_pb2.RegisterSealRequest(name="示例公司合同专用章", suite="es256")
            )
        ).seal
        pdf = (
            await seal.SealPdf(
                seal_pb2.SealPdfRequest(seal_id=es256.seal_id, pdf=blank_pdf(), x_mm=20)
            )
        ).pdf
        ofd = (
            await seal.SealOfd(
                seal_pb2.SealOfdRequest(seal_id=es256.seal_id, ofd=make_ofd())
            )
        ).ofd
    finally:
        await channel.close()
    http = await signed_in(platform)
    try:
        async with http.post(
            "/api/verify-pdf", data=pdf, headers={"Content-Type": "application/pdf"}
        ) as reply:
            assert reply.status == 200, await reply.text()
            pdf_answer = await reply.json()
        async with http.post(
            "/api/verify-ofd", data=ofd, headers={"Content-Type": "application/ofd"}
        ) as reply:
            assert reply.status == 200, await reply.text()
            ofd_answer = await reply.json()
        # each file sent to the other's route names the route that takes it, and an
        # empty one says so (a new user's trial, finding 12)
        for path, data, media, use in (
            ("/api/verify-pdf", ofd, "application/pdf", "/api/verify-ofd"),
            ("/api/verify-ofd", pdf, "application/ofd", "/api/verify-pdf"),
        ):
            async with http.post(
                path, data=data, headers={"Content-Type": media}
            ) as reply:
                assert reply.status == 400
                refused = await reply.json()
                assert refused["use"] == use and use in refused["error"]
                assert refused["reason_zh"] and refused["reason_en"]
        async with http.post(
            "/api/verify-pdf", data=b"", headers={"Content-Type": "application/pdf"}
        ) as reply:
            assert reply.status == 400
            assert (await reply.json())["error"] == "the file is empty (0 bytes)"
    finally:
        await http.close()
    # an OFD's answer has the file's verdict too (it may hold several documents)
    file = ofd_answer.pop("file")
    # said in words as a seal's row is (tone, titles, reasons in both languages)
    assert set(file) == {"verdict", "tone", "title_zh", "title_en", "reason_zh"} | {
        "reason_en",
        "detail",
        "documents",
    }
    assert (file["verdict"], file["detail"], file["tone"]) == ("VALID", "", "ok")
    assert file["title_en"] == "Seal valid"
    assert file["documents"] == [
        {"document": 0, "document_root": "/Doc_0/Document.xml", "verdict": "VALID"}
    ]
    for answer in (pdf_answer, ofd_answer):
        assert set(answer) == {"seals", "licence", "verified_at"}
        assert answer["licence"] is None  # not a licence file
        [only] = answer["seals"]
        assert set(only) == SEAL_KEYS
        assert (only["verdict"], only["seal_id"]) == ("VALID", es256.seal_id)


async def test_verify_an_encrypted_pdf_with_its_password_in_a_header(
    platform, operator
):
    """docs/console-api.md: an encrypted PDF's password in ``X-PDF-Password``."""
    from tests.seal.field_pdfs import USER_PASSWORD, encrypt, page_pdf

    channel, seal = await _seal_stub(platform, operator)
    try:
        es256 = (
            await seal.RegisterSeal(
                seal_pb2.RegisterSealRequest(name="示例公司合同专用章", suite="es256")
            )
        ).seal
        pdf = (
            await seal.SealPdf(
                seal_pb2.SealPdfRequest(
                    seal_id=es256.seal_id,
                    pdf=encrypt(page_pdf(), "aes-256"),
                    password=USER_PASSWORD,
                )
            )
        ).pdf
    finally:
        await channel.close()
    http = await signed_in(platform)
    try:
        for password, status in ((None, 400), (USER_PASSWORD, 200)):
            headers = {"Content-Type": "application/pdf"}
            if password:
                headers["X-PDF-Password"] = password
            async with http.post("/api/verify-pdf", data=pdf, headers=headers) as reply:
                assert reply.status == status, await reply.text()
                answer = await reply.json()
    finally:
        await http.close()
    assert [s["verdict"] for s in answer["seals"]] == ["VALID"]


async def test_redeem_refuses_what_is_no_code(platform):
    """A redemption, and an authorisation not for this counter (404), are
    tests/e2e/test_holder_documents.py's (a holder's authorisation through a console
    that reaches the issuer); here what the console refuses itself."""
    http = await signed_in(platform)
    try:
        # every refusal has its key and reasons, Chinese and English (docs: the
        # table under /api/redeem)
        for code, status, key in (
            ("", 400, "empty"),
            ("AU-" + "x" * 64, 400, "too_long"),
            ("AU-7K3M", 400, "misread"),  # the issuer's: cut short
            ("AU-" + "7K3M9Q2WHJ4P", 404, "not_found"),  # no such code
        ):
            async with http.post("/api/redeem", json={"code": code}) as reply:
                assert reply.status == status, await reply.text()
                refused = await reply.json()
                assert (refused["field"], refused["refusal"]) == ("code", key)
                assert set(refused) == {
                    "error",
                    "field",
                    "refusal",
                    "reason_zh",
                    "reason_en",
                }
        async with http.post("/api/redeem", data=b"code=AU-1") as reply:
            assert reply.status == 415
            assert (await reply.json())["field"] == "body"
    finally:
        await http.close()


async def test_status_and_the_account_api(platform):
    http = await signed_in(platform, "operator")
    name = f"li.si-{secrets.token_hex(3)}"
    account = {
        "name": name,
        "department": fresh_uscc(),
        "role": "clerk",
        "password": "a-long-enough-password",
    }
    key = {"Idempotency-Key": secrets.token_hex(8)}
    try:
        async with http.get("/api/status") as reply:
            snapshot = await reply.json()
        assert reply.status == 200 and "groups" in snapshot
        if "at" in snapshot:
            assert {"at", "refresh_s", "outboxes", "topics", "history"} <= set(snapshot)
        async with http.post("/api/accounts", json=account, headers=key) as reply:
            assert reply.status == 201, await reply.text()
            made = await reply.json()
        async with http.post("/api/accounts", json=account, headers=key) as reply:
            assert (reply.status, await reply.json()) == (201, made)  # a retry
        changed = {**account, "role": "operator"}
        async with http.post("/api/accounts", json=changed, headers=key) as reply:
            assert reply.status == 409
            assert (await reply.json())["field"] == "idempotency_key"
        assert set(made) == ACCOUNT_KEYS and made["password"] is True
        async with http.post(f"/api/accounts/{name}/disable") as reply:
            assert reply.status == 200 and (await reply.json())["disabled"] is True
        async with http.post(
            f"/api/accounts/{name}/password", json={"password": "another-password-1"}
        ) as reply:
            assert reply.status == 200, await reply.text()
        async with http.post(f"/api/accounts/{name}/rename") as reply:
            assert reply.status == 404 and (await reply.json())["field"] == "change"
        async with http.get("/api/accounts") as reply:
            listed = (await reply.json())["accounts"]
        assert any(a["name"] == name and a["disabled"] for a in listed)
    finally:
        await http.close()


async def test_routes_probes_and_errors(platform):
    async with https(platform) as client:
        async with client.get("/healthz") as reply:
            assert await reply.json() == {"status": "ok"}
        async with client.post("/api/verify", json={}) as reply:
            assert reply.status == 401  # not signed in
    http = await signed_in(platform)
    try:
        async with http.get("/api/no-such-route") as reply:
            assert reply.status == 404 and (await reply.json())["field"] == "path"
        async with http.get("/api/verify") as reply:
            assert reply.status == 405 and (await reply.json())["field"] == "method"
        async with http.get("/api/status") as reply:  # a clerk
            assert reply.status == 403 and (await reply.json())["field"] == "role"
        async with http.post(
            "/api/verify",
            json={"code": "LC1:x", "purpose": PURPOSE},
            headers={"Origin": "https://elsewhere.example"},
        ) as reply:
            assert reply.status == 403 and (await reply.json())["field"] == "origin"
    finally:
        await http.close()
