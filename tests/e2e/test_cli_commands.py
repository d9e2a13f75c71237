"""The CLI can do what the API does: every RPC an operator or a department runs by hand
has a ``certseal`` command (checked against the proto descriptors, so a new RPC without
one fails here), and a department amends and transfers a licence, registers a seal and
seals and verifies a document and a PDF from the command line on the real stack."""

from pathlib import Path

import pytest

from certseal.v1 import feed_pb2, issuer_pb2, licence_pb2, seal_pb2, verifier_pb2
from services.cli import build_parser
from tests.conftest import (
    blank_pdf,
    fresh_uscc,
    issue_request,
    make_department,
    run_certseal,
)
from tests.conftest import seal_owner as new_seal_owner

D = "91350100M000100Y43"
ID = "1.2.156.3005.2.X"
T = f"{D}001"  # a type code of the right form: the parser checks it (trial 2)
#: RPC -> a command line that calls it
COMMANDS = {
    "Issuer.IssueLicence": f"licence --as {D} issue --type {T} --holder-name 张三 --id-number 1",
    "Issuer.GetLicence": f"licence --as {D} get {ID}",
    "Issuer.ListLicences": f"licence --as {D} list --type {T}",
    "Issuer.RenewLicence": f"licence --as {D} renew {ID}",
    "Issuer.AmendLicence": f"licence --as {D} amend {ID} --field class=A1 --reason r",
    "Issuer.SuspendLicence": f"licence --as {D} suspend {ID}",
    "Issuer.UnsuspendLicence": f"licence --as {D} unsuspend {ID}",
    "Issuer.RevokeLicence": f"licence --as {D} revoke {ID} --reason r",
    "Issuer.CancelLicence": f"licence --as {D} cancel {ID}",
    "Issuer.TransferLicence": f"licence --as {D} transfer {ID} --to {D} --reason r",
    "Issuer.GetLicenceCode": f"licence --as {D} code {ID}",
    "Issuer.CreatePresentationCode": f"licence --as {D} present {ID}",
    "LicenceHolder.GetLicenceDocument": f"licence --as {D} document {ID} --out f.pdf",
    # the holder's side, as a holder app (docs/holder.md)
    "LicenceHolder.AuthoriseUse": (
        f"holder --as w authorise {ID} --id-number 1 --department {D} --purpose p "
        "--field class"
    ),
    "LicenceHolder.RevokeAuthorisation": "holder --as w withdraw au-0 --id-number 1",
    "Issuer.ListLicenceUsage": f"holder --as w usage {ID} --id-number 1",
    "IssuerAdmin.OnboardDepartment": f"department add {D} --name n --roles issuer",
    "IssuerAdmin.ListDepartments": "department list",
    "IssuerAdmin.SetDepartmentRoles": f"department roles {D} --roles issuer,counter",
    "IssuerAdmin.RegisterLicenceType": f"type add --code {T} --name n --issuers {D}",
    "IssuerAdmin.SetLicenceTypeIssuers": f"type issuers {T} --issuers {D}",
    "IssuerAdmin.ListLicenceTypes": "type list",
    "IssuerAdmin.CreateSigningKey": f"key create {D} --suite sm2",
    "IssuerAdmin.RotateSigningKey": f"key rotate {D} --suite sm2",
    "IssuerAdmin.RetireSigningKey": "key retire 00aa",
    "IssuerAdmin.RevokeSigningKey": "key revoke 00aa --reason r",
    "IssuerAdmin.ListSigningKeys": f"key list {D}",
    "IssuerAdmin.GrantHolderApp": f"holder-app grant app:x --type {T}",
    "IssuerAdmin.RevokeHolderApp": f"holder-app revoke app:x --type {T}",
    "IssuerAdmin.ListHolderAppGrants": "holder-app list",
    "IssuerAdmin.Republish": "republish",
    "Seal.RegisterSeal": f"seal --as {D} register --type official --name n",
    "Seal.GetSeal": "seal get S",
    "Seal.ListSeals": f"seal --as {D} list --owner {D}",
    "Seal.RevokeSeal": f"seal --as {D} revoke S --reason r",
    "Seal.SealDocument": f"seal --as {D} document S f --out o",
    "Seal.VerifySealedDocument": "seal verify sig f",
    "Seal.InspectSes": "seal inspect f",  # offline, through the same reader
    "Seal.SealPdf": f"seal --as {D} pdf S f.pdf --out o.pdf",
    "Seal.VerifyPdf": "seal verify-pdf f.pdf",
    "Seal.SealOfd": f"seal --as {D} ofd S f.ofd --out o.ofd",
    "Seal.VerifyOfd": "seal verify-ofd f.ofd",
    "Seal.RepublishSeals": "republish",  # the same command, after the issuer's part
    "Verifier.VerifyCode": "verify --purpose p LC1:X",
    "Verifier.VerifyImage": "verify --purpose p --image code.png",
    "Verifier.VerifyCodes": "verify --purpose p --codes codes.txt",
    "Verifier.GetIndexStatus": "verifier status",
    "Verifier.ExportTrustBundle": "bundle fetch --out b",
    "EventFeed.Subscribe": "events tail",
    "EventFeedAdmin.SetEntitlement": "feed entitle integrator:x --type *",
    "EventFeedAdmin.GetEntitlement": "feed entitlement integrator:x",
    "EventFeedAdmin.ListEntitlements": "feed entitlements",
    "EventFeedAdmin.RemoveEntitlement": "feed revoke integrator:x",
    "EventFeedAdmin.RegisterWebhook": (
        "feed webhook h --integrator integrator:x --url https://x --secret-file f"
    ),
    "EventFeedAdmin.ListWebhooks": "feed webhooks",
    "EventFeedAdmin.RemoveWebhook": "feed remove-webhook h",
    "EventFeedAdmin.ListParkedDeliveries": "feed parked h",
    "EventFeedAdmin.ReplayParkedDeliveries": "feed replay h",
}
#: RPCs for systems, not for a person at a terminal, and why
NOT_BY_HAND = {
    "Issuer.IssueLicences": "batch issuance by a department's own system",
    # a clerk redeems at the counter console's page (docs/holder.md)
    "Redemption.RedeemAuthorisation": (
        "a clerk redeems on the counter console's page, a department's system over gRPC"
    ),
    # between the workers of one partitioned verifier group (docs/architecture.md §6)
    "VerifierPeer.LookupEntries": "a worker asks the owner of a lineage's partition",
}


