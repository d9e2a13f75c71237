"""What an output option may replace (certseal/cli_options.py ``OUTPUT_KINDS``,
``check_output``): an existing file of the kind the command writes, or an empty one;
never another kind of file (a new user's ``--out README.md``)."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest

from certseal.cli_options import OUTPUT_KINDS, check_output
from certseal.errors import CertsealError


def _ofd_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("OFD.xml", "<ofd:OFD/>")
    return out.getvalue()


SAMPLES = {
    "a PDF": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
    "an OFD package (ZIP)": _ofd_zip(),
    "a PNG image": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "a DER SES_Signature": b"\x30\x03\x02\x01\x05",
    "a PEM certificate": b"-----BEGIN CERTIFICATE-----\nMIIB",
    "a signed checkpoint": b"certseal.example/log\n42\n"
    + base64.b64encode(bytes(32))
    + b"\n\n",
}
OTHERS = {
    "README": b"# certseal\n\nKeep me.\n",
    "Makefile": b"PY := .venv/bin/python\n\nrun: setup\n",
    "TOML": b'[project]\nname = "certseal"\n',
}


def test_every_kind_has_a_sample():
    assert set(SAMPLES) == set(OUTPUT_KINDS)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_a_file_of_the_kind_written_or_an_empty_one_is_replaced(kind, tmp_path):
    for name, data in (("same", SAMPLES[kind]), ("empty", b""), ("missing", None)):
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        assert check_output(str(path), "out", (kind,)) == path


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@pytest.mark.parametrize("other", sorted(OTHERS))
def test_a_file_of_another_kind_is_refused_and_kept(kind, other, tmp_path):
    path = tmp_path / other
    path.write_bytes(OTHERS[other])
    with pytest.raises(CertsealError) as err:
        check_output(str(path), "out", (kind,))
    assert err.value.field == "out"
    assert f"{path} exists and is not {kind}; refusing to replace it" in str(err.value)
    assert path.read_bytes() == OTHERS[other]
    for sample in (k for k in SAMPLES if k != kind):
        path.write_bytes(SAMPLES[sample])
        with pytest.raises(CertsealError):
            check_output(str(path), "out", (kind,))


def test_a_command_writing_either_of_two_kinds_replaces_either(tmp_path):
    kinds = ("a PDF", "an OFD package (ZIP)")
    for sample in kinds:
        path = tmp_path / "licence"
        path.write_bytes(SAMPLES[sample])
        assert check_output(str(path), "out", kinds) == path
    path.write_bytes(SAMPLES["a PNG image"])
    with pytest.raises(CertsealError):
        check_output(str(path), "out", kinds)
