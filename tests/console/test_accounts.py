"""Console accounts over HTTPS against the real PostgreSQL: sign-in, sessions, roles,
throttling, the admin API, the security headers, the audit rows and the CLI.

Each test runs its own console (no verifier behind it: none is needed to sign in) with
an injected clock that starts on a day of its own, so the failed sign-ins of one test
(all from 127.0.0.1) never throttle another.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import secrets
import ssl
from typing import Any

import aiohttp
import pytest

from certseal.storage.pool import connect
from services.console.access import COOKIE
from services.console.app import ConsoleApp
from services.devstack import free_port
from tests.conftest import fresh_uscc, run_certseal

PASSWORD = "counter-password-1"
_DAYS = itertools.count()


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = dt.datetime(2031, 1, 1, 9, tzinfo=dt.UTC) + dt.timedelta(
            days=next(_DAYS)
        )

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class Client:
    """An HTTPS client that keeps the session cookie by hand (to inspect it)."""

    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session, self.url = session, url
        self.cookie = ""

    async def call(
        self, method: str, path: str, *, cookie: str | None = None, **kwargs: Any
    ) -> tuple[int, Any, Any]:
        token = self.cookie if cookie is None else cookie
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Cookie"] = f"{COOKIE}={token}"
        async with self.session.request(
            method, self.url + path, headers=headers, allow_redirects=False, **kwargs
        ) as reply:
            text = await reply.text()
            body: Any = text
            if reply.content_type == "application/json":
                body = await reply.json()
            return reply.status, body, reply.headers

    async def login(self, name: str, password: str = PASSWORD) -> tuple[int, Any, Any]:
        status, body, headers = await self.call(
            "POST", "/api/login", json={"name": name, "password": password}
        )
        if status == 200:
            morsel = headers["Set-Cookie"].split(";")[0]
            self.cookie = morsel.split("=", 1)[1]
        return status, body, headers


@pytest.fixture
async def console(config, stack):
    """Start a console with ``[console]`` overrides and an injected clock."""
    started: list[tuple[ConsoleApp, aiohttp.ClientSession]] = []

    async def start(cert: tuple[str, str] | None = None, **settings: Any):
        cfg = copy.deepcopy(config)
        cfg.console.verifier_targets = [f"127.0.0.1:{free_port()}"]
        cfg.console.metrics_sources = []
        cfg.console.operator_page = True
        cfg.console.refresh_s = 60
        cfg.console.client_ca_file = str(stack.ca.ca_file)
        for name, value in settings.items():
            setattr(cfg.console, name, value)
        clock = Clock()
        app = ConsoleApp(cfg, listen="127.0.0.1:0", clock=clock)
        await app.start()
        context = ssl.create_default_context(cafile=cfg.tls.ca_file)
        if cert:
            context.load_cert_chain(*cert)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        started.append((app, session))
        return app, clock, Client(session, f"https://localhost:{app.port}")

    yield start
    for app, session in started:
        await session.close()
        await app.stop()


@pytest.fixture
async def db(config):
    conn = await connect(config.database.dsn())
    yield conn
    await conn.close()


def fresh_name(prefix: str = "clerk") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def add(app: ConsoleApp, role: str = "clerk", **kwargs: Any):
    kwargs.setdefault("password", PASSWORD)
    return await app.accounts.add(
        kwargs.pop("name", fresh_name(role)),
        department=kwargs.pop("department", fresh_uscc()),
        role=role,
        by="operator:test",
        **kwargs,
    )


async def audit(db, name: str) -> list[tuple[str, str, str, dict]]:
    rows = await db.fetch(
        "select actor, action, outcome, details from audit_log where subject = $1 "
        "order by id",
        f"console-account:{name}",
    )
    return [(r["actor"], r["action"], r["outcome"], r["details"]) for r in rows]


async def test_sign_in_and_out_with_a_hardened_cookie_and_audit_rows(console, db):
    app, _, client = await console()
    clerk = await add(app)
    status, body, headers = await client.login(clerk.name)
    assert status == 200, body
    assert body["account"]["counter"] == f"dept:{clerk.department}"
    cookie = headers["Set-Cookie"]
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert cookie.startswith(f"{COOKIE}=")
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age=36000" in cookie and "domain" not in attributes
    assert client.cookie not in str(await db.fetch("select * from console_sessions"))

    status, session, _ = await client.call("GET", "/api/session")
    assert status == 200
    assert (session["account"], session["role"], session["counter"]) == (
        clerk.name,
        "clerk",
        f"dept:{clerk.department}",
    )
    assert session["operator_page"] is False
    status, page, _ = await client.call("GET", "/")
    assert status == 200 and "scan-form" in page

    old = client.cookie
    status, body, headers = await client.call("POST", "/api/logout")
    assert status == 200 and body == {"signed_out": True}
    assert "Max-Age=0" in headers["Set-Cookie"] or "expires" in headers["Set-Cookie"]
    status, body, _ = await client.call("GET", "/api/session", cookie=old)
    assert status == 401 and body["field"] == "session"
    assert "signed out" in body["error"]
    assert [(a, o) for _, a, o, _ in await audit(db, clerk.name)] == [
        ("console.account.add", "ok"),
        ("console.login", "ok"),
        ("console.logout", "ok"),
    ]


async def test_a_wrong_password_or_unknown_account_is_refused_alike(console, db):
    app, _, client = await console()
    clerk = await add(app)
    wrong = await client.login(clerk.name, "not the password!")
    unknown = await client.login(fresh_name(), PASSWORD)
    assert wrong[0] == unknown[0] == 401
    assert (
        wrong[1]
        == unknown[1]
        == {
            "error": "wrong account name or password",
            "field": "password",
        }
    )
    assert "Set-Cookie" not in wrong[2]
    rows = await audit(db, clerk.name)
    assert rows[-1][1:3] == ("console.login", "denied")
    assert rows[-1][3]["reason"] == "wrong password"
    assert rows[-1][3]["address"] == "127.0.0.1"
    for bad, field in (
        ({"name": "a b", "password": "x"}, "name"),
        ({"name": "a"}, "password"),
    ):
        status, body, _ = await client.call("POST", "/api/login", json=bad)
        assert (status, body["field"]) == (400, field)
    status, body, _ = await client.call(
        "POST", "/api/login", data="name=a", headers={"Content-Type": "text/plain"}
    )
    assert status == 400 and body["field"] == "body"
    status, body, _ = await client.call(
        "POST", "/api/login", json={"name": "x", "password": "y" * 5000}
    )
    assert status == 400 and "4096 bytes" in body["error"]


async def test_failed_sign_ins_throttle_the_account(console, db):
    app, clock, client = await console(login_max_failures=3, login_failure_window_s=600)
    clerk = await add(app)
    for _ in range(3):
        assert (await client.login(clerk.name, "wrong password..."))[0] == 401
        clock.advance(seconds=10)
    # the fourth attempt is refused before its password is looked at, right or wrong
    status, body, headers = await client.login(clerk.name)
    assert status == 429 and body["field"] == "retry_after"
    assert headers["Retry-After"] == "570"  # failures at 0, 10, 20 s; now 30 s
    assert "account" in body["error"]
    assert (await audit(db, clerk.name))[-1][3]["reason"] == "throttled (account)"
    # just before the first failure leaves the window: still throttled
    clock.advance(seconds=569)
    assert (await client.login(clerk.name))[0] == 429
    clock.advance(seconds=1)
    status, _, _ = await client.login(clerk.name)
    assert status == 200
    # a success forgets the account's failures
    assert (await client.login(clerk.name, "wrong password..."))[0] == 401
    assert (await client.login(clerk.name))[0] == 200


async def test_failed_sign_ins_throttle_the_client_address(console):
    app, _, client = await console(
        login_max_failures=100, login_max_failures_per_address=4
    )
    for _ in range(4):  # four accounts guessed, one try each
        assert (await client.login(fresh_name(), "guess guess guess"))[0] == 401
    clerk = await add(app)
    status, body, _ = await client.login(clerk.name)
    assert status == 429 and "address" in body["error"]


async def test_sessions_expire_when_idle_and_after_the_absolute_time(console):
    app, clock, client = await console(session_idle_s=60, session_absolute_s=300)
    clerk = await add(app)
    assert (await client.login(clerk.name))[0] == 200
    clock.advance(seconds=59)
    assert (await client.call("GET", "/api/session"))[0] == 200  # used: idle restarts
    clock.advance(seconds=59)
    assert (await client.call("GET", "/api/session"))[0] == 200
    clock.advance(seconds=60)
    status, body, headers = await client.call("GET", "/api/session")
    assert status == 401 and "1 minute without use" in body["error"]
    assert COOKIE in headers["Set-Cookie"]  # the browser drops the dead cookie
    status, _, headers = await client.call("GET", "/")
    assert status == 303 and headers["Location"] == "/login?next=/"

    assert (await client.login(clerk.name))[0] == 200
    for _ in range(5):
        clock.advance(seconds=50)
        assert (await client.call("GET", "/api/session"))[0] == 200
    clock.advance(seconds=49)  # 299 s after sign-in
    assert (await client.call("GET", "/api/session"))[0] == 200
    clock.advance(seconds=1)
    status, body, _ = await client.call("GET", "/api/session")
    assert status == 401 and "5 minutes after sign-in" in body["error"]


async def test_a_clerk_cannot_open_the_operator_page_status_or_accounts(console):
    app, _, client = await console()
    clerk = await add(app)
    await client.login(clerk.name)
    for method, path in (
        ("GET", "/operator"),
        ("GET", "/api/status"),
        ("GET", "/api/accounts"),
        ("POST", "/api/accounts"),
        ("POST", f"/api/accounts/{clerk.name}/disable"),
    ):
        status, body, _ = await client.call(method, path, json={})
        assert status == 403, (path, body)
        assert body["field"] == "role" and "needs an operator account" in body["error"]

    operator = await add(app, "operator")
    await client.login(operator.name)
    for path in ("/operator", "/api/status", "/api/accounts", "/", "/api/session"):
        assert (await client.call("GET", path))[0] == 200, path
    assert (await client.call("GET", "/api/session"))[1]["operator_page"] is True


async def test_unauthenticated_requests_get_the_login_page_or_401(console):
    _, _, client = await console()
    for method, path in (
        ("GET", "/api/session"),
        ("POST", "/api/verify"),
        ("POST", "/api/verify-image?purpose=x"),
        ("POST", "/api/verify-pdf"),
        ("POST", "/api/verify-ofd"),
        ("GET", "/api/status"),
        ("GET", "/api/accounts"),
    ):
        status, body, _ = await client.call(method, path, json={"code": "LC1:x"})
        assert status == 401, path
        assert body == {
            "error": "sign in first: this request carries no session",
            "field": "session",
        }
    status, body, _ = await client.call("GET", "/api/session", cookie="forged")
    assert status == 401 and "not known" in body["error"]
    for path in ("/", "/operator"):
        status, _, headers = await client.call("GET", path)
        assert status == 303 and headers["Location"] == f"/login?next={path}"
    status, page, _ = await client.call("GET", "/login")
    assert status == 200 and 'id="login-form"' in page


async def test_every_response_has_hsts_and_frame_denial_and_no_server_version(console):
    app, _, client = await console()
    clerk = await add(app)
    await client.login(clerk.name)
    for method, path, cookie in (
        ("GET", "/login", ""),
        ("GET", "/", ""),
        ("GET", "/", None),
        ("GET", "/api/session", ""),
        ("GET", "/static/console.css", ""),
        ("GET", "/no/such/page", ""),
        ("GET", "/healthz", ""),
        ("POST", "/api/login", ""),
        ("GET", "/operator", None),
    ):
        _, _, headers = await client.call(method, path, cookie=cookie)
        assert headers["Strict-Transport-Security"].startswith("max-age="), path
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["Server"] == "certseal-console", (path, headers["Server"])


async def test_a_post_from_another_site_is_refused_before_sign_in(console):
    app, _, client = await console()
    clerk = await add(app)
    status, _, headers = await client.call(
        "POST",
        "/api/login",
        json={"name": clerk.name, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert status == 403 and "Set-Cookie" not in headers
    status, _, _ = await client.call(
        "POST",
        "/api/login",
        json={"name": clerk.name, "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert status == 403


async def test_operators_manage_accounts_through_the_api(console, db):
    app, _, client = await console()
    operator = await add(app, "operator")
    await client.login(operator.name)
    name, department = fresh_name(), fresh_uscc()
    status, body, _ = await client.call(
        "POST",
        "/api/accounts",
        json={
            "name": name,
            "department": department,
            "role": "clerk",
            "password": PASSWORD,
        },
    )
    assert status == 201 and body["counter"] == f"dept:{department}"
    assert (
        await client.call(
            "POST",
            "/api/accounts",
            json={
                "name": name,
                "department": department,
                "role": "clerk",
                "password": PASSWORD,
            },
        )
    )[0:2] == (
        409,
        {"error": "an account with this name exists already", "field": "name"},
    )
    for bad, field in (
        ({"department": "123", "role": "clerk", "password": PASSWORD}, "department"),
        ({"department": department, "role": "root", "password": PASSWORD}, "role"),
        ({"department": department, "role": "clerk", "password": "short"}, "password"),
        ({"department": department, "role": "clerk"}, "password"),
    ):
        status, body, _ = await client.call(
            "POST", "/api/accounts", json={"name": fresh_name(), **bad}
        )
        assert (status, body["field"]) == (400, field), body
    _, listed, _ = await client.call("GET", "/api/accounts")
    assert name in {a["name"] for a in listed["accounts"]}

    clerk = Client(client.session, client.url)
    assert (await clerk.login(name))[0] == 200
    status, body, _ = await client.call("POST", f"/api/accounts/{name}/disable")
    assert status == 200 and body["disabled"] is True
    # disabling revoked the clerk's session, and it cannot sign in again
    assert (await clerk.call("GET", "/api/session"))[0] == 401
    status, body, _ = await clerk.login(name)
    assert status == 403 and "disabled" in body["error"]
    assert (await client.call("POST", f"/api/accounts/{name}/enable"))[0] == 200
    assert (await clerk.login(name))[0] == 200
    new = "another-password-2"
    status, _, _ = await client.call(
        "POST", f"/api/accounts/{name}/password", json={"password": new}
    )
    assert status == 200
    assert (await clerk.call("GET", "/api/session"))[0] == 401  # sessions ended
    assert (await clerk.login(name, new))[0] == 200
    status, body, _ = await client.call("POST", "/api/accounts/nobody-here/disable")
    assert status == 404
    status, body, _ = await client.call("POST", f"/api/accounts/{name}/promote")
    assert status == 404 and "disable, enable or password" in body["error"]
    rows = await audit(db, name)
    changes = [(actor, action) for actor, action, _, _ in rows if "account" in action]
    assert changes == [
        (operator.principal, "console.account.add"),
        (operator.principal, "console.account.disable"),
        (operator.principal, "console.account.enable"),
        (operator.principal, "console.account.password"),
    ]
    hashes = await db.fetchval(
        "select password_hash from console_accounts where name = $1", name
    )
    assert hashes.startswith("$argon2id$") and new not in hashes


async def test_a_browser_client_certificate_signs_in(console, stack):
    name, cn = fresh_name(), f"clerk:{secrets.token_hex(4)}"
    ident = stack.ca.identity(cn)
    app, _, client = await console(cert=(str(ident.cert_file), str(ident.key_file)))
    clerk = await add(app, name=name, password=None, certificate=cn)
    status, body, headers = await client.call("POST", "/api/login/certificate")
    assert status == 200, body
    assert body["account"]["name"] == clerk.name and COOKIE in headers["Set-Cookie"]
    # no password to guess: password sign-in fails for it
    assert (await client.login(clerk.name, "any password at all"))[0] == 401

    _, _, anonymous = await console()
    status, body, _ = await anonymous.call("POST", "/api/login/certificate")
    assert status == 401 and "no client certificate" in body["error"]


async def test_cli_account_commands(config, tmp_path, db):
    name, department = fresh_name(), fresh_uscc()
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")

    async def certseal(*args: str) -> tuple[int, str]:
        return await run_certseal(config, tmp_path, "console", "account", *args)

    status, out = await certseal(
        "add",
        name,
        "--department",
        department,
        "--role",
        "clerk",
        "--password-file",
        str(secret),
    )
    assert status == 0, out
    assert f"added {name}" in out and f"dept:{department}" in out
    status, out = await certseal("list")
    assert status == 0 and name in out and "enabled" in out
    status, out = await certseal("disable", name)
    assert status == 0 and "disabled" in out
    status, out = await certseal("enable", name)
    assert status == 0 and "enabled" in out
    secret.write_text("a-new-password-3")
    status, out = await certseal("password", name, "--password-file", str(secret))
    assert status == 0 and "password set" in out
    actions = [(a.split(":")[0], action) for a, action, _, _ in await audit(db, name)]
    assert actions == [
        ("cli", "console.account.add"),
        ("cli", "console.account.disable"),
        ("cli", "console.account.enable"),
        ("cli", "console.account.password"),
    ]

    status, out = await certseal(
        "add",
        fresh_name(),
        "--department",
        "12345",
        "--role",
        "clerk",
        "--password-file",
        str(secret),
    )
    assert status == 2 and out.startswith("error: department:"), out
    status, out = await certseal(
        "add",
        name,
        "--department",
        department,
        "--role",
        "clerk",
        "--password-file",
        str(secret),
    )
    assert status == 1 and "exists already" in out
    status, out = await certseal("disable", "nobody-" + secrets.token_hex(3))
    assert status == 1 and "not found" in out
    status, out = await certseal("password", name, "--password-file", "/nonexistent")
    assert status == 2 and "error: password-file:" in out
    assert "Traceback" not in out


async def test_the_console_exports_its_own_metrics_and_no_one_elses(console):
    port = free_port()
    _, _, client = await console(metrics_listen=f"127.0.0.1:{port}")
    status, _, _ = await client.call("GET", "/login")
    assert status == 200
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        assert reply.status == 200
        text = await reply.text()
    assert 'certseal_console_http_requests_total{route="/login",status="200"} 1.0' in (
        text
    )
    # the console runs no outbox, audit sealer, RPC server or index
    for foreign in (
        "certseal_outbox_",
        "certseal_audit_",
        "certseal_rpc_",
        "index_lag",
    ):
        assert foreign not in text, foreign


async def test_nested_or_undecodable_json_is_a_400_naming_the_body(console):
    """A 3,000-byte body of nested arrays made the JSON decoder recurse (500); bytes
    that are not UTF-8 made request.json() fail with UnicodeDecodeError (500)."""
    app, _, client = await console()
    nested = b"[" * 1500 + b"]" * 1500
    json_type = {"Content-Type": "application/json"}
    status, body, _ = await client.call(
        "POST", "/api/login", data=nested, headers=json_type
    )
    assert (status, body["field"]) == (400, "body"), body
    assert "nests 1500 levels" in body["error"]
    status, body, _ = await client.call(
        "POST", "/api/login", data=b'{"name":"\xff\xfe"}', headers=json_type
    )
    assert (status, body["field"]) == (400, "body"), body
    assert "not UTF-8" in body["error"]

    clerk = await add(app)
    await client.login(clerk.name)
    for data, says in (
        (b'{"code": ' + b"[" * 100000 + b"]" * 100000 + b"}", "nests"),
        (b'{"code":"\xff\xfe"}', "not UTF-8"),
        (b'{"code": "LC1:x",', "not JSON"),
        (b"[1]", "not a JSON object"),
    ):
        status, body, _ = await client.call(
            "POST", "/api/verify", data=data, headers=json_type
        )
        assert (status, body["field"]) == (400, "body"), (data[:20], body)
        assert says in body["error"]
