"""trial38 (a new user's trial) finding 1: ``certseal seal document`` of a 60.01 MiB
file exited 2 with the seal service's "send its digest instead", an option the CLI
did not have, while ``seal verify`` of the same file worked. The CLI now sends the
digest it computes of the file read in chunks (services/seal/cli_document.py): a file
over the service's ``[seal] max_document_bytes`` and over the CLI's own 64 MiB read
bound seals, and the signature verifies with ``seal verify`` as one made from the
whole document did."""

from __future__ import annotations

import hashlib
import os

import pytest

from certseal.bounds import MAX_DOCUMENT_BYTES, MAX_DOCUMENT_FILE_BYTES
from certseal.crypto import Suite, digest
from certseal.errors import CertsealError
from services.seal.cli_document import document_digest, verify_request
from tests.conftest import seal_owner

#: the trial's file: 60.01 MiB, over the service's default limit
TRIAL_BYTES = 62_923_837


async def _register(cli, owner: str, suite: str) -> str:
    code, out = await cli(
        "seal", "--as", owner, "register", "--type", "official", "--name", "大文件章",
        "--suite", suite,
    )  # fmt: skip
    assert code == 0, out
    return out.split("seal        ", 1)[1].split()[0]


@pytest.mark.parametrize("suite", ["sm2", "es256", "ed25519"])
def test_the_cli_s_digest_is_the_service_s(suite):
    """The digest the CLI sends is the one the service would compute of the whole
    document (SM3 for sm2, SHA-256 otherwise), however the chunks fall."""
    data = os.urandom(3 * 1024 * 1024 + 7)
    chunks = [data[:1], data[1 : 1 << 20], data[1 << 20 :]]
    assert document_digest(chunks, suite) == digest(Suite(suite), data)


