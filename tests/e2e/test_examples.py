"""The example integrator keeps a correct licence status table across restarts and
duplicate deliveries, using nothing but the topic contract."""

import secrets
from pathlib import Path

from certseal.v1 import issuer_pb2 as pb
from examples.licence_status_table import StatusTable, follow
from tests.conftest import issue_request

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DOC = (ROOT / "docs" / "events.md").read_text()


async def database_statuses(issuer, lineages) -> dict[str, tuple[str, int]]:
    rows = await issuer.pool.fetch(
        """select lineage, identifier, status from licences
           where lineage = any($1::text[]) and superseded_by is null""",
        list(lineages),
    )
    return {r["lineage"]: (r["identifier"], int(r["status"])) for r in rows}


async def test_status_table_matches_the_issuer_after_a_restart(
    stack, issuer, dept, tmp_path
):
    stub = dept.clients.issuer
    bootstrap = stack.config.kafka.bootstrap_servers
    group = f"integrator-{secrets.token_hex(3)}"
    licences = [
        (await stub.IssueLicence(issue_request(dept))).licence for _ in range(4)
    ]
    await stub.RevokeLicence(
        pb.RevokeLicenceRequest(
            identifier=licences[0].identifier,
            reason="伪造",
            kind=pb.REVOCATION_KIND_REVOKE,
        )
    )
    # the embedded broker holds a group until its session times out: keep that short
    table = StatusTable(tmp_path / "statuses.sqlite")
    await follow(bootstrap, group, table, until_caught_up=True, session_timeout_ms=6000)
    lineages = [lic.lineage for lic in licences]
    # the integrator "restarts": new changes while it is away, then it resumes
    table.close()
    await stub.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=licences[1].identifier)
    )
    amend = pb.AmendLicenceRequest(identifier=licences[2].identifier, reason="升级")
    amend.fields["class"].string_value = "A1"
    await stub.AmendLicence(amend)
    table = StatusTable(tmp_path / "statuses.sqlite")
    await follow(bootstrap, group, table, until_caught_up=True, session_timeout_ms=6000)
    expected = await database_statuses(issuer, lineages)
    assert {n: table.status(n) for n in lineages} == expected
    assert expected[licences[0].lineage][1] == 3  # revoked
    assert expected[licences[1].lineage][1] == 2  # suspended

    # everything delivered again (a new group from the beginning): our rows stay as
    # they are, down to the event that last changed them
    def rows():
        return table.db.execute(
            "select * from licence_status where lineage in (?, ?, ?, ?) order by 1",
            lineages,
        ).fetchall()

    before = rows()
    await follow(bootstrap, f"{group}-replay", table, until_caught_up=True)
    assert rows() == before
    table.close()


async def test_the_worked_example_runs_as_written_in_the_docs(
    stack, issuer, dept, tmp_path
):
    """docs/events.md's commands, run by a shell exactly as written, in a folder with
    only ``protos/`` and ``examples/`` and a fresh venv (nothing of certseal
    installed): the classes come from protoc on ``protos/``."""
    import asyncio
    import re
    import sqlite3

    root = ROOT
    block = re.search(r"<!-- worked-example -->\s*```sh\n(.*?)```", EVENTS_DOC, re.S)
    assert block, "docs/events.md lost its worked example"
    for folder in ("protos", "examples"):
        (tmp_path / folder).symlink_to(root / folder)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        block.group(1),
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "CERTSEAL_KAFKA": stack.config.kafka.bootstrap_servers,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, out.decode()[-3000:]
    # the one line the docs say success is
    last = out.decode().strip().splitlines()[-1]
    assert re.fullmatch(
        r"applied \d+ events; \d+ lineages in integrator-demo/statuses\.sqlite: .*",
        last,
    ), last
    assert set(p.name for p in tmp_path.iterdir()) == {
        "protos",
        "examples",
        "integrator-demo",
    }  # nothing else left in the checkout
    with sqlite3.connect(tmp_path / "integrator-demo" / "statuses.sqlite") as db:
        row = db.execute(
            "select identifier, status from licence_status where lineage = ?",
            (licence.lineage,),
        ).fetchone()
    assert row == (licence.identifier, 1)