def test_every_hand_run_rpc_has_a_command():
    rpcs = {
        f"{service.name}.{method.name}"
        for module in (issuer_pb2, seal_pb2, verifier_pb2, feed_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(COMMANDS) | set(NOT_BY_HAND) == rpcs
    assert not set(COMMANDS) & set(NOT_BY_HAND)
    parser = build_parser()
    for rpc, line in COMMANDS.items():
        args = parser.parse_args(line.split())
        assert callable(args.func), rpc


async def test_a_signer_not_onboarded_seals_with_the_issuer_down(
    operator, config, seal_app, cli, tmp_path
):
    """atk24b F3/F4: ``seal --as`` asked the issuer whether the department was
    onboarded before every seal call, so a signer department the seal service
    accepts (any ``dept:`` identity a seal names) was refused, and every seal
    command failed while the issuer was down. The issuer is not asked: a signer
    not onboarded acts once its identity was made (``dev identity``), and the seal
    service answers for the rest."""
    owner, signer = await new_seal_owner(operator), fresh_uscc()
    code, out = await cli(
        "seal", "--as", owner, "register", "--type", "official", "--name", "合同章",
        "--suite", "ed25519", "--signer", f"dept:{signer}",
    )  # fmt: skip
    assert code == 0, out
    seal_id = out.split("seal        ", 1)[1].split()[0]
    code, made = await cli("dev", "identity", f"dept:{signer}")
    assert code == 0, made
    document = tmp_path / "contract.txt"
    document.write_bytes("合同".encode() * 50)
    code, out = await run_certseal(
        config, tmp_path,
        "seal", "--as", signer, "document", seal_id, str(document),
        "--out", str(tmp_path / "contract.ses"),
        issuer_target="127.0.0.1:1",  # nobody: the issuer is not asked
        seal_target=f"localhost:{seal_app.port}",
    )  # fmt: skip
    assert code == 0 and (tmp_path / "contract.ses").stat().st_size > 100, out


async def test_seal_as_a_department_the_stack_does_not_know_makes_no_certificate(
    operator, config, seal_app, cli, tmp_path
):
    """``seal --as CODE`` made a dev certificate for any well-formed code, even
    with the stack down. A department is known when the dev CA made its identity
    or the seal service knows it onboarded; anything else is refused, exit 2, and
    a seal service that does not answer is its failure: nothing made either way."""
    tls = Path(config.tls.ca_file).parent
    unknown = fresh_uscc()
    made = [tls / f"dept_{unknown}.pem", tls / f"dept_{unknown}.key"]
    code, out = await cli("seal", "--as", unknown, "list")
    assert code == 2, out
    assert out.startswith(f"error: as: the stack knows no dept:{unknown}"), out
    assert f"'certseal dev identity dept:{unknown}' makes its identity" in out, out
    assert not any(path.exists() for path in made)
    code, out = await run_certseal(
        config, tmp_path, "seal", "--as", unknown, "list",
        issuer_target="127.0.0.1:1", seal_target="127.0.0.1:1",
    )  # fmt: skip
    assert code == 1 and "error: " in out, out
    assert not any(path.exists() for path in made)
    owner = await new_seal_owner(operator)  # onboarded: its identity made on use
    code, out = await cli("seal", "--as", owner, "list")
    assert code == 0, out
    assert (tls / f"dept_{owner}.pem").exists()


async def test_a_department_amends_and_transfers_from_the_cli(operator, connect, cli):
    receiver = await make_department(operator, connect)
    sender = await make_department(operator, connect, type_issuers=[receiver.code])
    licence = (await sender.clients.issuer.IssueLicence(issue_request(sender))).licence

    code, out = await cli(
        "licence", "--as", sender.code, "amend", licence.identifier,
        "--field", "class=A1", "--reason", "升级",
    )  # fmt: skip
    assert code == 0, out
    amended = out.split("identifier  ", 1)[1].split()[0]
    # the key's suite is printed without --suite (looked up as the operator)
    assert f"signed by   key {sender.kid} (es256)" in out, out
    assert amended != licence.identifier and "class = A1" in out

    code, out = await cli(
        "licence", "--as", sender.code, "transfer", amended,
        "--to", receiver.code, "--reason", "迁出",
    )  # fmt: skip
    assert code == 0, out
    assert "transferred out (06)" in out and "valid (01)" in out
    assert receiver.code in out.split("--", 1)[1]

    code, out = await cli("licence", "--as", receiver.code, "list", "--status", "1")
    assert code == 0 and receiver.code in out, out
    code, out = await cli(
        "licence", "--as", sender.code, "amend", amended, "--field", "nonsense",
        "--reason", "r",
    )  # fmt: skip
    assert code == 2 and "error: field:" in out
    # a refusal of the request's revoked_at names this command's --at (nu17)
    code, out = await cli(
        "key", "revoke", sender.kid, "--reason", "r", "--at", "2000-01-01T00:00:00Z"
    )
    assert code == 2 and out.startswith("error: at: "), out


async def test_a_seal_owner_seals_and_anyone_verifies_from_the_cli(
    operator, cli, tmp_path
):
    owner = await new_seal_owner(operator)
    code, out = await cli(
        "seal", "--as", owner, "register", "--type", "official", "--name", "测试专用章",
        "--suite", "es256",
    )  # fmt: skip
    assert code == 0, out
    seal_id = out.split("seal        ", 1)[1].split()[0]
    document = tmp_path / "notice.txt"
    document.write_bytes("通知".encode() * 100)
    signature = tmp_path / "notice.ses"
    code, out = await cli(
        "seal", "--as", owner, "document", seal_id, str(document),
        "--out", str(signature),
    )  # fmt: skip
    assert code == 0 and signature.stat().st_size > 100, out
    code, out = await cli("seal", "verify", str(signature), str(document))
    assert code == 0 and "verdict     VALID" in out, out
    assert "  [ok] data hash: " in out and "(active)" in out  # licence verify's marks
    [seal_line] = [line for line in out.splitlines() if line.startswith("seal ")]
    document.write_bytes(b"changed")
    code, out = await cli("seal", "verify", str(signature), str(document))
    assert code == 1 and "MODIFIED" in out, out
    # words39: the seal's line with its status, as VALID shows it, before the verdict
    lines = out.splitlines()
    assert lines.index(seal_line) < lines.index("verdict     MODIFIED"), out
    assert seal_line.endswith(" (active)"), seal_line
    assert "  [FAILED] data hash: " in out and "()" not in out, out

    pdf, sealed = tmp_path / "blank.pdf", tmp_path / "sealed.pdf"
    pdf.write_bytes(blank_pdf())
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal_id, str(pdf), "--out", str(sealed)
    )
    assert code == 0, out
    code, out = await cli("seal", "verify-pdf", str(sealed))
    assert code == 0 and "VALID" in out and "1 seal(s)" in out, out
    # the seal service's x_mm is named as the option is typed, --x-mm (nu17)
    code, out = await cli(
        "seal", "--as", owner, "pdf", seal_id, str(pdf), "--out", str(sealed),
        "--x-mm", "1e300",
    )  # fmt: skip
    assert code == 2 and out.startswith("error: x-mm: "), out

    code, out = await cli("seal", "--as", owner, "list", "--owner", owner)
    assert code == 0 and seal_id in out, out
    code, out = await cli("seal", "--as", owner, "revoke", seal_id, "--reason", "停用")
    assert code == 0 and "status      revoked (停用)" in out, out
    code, out = await cli("seal", "verify", str(signature), str(tmp_path / "missing"))
    assert code == 2 and "error: file:" in out


async def test_the_walk_through_order_and_its_refusals_name_their_field(
    operator, connect, cli, tmp_path
):
    """README's order (amend, transfer the current version while valid, revoke last as
    the receiving department), and each refusal a newcomer meets printed as
    ``error: <field>: <problem>``."""
    receiver = await make_department(operator, connect)
    outsider = await make_department(operator, connect)  # not an issuer of the type
    sender = await make_department(
        operator,
        connect,
        type_issuers=[receiver.code],
        roles=(
            licence_pb2.DEPARTMENT_ROLE_ISSUER,
            licence_pb2.DEPARTMENT_ROLE_SEAL_OWNER,
        ),
    )
    first = (await sender.clients.issuer.IssueLicence(issue_request(sender))).licence
    code, out = await cli(
        "licence", "--as", sender.code, "amend", first.identifier,
        "--field", "class=A1", "--reason", "增驾",
    )  # fmt: skip
    assert code == 0, out
    amended = out.split("identifier  ", 1)[1].split()[0]

    code, out = await cli(
        "licence", "--as", sender.code, "transfer", first.identifier,
        "--to", receiver.code, "--reason", "迁出",
    )  # fmt: skip
    assert code == 1 and out.startswith(
        f"error: identifier: cannot transfer: this version was superseded by {amended}"
    ), out
    code, out = await cli(
        "licence", "--as", sender.code, "transfer", amended,
        "--to", outsider.code, "--reason", "迁出",
    )  # fmt: skip
    assert code == 1 and out.startswith(
        f"error: to: department {outsider.code} may not issue "
        f"licence type {sender.type_code}"
    ), out
    code, out = await cli(
        "licence", "--as", sender.code, "transfer", amended,
        "--to", receiver.code, "--reason", "迁出",
    )  # fmt: skip
    assert code == 0, out
    moved = out.split("--", 1)[1].split("identifier  ", 1)[1].split()[0]
    code, out = await cli(
        "licence", "--as", receiver.code, "revoke", moved,
        "--reason", "伪造材料", "--sanction",
    )  # fmt: skip
    assert code == 0 and "revoked as a sanction (07)" in out, out
    code, out = await cli(
        "licence", "--as", receiver.code, "amend", moved,
        "--field", "class=B1", "--reason", "r",
    )  # fmt: skip
    assert code == 1 and out.startswith(
        "error: identifier: cannot amend a licence whose status is revoked as a sanction"
    ), out
    code, out = await cli("licence", "--as", outsider.code, "get", moved)
    assert code == 1 and out.startswith("error: as: "), out
    code, out = await cli(
        "licence", "--as", outsider.code, "issue", "--type", sender.type_code,
        "--holder-name", "张三", "--id-number", "440301199001011234",
    )  # fmt: skip
    assert code == 1 and out.startswith(
        f"error: type: department {outsider.code} may not issue licence type"
    ), out

    code, out = await cli(
        "seal", "--as", receiver.code, "register", "--type", "official",
        "--name", "示例专用章",
    )  # fmt: skip
    assert code == 1 and out.startswith(
        f"error: as: department {receiver.code} does not have the seal_owner role "
        "(an operator gives it: 'certseal department roles CODE"
    ), out
    code, out = await cli(
        "seal", "--as", sender.code, "register", "--type", "official",
        "--name", "示例专用章", "--suite", "sm2",
    )  # fmt: skip
    assert code == 0, out
    sm2_seal = out.split("seal        ", 1)[1].split()[0]
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(blank_pdf())
    code, out = await cli(
        "seal", "--as", sender.code, "pdf", sm2_seal, str(pdf),
        "--out", str(tmp_path / "out.pdf"),
    )  # fmt: skip
    assert code == 1 and out.startswith("error: seal-id: PDFs are sealed by es256"), out
    assert "'certseal seal document'" in out


def test_every_command_says_what_it_does_and_what_it_accepts(capsys):
    """--help: each subcommand has a description, no doubled words, and type add names
    the field TYPEs it accepts."""
    from services import cli as entry

    for argv in (
        ["department", "--help"],
        ["key", "--help"],
        ["feed", "--help"],
        ["licence", "--help"],
        ["seal", "--help"],
    ):
        with pytest.raises(SystemExit):
            entry.main(argv)
        out = capsys.readouterr().out
        # argparse lists each subcommand indented by 4, its help on the same line
        for line in out.split("options:")[0].splitlines():
            if line.startswith("    ") and not line.startswith("     "):
                assert len(line.split()) > 1, f"{argv}: {line.strip()} has no help"
        assert "parked parked" not in out
    with pytest.raises(SystemExit):
        entry.main(["type", "add", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "TYPE one of string, integer, boolean, date" in out


async def test_the_operators_errors_name_the_options_typed(cli, operator):
    """nu24: errors named the request's fields (``department_code``,
    ``owner_code``), which the user never typed; and ``seal list`` as the
    operator without ``--owner`` printed nothing (the operator owns no seals)."""
    code, out = await cli("key", "create", "9144XXXX", "--suite", "es256")
    assert code == 2 and out.startswith("error: department: must be 18 characters"), out
    # a listing of what no department is, refused rather than empty
    code, out = await cli("key", "list", "9144XXXX")
    assert code == 2 and out.startswith("error: department: must be 18 characters"), out
    unknown = fresh_uscc()
    code, out = await cli("key", "list", unknown)
    assert (code, out.strip()) == (
        2,
        f"error: department: department {unknown} is not onboarded",
    )
    code, out = await cli(
        "type", "add", "--code", "T" + fresh_uscc(), "--name", "测试证",
        "--issuers", fresh_uscc(),
    )  # fmt: skip
    # the parser's refusal (trial 2): the error alone, no usage (trial53 P8)
    assert code == 2 and out.startswith("error: code: 'T"), out
    assert len(out.splitlines()) == 1, out
    unknown = fresh_uscc()
    code, out = await cli(
        "type", "add", "--code", fresh_uscc() + "001", "--name", "测试证",
        "--issuers", unknown,
    )  # fmt: skip
    assert code == 2, out
    assert out.startswith(f"error: issuers: department {unknown} is not onboarded")
    code, out = await cli("seal", "list")
    assert code == 2, out
    assert out.startswith("error: owner: give the department whose seals to"), out
    code, out = await cli("seal", "list", "--owner", "bad")
    assert code == 2 and out.startswith("error: owner: "), out
    code, out = await cli("seal", "list", "--owner", unknown)
    assert (code, out.strip()) == (
        2,
        f"error: owner: department {unknown} is not onboarded",
    )
    owner = await new_seal_owner(operator)
    code, out = await cli("seal", "list", "--owner", owner)
    assert code == 0, out
