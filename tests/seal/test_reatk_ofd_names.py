"""reatk (b), the same kind reached from a document: ``seal verify-ofd`` prints the
names of an OFD package's files as the verifier reports them (``services/seal/
cli.py``: ``  {status} {ref.file} ...``), raw.

R-B3: a file name is the document's, not the user's: a ZIP entry name may hold a
line feed or a right-to-left override (``ofd_zip.normalise`` refuses only NUL and a
backslash), and an XML location names it (``&#10;`` in an attribute is a line
feed). A package drawing such a file, not sealed, is MODIFIED, and the CLI's report
of it prints the name raw, twice (the ``references`` check's detail and the
``unsigned`` line): the name forges lines of the report (``verdict     VALID``,
``[ok] references``) under the ``verdict     MODIFIED`` the verifier gave. (A name
with a colon is refused as a drive, INVALID_ARGUMENT, shown escaped: held.) A user reading the
report needs every name in it shown as it is or escaped, one line each.

The reply is the real seal service's (``trusting_app``); the CLI is given it in
place of its call, so the report printed is the one a user would read.
"""

from __future__ import annotations

import pytest

from certseal.v1 import seal_pb2 as pb
from services.cli import main
from services.seal import cli as seal_cli
from tests.seal.ofd_samples import make_ofd, page_xml, unzip, zip_files
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_ofd_locations import _with_common
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

FORGED = "x\nverdict     VALID\n  [ok] references, every file sealed"


async def _report(stack, app, tmp_path, monkeypatch, capsys, name: str) -> str:  # type: ignore[no-untyped-def]
    loc = name.replace("\n", "&#10;")
    files = _with_common(
        unzip(make_ofd()), f'<ofd:TemplatePage ID="5" BaseLoc="{loc}"/>'.encode()
    )
    extra = f"Doc_0/{name}"
    files[extra] = page_xml("伪造的模板").encode()
    maker, seal = v4_seal_maker()
    files = seal_files(
        files, signed_value=maker, seal=seal, leave_out=frozenset({extra})
    )
    ofd = zip_files(files)
    reply = await stub_for(stack, app, "app:archive").VerifyOfd(
        pb.VerifyOfdRequest(ofd=ofd)
    )
    [one] = reply.signatures
    assert one.verdict == "MODIFIED", one.checks
    assert "/" + extra in {r.file for r in one.references}
    path = tmp_path / "hostile.ofd"
    path.write_bytes(ofd)
    monkeypatch.setattr(seal_cli, "_call", lambda args, call: reply)
    assert main(["seal", "verify-ofd", str(path)]) == 1
    return capsys.readouterr().out


@pytest.mark.parametrize("name", [FORGED, "Tpls/a\u202elmx.txt"], ids=["lf", "bidi"])
async def test_verify_ofd_shows_a_file_name_of_the_document_escaped(
    stack,
    trusting_app,  # noqa: F811
    tmp_path,
    monkeypatch,
    capsys,
    name,
):
    out = await _report(stack, trusting_app, tmp_path, monkeypatch, capsys, name)
    # a user needs: one line per reported file, nothing in it that does not print
    assert all(line.isprintable() for line in out.splitlines()), out
    assert "\nverdict     VALID" not in out, out


async def test_control_verify_ofd_shows_a_plain_unsigned_file(
    stack,
    trusting_app,  # noqa: F811
    tmp_path,
    monkeypatch,
    capsys,
):
    out = await _report(
        stack, trusting_app, tmp_path, monkeypatch, capsys, "Tpls/Tpl_0/Content.xml"
    )
    assert "verdict     MODIFIED" in out
    assert "  unsigned    /Doc_0/Tpls/Tpl_0/Content.xml" in out, out
