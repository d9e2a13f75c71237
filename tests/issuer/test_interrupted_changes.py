"""A Ctrl-C during a command's change says the key that repeats it once, and the
command run again with that key changes once (trial47: ``licence issue`` exited 130
without a word while the licence was issued, and the clerk's second try issued
another). The kind is every command that makes a change (certseal/cli_keys.py); here
two on the real issuer: an issuance and an amendment (a new version each time it is
asked for, so twice asked is visibly twice done)."""

from __future__ import annotations

import asyncio
import re
import signal

import pytest

from tests.conftest import issue_request, start_certseal

SAID = re.compile(
    r"interrupted: (\w+) was sent and not answered: it may be done; to be sure it is "
    r"done once, run the same command again with --idempotency-key (cli-[0-9a-f]{32})"
)
IDENTIFIER = re.compile(r"1\.2\.156\.[0-9A-Za-z.]+")


def _issue_argv(dept) -> list[str]:
    argv = [
        *("licence", "--as", dept.code, "issue", "--type", dept.type_code),
        *("--holder-name", "李四", "--id-number", "110101199003077774"),
        *("--field", "class=C1", "--field", "address=深圳市福田区"),
    ]
    return argv + (["--field", "grade=等级G7"] if dept.restricted else [])


async def _issued_unheld(dept, hold: asyncio.Event):
    """A licence issued over gRPC with the issuer's hold (``hold``) passed by."""
    hold.set()
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    hold.clear()
    return licence


def _amend_argv(dept, licence) -> list[str]:
    return [
        *("licence", "--as", dept.code, "amend", licence.lineage),
        *("--field", "class=B2", "--reason", "变更"),
    ]


@pytest.fixture
def held(issuer, monkeypatch):
    """The issuer holds its next answer of an issuance or an amendment (after the
    change, before the answer) until ``release`` is set; ``arrived`` says it holds."""
    arrived, release = asyncio.Event(), asyncio.Event()
    original = issuer.service.file_warnings

    async def file_warnings(record):
        if not arrived.is_set():
            arrived.set()
            await release.wait()
        return await original(record)

    monkeypatch.setattr(issuer.service, "file_warnings", file_warnings)
    yield arrived
    release.set()


async def _interrupted(config, folder, issuer, held, argv) -> tuple[str, str]:
    """Run ``argv``, Ctrl-C it while the issuer holds its answer; the method and the
    key it says."""
    target = {"issuer_target": f"localhost:{issuer.port}"}
    process = await start_certseal(config, folder, *argv, **target)
    try:
        async with asyncio.timeout(60):
            await held.wait()
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    said = out.decode()
    assert process.returncode == 130, said
    found = SAID.fullmatch(said.strip())
    assert found, said
    return found[1], found[2]


async def _again(config, folder, issuer, argv, key: str) -> str:
    """``argv`` run again with ``key``: exit 0; the identifier it prints."""
    target = {"issuer_target": f"localhost:{issuer.port}"}
    process = await start_certseal(
        config, folder, *argv, "--idempotency-key", key, **target
    )
    async with asyncio.timeout(120):
        out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return IDENTIFIER.findall(out.decode())[0]


async def _versions(issuer, where: str, value: str) -> int:
    return await issuer.pool.fetchval(
        f"select count(*) from licences where {where} = $1", value
    )


async def test_an_interrupted_issuance_repeated_with_its_key_issues_once(
    config, issuer, dept, held, tmp_path
):
    argv = _issue_argv(dept)
    method, key = await _interrupted(config, tmp_path, issuer, held, argv)
    assert method == "IssueLicence"
    first = await _again(config, tmp_path, issuer, argv, key)
    assert await _again(config, tmp_path, issuer, argv, key) == first  # its answer
    assert await _versions(issuer, "type_code", dept.type_code) == 1


