"""Small OFD documents made in the tests (GB/T 33190 minimal package), and ZIP tools."""

from __future__ import annotations

import io
import zipfile

NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def page_xml(text: str) -> str:
    return (
        f'{HEAD}<ofd:Page {NS}><ofd:Content><ofd:Layer ID="10">'
        '<ofd:TextObject ID="11" Boundary="100 150 60 10" Font="3" Size="5">'
        f'<ofd:TextCode X="0" Y="5">{text}</ofd:TextCode></ofd:TextObject>'
        "</ofd:Layer></ofd:Content></ofd:Page>"
    )


def make_ofd(pages: tuple[str, ...] = ("行政许可决定书", "（盖章处）")) -> bytes:
    """An unsigned OFD with one text object per page."""
    page_list = "".join(
        f'<ofd:Page ID="{i + 1}" BaseLoc="Pages/Page_{i}/Content.xml"/>'
        for i in range(len(pages))
    )
    files = {
        "OFD.xml": (
            f'{HEAD}<ofd:OFD {NS} Version="1.0" DocType="OFD"><ofd:DocBody>'
            "<ofd:DocInfo><ofd:DocID>0123456789abcdef0123456789abcdef</ofd:DocID>"
            "</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
            "</ofd:DocBody></ofd:OFD>"
        ),
        "Doc_0/Document.xml": (
            f"{HEAD}<ofd:Document {NS}><ofd:CommonData><ofd:MaxUnitID>20"
            "</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297"
            "</ofd:PhysicalBox></ofd:PageArea></ofd:CommonData>"
            f"<ofd:Pages>{page_list}</ofd:Pages></ofd:Document>"
        ),
    }
    for i, text in enumerate(pages):
        files[f"Doc_0/Pages/Page_{i}/Content.xml"] = page_xml(text)
    return zip_files({k: v.encode() for k, v in files.items()})


def zip_files(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def unzip(ofd: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(ofd)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def changed(ofd: bytes, name: str, edit) -> bytes:
    """The OFD with file ``name`` replaced by ``edit(old)`` (None: removed)."""
    files = unzip(ofd)
    new = edit(files[name])
    if new is None:
        del files[name]
    else:
        files[name] = new
    return zip_files(files)


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])
