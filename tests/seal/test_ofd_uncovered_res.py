"""atk2 finding: V4RideRight's signed Document.xml names PublicRes.xml, which is not in
the package and not among the signature's references; adding it afterwards (fonts,
colour spaces that change what is displayed) leaves every reference 'ok'."""

import io
import zipfile

from services.seal import ofd
from services.seal.ofd_package import read_package

SAMPLE = "tests/seal/data/ofdrw/V4RideRight.ofd"


def test_added_public_res_named_by_signed_document_is_noticed() -> None:
    src = zipfile.ZipFile(SAMPLE)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            z.writestr(info, src.read(info))
        z.writestr(
            "Doc_0/PublicRes.xml",
            '<ofd:Res xmlns:ofd="http://www.ofdspec.org/2016" BaseLoc="Res">'
            '<ofd:Fonts><ofd:Font ID="2" FontName="Evil" FontFile="evil.ttf"/>'
            "</ofd:Fonts></ofd:Res>",
        )
        z.writestr("Doc_0/Res/evil.ttf", b"x")
    package = read_package(out.getvalue())
    document = ofd.open_document(package)
    entries, _ = ofd.signature_entries(document)
    signature = ofd.read_signature_file(package, entries[0].path)
    results = ofd.check_references(document, signature, entries[0])
    assert not all(r.holds for r in results)
    assert [(r.file, r.status) for r in results if not r.holds] == [
        ("Doc_0/PublicRes.xml", "unsigned")
    ]
