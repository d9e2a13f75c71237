"""trial49 L10: ``seal pdf SEAL IN.pdf --out IN.pdf`` (``seal ofd``, ``seal
document`` alike) wrote the sealed file over the unsealed one and said only "sealed
PDF written to IN.pdf". The report says the file read was replaced, however the two
paths name it; a file of its own, or a hard link that keeps the original, is not
said to be."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from certseal.devpki import DevCA
from certseal.tlsfiles import server_credentials
from certseal.v1 import seal_pb2 as pb
from services import cli
from services.seal.cli_inputs import write_sealed

UNSEALED = b"%PDF-1.4\n%%EOF\n"
SEALED = b"%PDF-1.7\nsealed\n%%EOF\n"


def _ofd(text: str) -> bytes:
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("OFD.xml", f"<ofd:OFD>{text}</ofd:OFD>")
    return package.getvalue()


def _written(out: Path, source: Path) -> str:
    return write_sealed(str(out), SEALED, str(source), "the file it sealed")


def test_the_file_read_written_over_is_said_replaced(tmp_path):
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(UNSEALED)
    assert _written(pdf, pdf) == f"{pdf}, replacing the file it sealed"
    assert pdf.read_bytes() == SEALED


def test_the_file_read_given_by_another_path_is_said_replaced(tmp_path):
    pdf = tmp_path / "in.pdf"
    link = tmp_path / "link.pdf"
    link.symlink_to(pdf)
    (tmp_path / "sub").mkdir()
    for out, source in (
        (pdf, link),  # the input a link to the output
        (link, pdf),  # the output a link to the input (written through)
        (pdf, tmp_path / "sub" / ".." / "in.pdf"),
    ):
        pdf.write_bytes(UNSEALED)
        assert _written(out, source) == (
            f"{out}, replacing the file it sealed (given as {source})"
        )
        assert pdf.read_bytes() == SEALED and link.is_symlink()


def test_another_file_or_a_hard_link_keeping_the_original_is_not(tmp_path):
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(UNSEALED)
    out = tmp_path / "out.pdf"
    assert _written(out, pdf) == str(out)
    kept = tmp_path / "kept.pdf"
    os.link(pdf, kept)
    assert _written(pdf, kept) == str(pdf)  # the original stays under kept.pdf
    assert kept.read_bytes() == UNSEALED and pdf.read_bytes() == SEALED
    assert _written(out, tmp_path / "gone.pdf") == str(out)  # not known to be it


#: a seal service's answers, by method
_ANSWERS = {
    "SealPdf": pb.SealPdfResponse(pdf=SEALED, pdf_digest="ab"),
    "SealOfd": pb.SealOfdResponse(ofd=_ofd("sealed"), ofd_digest="cd"),
    "GetSeal": pb.GetSealResponse(seal=pb.SealInfo(seal_id="S1", suite="es256")),
    "SealDocument": pb.SealDocumentResponse(
        signature=b"\x30\x03\x02\x01\x01", document_digest="ef"
    ),
}


class _SealAnswers(grpc.GenericRpcHandler):
    """A seal service that seals anything: :data:`_ANSWERS` to every call."""

    def service(self, details):  # type: ignore[no-untyped-def]
        answer = _ANSWERS[details.method.rpartition("/")[2]]
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: answer.SerializeToString()
        )


@pytest.fixture
def seal_config(tmp_path) -> Iterator[Path]:
    """A ``--config`` file whose ``[cli] seal_target`` is a :class:`_SealAnswers`."""
    ca = DevCA(tmp_path / "ca")
    own = ca.identity("service:seal", server=True)
    user = ca.identity("operator:cli")
    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((_SealAnswers(),))
    credentials = server_credentials(
        str(ca.ca_file), str(own.cert_file), str(own.key_file)
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    path = tmp_path / "cli.toml"
    path.write_text(
        f'[tls]\nca_file = "{ca.ca_file}"\n[cli]\ncert_file = "{user.cert_file}"\n'
        f'key_file = "{user.key_file}"\nseal_target = "localhost:{port}"\n'
    )
    yield path
    server.stop(None)


@pytest.mark.parametrize(
    ("command", "original", "said"),
    [
        ("pdf", UNSEALED, "sealed PDF written to {}, replacing the file it sealed"),
        ("ofd", _ofd("x"), "sealed OFD written to {}, replacing the file it sealed"),
        # a document the command may write over: a signature (sealed again)
        (
            "document",
            b"\x30\x01\x05",
            "SES_Signature written to {}, replacing the document",
        ),
    ],
)
def test_a_sealing_command_says_it_replaced_its_input(
    seal_config, tmp_path, capsys, command, original, said
):
    given = tmp_path / f"in.{command}"
    given.write_bytes(original)
    argv = ["seal", command, "S1", str(given), "--out", str(given)]
    status = cli.main(["--config", str(seal_config), *argv])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert out.out.splitlines()[0].startswith(said.format(given)), out.out
    assert given.read_bytes() != original


def test_the_file_read_as_standard_input_written_over_is_said_replaced(tmp_path):
    """atk52: ``seal pdf S /dev/stdin --out IN.pdf < IN.pdf`` replaced IN.pdf and
    said only "written to IN.pdf": /dev/stdin still names the original (unlinked, no
    name left), so the two paths were not the same file after the write."""
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(UNSEALED)
    fd = os.open(pdf, os.O_RDONLY)  # the shell's redirection of standard input
    try:
        stdin = f"/proc/self/fd/{fd}"  # what /dev/stdin names
        assert _written(pdf, Path(stdin)) == (
            f"{pdf}, replacing the file it sealed (given as {stdin})"
        )
        assert pdf.read_bytes() == SEALED
        kept = tmp_path / "kept.pdf"  # the original keeping another name: not said
        kept.write_bytes(UNSEALED)
        os.link(kept, tmp_path / "also.pdf")
        os.close(fd)
        fd = os.open(kept, os.O_RDONLY)
        assert _written(tmp_path / "also.pdf", Path(f"/proc/self/fd/{fd}")) == str(
            tmp_path / "also.pdf"
        )
        assert kept.read_bytes() == UNSEALED
    finally:
        os.close(fd)
