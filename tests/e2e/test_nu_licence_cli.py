"""What a new user met at ``certseal licence`` (fixnu-b): ``--field`` values read as
the licence type declares them, ``licence code`` of a superseded version says so,
``licence list`` names its own flags, and ``seal verify`` of a file that is no
signature prints no blank lines; on the real stack."""

from __future__ import annotations

import asyncio

from certseal.v1 import issuer_pb2 as pb
from tests.conftest import issue_request, make_department, start_certseal


def _identifier(out: str) -> str:
    return out.split("identifier  ", 1)[1].split()[0]


async def test_field_values_are_read_as_their_declared_types(operator, connect, cli):
    """The type has class and address (strings), points (integer) and first_issued
    (date): digits, a leading zero and ``true`` stay text in a string field; the
    integer and the date are sent as such."""
    dept = await make_department(operator, connect)
    code, out = await cli(
        "licence", "--as", dept.code, "issue", "--type", dept.type_code,
        "--holder-name", "张三", "--id-number", "440301199001011234",
        "--field", "class=13800138000", "--field", "address=007",
        "--field", "points=12", "--field", "first_issued=2020-01-02",
    )  # fmt: skip
    assert code == 0, out
    identifier = _identifier(out)
    got = (
        await dept.clients.issuer.GetLicence(
            pb.GetLicenceRequest(identifier=identifier)
        )
    ).licence.fields
    assert got["class"].string_value == "13800138000"
    assert got["address"].string_value == "007"
    assert got["points"].integer_value == 12
    assert got["first_issued"].date_value == "2020-01-02"

    # amend: the type is the identifier's
    code, out = await cli(
        "licence", "--as", dept.code, "amend", identifier,
        "--field", "class=true", "--field", "points=-3", "--reason", "r",
    )  # fmt: skip
    assert code == 0, out
    assert "class = true" in out and "points = -3" in out, out

    for item, problem in (
        ("points=12a", "error: field: 'points' is an integer field: '12a'"),
        ("first_issued=2020/1/2", "error: field: 'first_issued' is a date field"),
        ("colour=red", "error: field: 'colour' is not a field of licence type "),
    ):
        code, out = await cli(
            "licence", "--as", dept.code, "issue", "--type", dept.type_code,
            "--holder-name", "张三", "--id-number", "440301199001011234",
            "--field", item,
        )  # fmt: skip
        assert code == 2 and out.startswith(problem), (item, out)
    code, out = await cli(
        "licence", "--as", dept.code, "issue", "--type", "X" * 21,
        "--holder-name", "张三", "--id-number", "440301199001011234",
        "--field", "class=C1",
    )  # fmt: skip
    # trial 2: a malformed code is named as the option, by its form; trial53 P8:
    # in one line, with no usage block above it
    assert code == 2 and out.startswith("error: type: 'XXX"), out
    assert len(out.splitlines()) == 1, out
    assert "is not a licence type code" in out
    for fields in (["--field", "class=C1"], []):  # one field named, fields or not
        code, out = await cli(
            "licence", "--as", dept.code, "issue", "--type", f"{dept.code}999",
            "--holder-name", "张三", "--id-number", "440301199001011234", *fields,
        )  # fmt: skip
        assert code == 2, out
        assert out.startswith(f"error: type: unknown licence type '{dept.code}999'")
    # a required field left out: named as the option, not the request's map key
    code, out = await cli(
        "licence", "--as", dept.code, "issue", "--type", dept.type_code,
        "--holder-name", "张三", "--id-number", "440301199001011234",
    )  # fmt: skip
    assert code == 2 and out.startswith("error: field: 'class' is required"), out