async def test_an_interrupted_amendment_repeated_with_its_key_amends_once(
    config, issuer, dept, held, tmp_path
):
    licence = await _issued_unheld(dept, held)
    argv = _amend_argv(dept, licence)
    method, key = await _interrupted(config, tmp_path, issuer, held, argv)
    assert method == "AmendLicence"
    first = await _again(config, tmp_path, issuer, argv, key)
    assert await _again(config, tmp_path, issuer, argv, key) == first
    assert await _versions(issuer, "lineage", licence.lineage) == 2  # issued, amended


@pytest.mark.parametrize("change", ["IssueLicence", "AmendLicence"])
async def test_a_change_failed_for_a_retry_says_the_key_that_repeats_it_once(
    config, issuer, dept, monkeypatch, tmp_path, change
):
    """The database dropping a connection under each try after the change (the
    answer's warnings not read): the service answers UNAVAILABLE, "safe to retry with
    the same idempotency key", the CLI's retries run out, and the command says that
    key beside the error. The change is not kept without its answer: before, each
    of the CLI's five tries amended the licence again."""
    original = issuer.service.file_warnings
    failing = True

    async def file_warnings(record):
        if failing:
            raise ConnectionResetError(104, "Connection reset by peer")
        return await original(record)

    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    monkeypatch.setattr(issuer.service, "file_warnings", file_warnings)
    argv = _amend_argv(dept, licence)
    if change == "IssueLicence":
        argv = _issue_argv(dept)
    process = await start_certseal(
        config, tmp_path, *argv, issuer_target=f"localhost:{issuer.port}"
    )
    async with asyncio.timeout(120):
        out, _ = await process.communicate()
    lines = out.decode().strip().splitlines()
    assert process.returncode == 1, lines
    assert "safe to retry with the same idempotency key" in lines[0]
    found = re.fullmatch(
        rf"{change}: not known to be done; to be sure it is done once, run the "
        r"same command again with --idempotency-key (cli-[0-9a-f]{32})",
        lines[1],
    )
    assert found and len(lines) == 2, lines
    if change == "IssueLicence":
        assert await _versions(issuer, "type_code", dept.type_code) == 1  # the first
    else:
        assert await _versions(issuer, "lineage", licence.lineage) == 1
    failing = False
    first = await _again(config, tmp_path, issuer, argv, found[1])
    assert await _again(config, tmp_path, issuer, argv, found[1]) == first
    if change == "IssueLicence":
        assert await _versions(issuer, "type_code", dept.type_code) == 2
    else:
        assert await _versions(issuer, "lineage", licence.lineage) == 2


@pytest.fixture
def answered(issuer, monkeypatch):
    """The issuer commits its next change with its answer, then holds the answer
    until ``release`` is set: a Ctrl-C then leaves the change made, not rolled back
    (the ``held`` fixture's change is, as the cancelled call rolls it back)."""
    arrived, release = asyncio.Event(), asyncio.Event()
    original = issuer.idempotency.answer

    async def answer(scope, response):
        stored = await original(scope, response)
        if not arrived.is_set():
            arrived.set()
            await release.wait()
        return stored

    monkeypatch.setattr(issuer.idempotency, "answer", answer)
    yield arrived
    release.set()


async def test_the_key_said_finds_the_change_the_interrupted_command_made(
    config, issuer, dept, answered, tmp_path
):
    """The key said is the one the change was made with (atk48: the tests above cut
    the call before its commit, so the first run's change is rolled back and any key
    said would pass them): repeated with it, the committed amendment is answered,
    not made again."""
    licence = await _issued_unheld(dept, answered)
    argv = _amend_argv(dept, licence)
    method, key = await _interrupted(config, tmp_path, issuer, answered, argv)
    assert method == "AmendLicence"
    assert await _versions(issuer, "lineage", licence.lineage) == 2  # it was made
    amended = await _again(config, tmp_path, issuer, argv, key)
    assert amended != licence.identifier
    assert await _versions(issuer, "lineage", licence.lineage) == 2  # and only once
