"""The example integrator keeps a correct licence status table across restarts and
duplicate deliveries, using nothing but the topic contract."""

import secrets

from certseal.v1 import issuer_pb2 as pb
from examples.licence_status_table import StatusTable, follow
from tests.conftest import issue_request


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
