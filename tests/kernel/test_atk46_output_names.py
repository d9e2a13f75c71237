"""atk46: an output named as another kind of file than the command writes
(certseal/filekinds.py ``_EXTENSIONS``, certseal/cli_options.py ``check_output``),
after trial45's fix (.docx, .jpg refused). No stack: the name is checked before
any call."""

from __future__ import annotations

import pytest

from certseal.cli_options import check_output, check_outputs
from certseal.errors import CertsealError
from certseal.filekinds import CHECKPOINT, OFD, PDF, PNG, SIGNATURE
from services.cli import build_parser

PEM = "a PEM certificate"


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("sealed.pem", (PDF,)),
        ("sealed.crt", (PDF,)),
        ("qr.der", (PNG,)),
        ("maker.p7s", (PEM,)),
        ("licence.zip", (PDF,)),  # no OFD is written here: a PDF named as a ZIP
        ("signature.pem", (SIGNATURE,)),
    ],
)
def test_an_output_named_as_a_kind_the_platform_writes_is_refused(
    tmp_path, name, kinds
):
    with pytest.raises(CertsealError) as refused:
        check_output(str(tmp_path / name), "out", kinds)
    assert refused.value.field == "out"


@pytest.mark.parametrize(
    "name",
    ["x.jfif", "x.avif", "x.heif", "x.svg", "x.docm", "x.xlsm", "x.rtf", "x.et",
     "x.dps", "x.odp"],
)  # fmt: skip
def test_other_images_and_office_documents_are_refused(tmp_path, name):
    with pytest.raises(CertsealError):
        check_output(str(tmp_path / name), "out", (PDF, OFD))


@pytest.mark.parametrize("name", ["bundle.pdf", "bundle.png", "bundle.docx"])
def test_a_bundle_named_as_another_kind_is_refused(tmp_path, name):
    args = build_parser().parse_args(["bundle", "fetch", "--out", str(tmp_path / name)])
    with pytest.raises(CertsealError) as refused:
        check_outputs(args)
    assert refused.value.field == "out"


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        # held: legitimate names for what each command writes
        ("licence.PDF", (PDF, OFD)),
        ("licence.Ofd", (PDF, OFD)),
        ("licence.ofd.pdf", (PDF, OFD)),
        ("qr.PNG", (PNG,)),
        ("maker.pem", (PEM,)),
        ("maker.crt", (PEM,)),
        ("seal.der", (SIGNATURE,)),
        ("seal.sig", (SIGNATURE,)),
        ("checkpoint", (CHECKPOINT,)),
        ("checkpoint.txt", (CHECKPOINT,)),
        (".docx", (PDF,)),  # a dotfile's whole name is no extension
    ],
)
def test_held_legitimate_names_are_taken(tmp_path, name, kinds):
    assert check_output(str(tmp_path / name), "out", kinds).name == name


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        # held: the kinds refused by name
        ("x.JPEG", (PNG,)),
        ("x.tiff", (PDF,)),
        ("x.pdf", (CHECKPOINT,)),
        ("x.png", (SIGNATURE,)),
        ("x.ofd", (PEM,)),
        ("x.xlsx", (PDF, OFD)),
    ],
)
def test_held_other_kinds_are_refused(tmp_path, name, kinds):
    with pytest.raises(CertsealError):
        check_output(str(tmp_path / name), "out", kinds)