async def test_the_code_of_a_superseded_version_warns_naming_the_current_one(
    operator, connect, cli
):
    dept = await make_department(operator, connect)
    first = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    code, out = await cli("licence", "--as", dept.code, "code", first.identifier)
    assert code == 0 and out.startswith("LC1:") and "warning" not in out, out
    amended = await dept.clients.issuer.AmendLicence(
        pb.AmendLicenceRequest(
            identifier=first.identifier, reason="r", holder_name="李四"
        )
    )
    renewed = await dept.clients.issuer.RenewLicence(
        pb.RenewLicenceRequest(identifier=amended.licence.identifier)
    )
    code, out = await cli("licence", "--as", dept.code, "code", first.identifier)
    assert code == 0, out
    assert out.startswith("LC1:"), out
    assert (
        f"warning: {first.identifier} was superseded; its current version is "
        f"{renewed.licence.identifier}"
    ) in out, out
    # nu28: listed with the earlier versions, each says first that it was superseded
    # (its own status stays "valid (01)", said after), and a filter matching nothing
    # says so
    code, out = await cli(
        "licence", "--as", dept.code, "list", "--type", dept.type_code,
        "--include-superseded",
    )  # fmt: skip
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert (
        lines[first.identifier]
        .split(None, 1)[1]
        .startswith(
            f"SUPERSEDED by {amended.licence.identifier}: not the current version"
        )
    ), out
    assert "superseded" not in lines[renewed.licence.identifier].lower(), out
    code, out = await cli(
        "licence", "--as", dept.code, "list", "--type", dept.type_code,
        "--status", "revoked",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "no licences match"), out
    # trial 7: a suspended licence's code warns as a superseded one's does
    await dept.clients.issuer.SuspendLicence(
        pb.SuspendLicenceRequest(identifier=renewed.licence.identifier, reason="r")
    )
    code, out = await cli(
        "licence", "--as", dept.code, "code", renewed.licence.identifier
    )  # fmt: skip
    assert code == 0 and out.startswith("LC1:"), out
    assert (
        f"warning: {renewed.licence.identifier} is suspended (02), and this code does "
        "not verify as valid"
    ) in out, out


async def test_licence_list_names_its_own_flags(operator, connect, cli):
    dept = await make_department(operator, connect)
    code, out = await cli("licence", "--as", dept.code, "list")
    assert code == 2
    assert out.strip() == (
        "error: filter: give at least one: --id-number, --type or --status"
    )
    code, out = await cli(
        "licence", "--as", dept.code, "list", "--type", dept.type_code
    )
    assert code == 0, out


async def test_seal_verify_of_a_file_that_is_no_signature_prints_what_is_known(
    cli, tmp_path
):
    signature, document = tmp_path / "not.ses", tmp_path / "doc.txt"
    # DER, so the service's to judge (a text is refused before: trial 3)
    signature.write_bytes(b"\x30\x10this is no SES_Signature")
    document.write_bytes(b"text")
    code, out = await cli("seal", "verify", str(signature), str(document))
    assert code == 1, out
    assert "MALFORMED" in out, out
    assert "seal        \n" not in out and "signed      -" not in out, out
    assert not any(line.strip() in ("seal", "signed") for line in out.splitlines())


async def test_a_code_command_prints_the_code_alone_on_its_output(
    operator, connect, config, issuer, tmp_path
):
    """trial50: ``PC=$(certseal licence present ID)`` took the code and the line
    ``expires …`` after it, and the verification of that text was MALFORMED. The
    code commands write the code alone on standard output; what they add (its
    expiry, the QR file written) goes to standard error."""
    dept = await make_department(operator, connect)
    licence = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
    for command, prefix, notes in (
        ("code", "LC1:", ["QR code written to"]),
        ("present", "PC1:", ["expires ", "QR code written to"]),
    ):
        png = tmp_path / f"{command}.png"
        process = await start_certseal(
            config, tmp_path, "licence", "--as", dept.code, command,
            licence.identifier, "--png", str(png), apart=True,
            issuer_target=f"localhost:{issuer.port}",
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, err.decode()
        (line,) = out.decode().splitlines()
        assert line.startswith(prefix), line
        for note in notes:
            assert note in err.decode(), err.decode()
        assert png.read_bytes().startswith(b"\x89PNG")