@pytest.mark.parametrize("suite", ["sm2", "es256"])
async def test_a_document_over_the_service_s_limit_seals_and_verifies(
    suite, operator, cli, tmp_path
):
    assert TRIAL_BYTES > MAX_DOCUMENT_BYTES
    owner = await seal_owner(operator)
    seal_id = await _register(cli, owner, suite)
    document, signature = tmp_path / "big_over.pdf", tmp_path / "big.ses"
    document.write_bytes(os.urandom(1024) * (TRIAL_BYTES // 1024) + b"tail")
    code, out = await cli(
        "seal", "--as", owner, "document", seal_id, str(document),
        "--out", str(signature),
    )  # fmt: skip
    assert code == 0, out
    expected = digest(Suite(suite), document.read_bytes())
    assert f"document digest {expected.hex()}, signed " in out, out
    code, out = await cli("seal", "verify", str(signature), str(document))
    assert code == 0 and "verdict     VALID" in out, out
    with document.open("r+b") as changed:
        changed.seek(TRIAL_BYTES // 2)
        changed.write(b"X" * 8)
    code, out = await cli("seal", "verify", str(signature), str(document))
    assert code == 1 and "verdict     MODIFIED" in out, out


@pytest.mark.parametrize("suite", ["sm2", "es256"])
async def test_a_document_over_the_cli_s_read_bound_verifies_by_its_digest(
    suite, operator, cli, tmp_path
):
    """words39: ``seal verify`` of a file over the CLI's 64 MiB read bound was
    refused by it, while ``seal document`` sealed it; it now sends the digest by the
    signature's suite (SM3 for sm2), computed while the file is read in chunks."""
    owner = await seal_owner(operator)
    seal_id = await _register(cli, owner, suite)
    document, signature = tmp_path / "huge.bin", tmp_path / "huge.ses"
    try:
        with document.open("wb") as out_file:
            out_file.truncate(MAX_DOCUMENT_FILE_BYTES + 1)  # zeros, sparse
        code, out = await cli(
            "seal", "--as", owner, "document", seal_id, str(document),
            "--out", str(signature),
        )  # fmt: skip
        assert code == 0, out
        code, out = await cli("seal", "verify", str(signature), str(document))
        assert code == 0 and "verdict     VALID" in out, out
        assert "  [ok] data hash: " in out, out
        with document.open("r+b") as changed:
            changed.seek(MAX_DOCUMENT_FILE_BYTES // 2)
            changed.write(b"X")
        code, out = await cli("seal", "verify", str(signature), str(document))
        assert code == 1 and "verdict     MODIFIED" in out, out
        assert "  [FAILED] data hash: " in out, out
    finally:
        document.unlink(missing_ok=True)


def test_seal_verify_sends_a_document_over_the_bound_by_its_digest(tmp_path):
    """Within the bound the document itself (a v1 signature's timestamp over the
    document may need it); over it, its digest, SHA-256 for a signature that names
    no suite (the service's verdict on it needs none)."""
    not_read = b"\x30\x03\x02\x01\x00"  # DER, no SES_Signature
    signature, document = tmp_path / "x.ses", tmp_path / "big.bin"
    signature.write_bytes(not_read)
    try:
        with document.open("wb") as out_file:
            out_file.truncate(MAX_DOCUMENT_FILE_BYTES)
        request = verify_request(str(signature), str(document))
        assert request.WhichOneof("content") == "document"
        assert len(request.document) == MAX_DOCUMENT_FILE_BYTES
        with document.open("ab") as out_file:
            out_file.write(b"\0")
        request = verify_request(str(signature), str(document))
        assert request.WhichOneof("content") == "document_digest"
        zeros = hashlib.sha256(bytes(MAX_DOCUMENT_FILE_BYTES + 1)).digest()
        assert (request.signature, request.document_digest) == (not_read, zeros)
        # a PDF given as the signature is still refused, by its content
        signature.write_bytes(b"%PDF-1.7\n")
        with pytest.raises(CertsealError) as refused:
            verify_request(str(signature), str(document))
        assert refused.value.field == "signature"
    finally:
        document.unlink(missing_ok=True)


async def test_a_document_over_the_cli_s_read_bound_seals(operator, cli, tmp_path):
    """A file larger than the CLI would hold in memory (it holds one chunk)."""
    owner = await seal_owner(operator)
    seal_id = await _register(cli, owner, "es256")
    document = tmp_path / "huge.bin"
    size = MAX_DOCUMENT_FILE_BYTES + 1
    with document.open("wb") as out_file:
        out_file.truncate(size)  # zeros, sparse: quick to make
    code, out = await cli(
        "seal", "--as", owner, "document", seal_id, str(document),
        "--out", str(tmp_path / "huge.ses"),
    )  # fmt: skip
    assert code == 0, out
    expected = hashlib.sha256(bytes(size)).hexdigest()
    assert f"document digest {expected}, signed " in out, out


async def test_an_unknown_seal_is_refused_as_before(operator, cli, tmp_path):
    """Asked for the seal's suite first: its refusal is SealDocument's, as before."""
    owner = await seal_owner(operator)
    document = tmp_path / "doc.txt"
    document.write_bytes(b"x")
    unknown = f"{owner}NOSUCHSEAL"  # a seal id's shape, no seal's
    code, out = await cli(
        "seal", "--as", owner, "document", unknown, str(document),
        "--out", str(tmp_path / "o.ses"),
    )  # fmt: skip
    assert (code, out) == (1, f"error: seal-id: seal {unknown} not found\n")
    assert not (tmp_path / "o.ses").exists()
    # text no seal can have is a mistake, said as such (trial48), exit 2
    code, out = await cli(
        "seal", "--as", owner, "document", "NO-SUCH-SEAL", str(document),
        "--out", str(tmp_path / "o.ses"),
    )  # fmt: skip
    assert code == 2 and out.startswith("error: seal-id: character 3 of "), out
    assert not (tmp_path / "o.ses").exists()
