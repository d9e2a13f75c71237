"""``certseal seal ofd`` and ``seal verify-ofd`` on the real stack: sealing, verifying,
a changed file, and errors printed as ``error: <field>: <problem>`` with exit 2."""

from tests.conftest import seal_owner as new_seal_owner
from tests.seal.ofd_samples import changed, flip_last_byte, make_ofd


async def test_a_seal_owner_seals_an_ofd_and_anyone_verifies_it(
    operator,
    cli,
    tmp_path,
):
    owner = await new_seal_owner(operator)
    code, out = await cli(
        "seal", "--as", owner, "register", "--type", "official", "--name", "测试专用章",
        "--suite", "sm2",
    )  # fmt: skip
    assert code == 0, out
    seal_id = out.split("seal        ", 1)[1].split()[0]
    document, sealed = tmp_path / "licence.ofd", tmp_path / "sealed.ofd"
    document.write_bytes(make_ofd())
    code, out = await cli(
        "seal", "--as", owner, "ofd", seal_id, str(document), "--out", str(sealed),
        "--keyword", "盖章",
    )  # fmt: skip
    assert code == 0 and "Sign_0/Signature.xml, page 1" in out, out
    code, out = await cli("seal", "verify-ofd", str(sealed), "--references")
    assert code == 0 and "verdict     VALID" in out and "1 signature(s)" in out, out
    assert "  [ok] references: " in out and "intact      yes (SM3)" in out, out
    assert "ok          /Doc_0/Document.xml " in out, out
    tampered = tmp_path / "tampered.ofd"
    tampered.write_bytes(
        changed(sealed.read_bytes(), "Doc_0/Document.xml", flip_last_byte)
    )
    code, out = await cli("seal", "verify-ofd", str(tampered))
    assert code == 1 and "verdict     MODIFIED" in out, out
    assert "changed     /Doc_0/Document.xml" in out, out

    for argv, field in (
        (("seal", "verify-ofd", str(tmp_path / "missing.ofd")), "file"),
        (("seal", "verify-ofd", str(document.with_suffix(".txt"))), "file"),
        (
            ("seal", "--as", owner, "ofd", seal_id, str(document), "--out",
             str(tmp_path / "o.ofd"), "--page", "9"),
            "page",
        ),
        (
            ("seal", "--as", owner, "ofd", seal_id, str(document), "--out",
             str(tmp_path / "o.ofd"), "--page", "-1"),
            "page",
        ),
        (
            ("seal", "--as", owner, "ofd", seal_id, str(document), "--out",
             str(tmp_path / "o.ofd"), "--keyword", "没有"),
            "keyword",
        ),
    ):  # fmt: skip
        code, out = await cli(*argv)
        assert code == 2 and f"error: {field}:" in out, (argv, out)
    not_zip = tmp_path / "not.ofd"
    not_zip.write_bytes(b"hello")
    code, out = await cli("seal", "verify-ofd", str(not_zip))
    assert code == 2 and "error: file:" in out and "not.ofd is not an OFD" in out, out
