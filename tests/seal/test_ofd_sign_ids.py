"""SealOfd's new IDs (atk-docs F5), and its new entry in an OFD.xml in UTF-16.

The new Signature's ID and its StampAnnot's are above every ID the document's
signatures use (every MaxSignId, every Signature ID, every StampAnnot ID), whatever
Signatures.xml says its maximum is, and the MaxSignId written is the highest of them
(GB/T 33190 §18: one ID space)."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest

from certseal.crypto import Suite
from services.seal.ofd import open_document, signature_entries
from services.seal.ofd_package import read_package
from services.seal.ofd_sign import PreparedSeal, StampPlace, finish_seal, prepare_seal
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.ses_platforms import seal_files, seal_v4, v4_seal_maker

LISTING = "Doc_0/Signs/Signatures.xml"
FIRST = "Doc_0/Signs/Sign_0/Signature.xml"
H_OFD = Path(__file__).parent / "data" / "ofdrw_field" / "h.ofd"


def _prepare(package: bytes) -> PreparedSeal:
    return prepare_seal(
        package,
        seal=seal_v4(),
        suite=Suite.SM2,
        stamp_mm=(40.0, 40.0),
        place=StampPlace(),
        signed_at_text="2021-06-01 08:00:00",
    )


def _ids_before(files: dict[str, bytes]) -> set[str]:
    text = b"".join(v for k, v in files.items() if k.endswith(".xml")).decode()
    return set(
        re.findall(r'<ofd:(?:Signature|StampAnnot) ID="([^"]+)"', text)
        + re.findall(r"<ofd:MaxSignId>([^<]+)</ofd:MaxSignId>", text)
    )


def _new_ids(prepared: PreparedSeal) -> tuple[str, str, str]:
    annot = re.search(rb'<ofd:StampAnnot ID="([^"]+)"', prepared.signature_xml)
    most = re.findall(rb"<ofd:MaxSignId>([^<]+)<", prepared.files[LISTING])
    assert annot is not None and len(most) == 1
    return prepared.signature_id, annot.group(1).decode(), most[0].decode()


def _one_seal(edits: dict[str, tuple[bytes, bytes]]) -> dict[str, bytes]:
    """An OFD with one ofdrw-style seal (IDs "1"), its files edited by
    ``edits``: file → (old, new)."""
    signed_value, seal = v4_seal_maker()
    files = seal_files(unzip(make_ofd()), signed_value=signed_value, seal=seal)
    for name, (old, new) in edits.items():
        assert old in files[name]
        files[name] = files[name].replace(old, new)
    return files


def test_h_ofd_new_signature_and_stamp_ids_are_above_all_in_use():
    prepared = _prepare(H_OFD.read_bytes())
    signature_id, annot_id, most = _new_ids(prepared)
    # s001..s008 are used there, in two MaxSignIds, two Signatures and six stamps
    assert (signature_id, annot_id, most) == ("s009", "s010", "s010")


@pytest.mark.parametrize(
    "edits",
    [
        # MaxSignId below the Signature IDs listed
        {LISTING: (b'Signature ID="1"', b'Signature ID="s040"')},
        # a StampAnnot ID above MaxSignId and every Signature ID
        {FIRST: (b'StampAnnot ID="1"', b'StampAnnot ID="s040"')},
        # a second MaxSignId after the entries, the higher one
        {
            LISTING: (
                b"</ofd:Signatures>",
                b"<ofd:MaxSignId>40</ofd:MaxSignId></ofd:Signatures>",
            )
        },
    ],
    ids=["signature-id", "stamp-id", "second-max-sign-id"],
)
def test_new_ids_are_above_every_id_in_use(edits):
    files = _one_seal(edits)
    used = _ids_before(files)
    signature_id, annot_id, most = _new_ids(_prepare(zip_files(files)))
    assert signature_id not in used and annot_id not in used
    assert signature_id != annot_id
    assert int(signature_id[1:]) > 40 and int(annot_id[1:]) > 40
    assert most == annot_id


def test_a_damaged_signature_xml_does_not_stop_sealing_and_its_entry_id_counts():
    files = _one_seal({LISTING: (b'Signature ID="1"', b'Signature ID="s040"')})
    files[FIRST] = b"<not xml"
    signature_id, annot_id, _ = _new_ids(_prepare(zip_files(files)))
    assert (signature_id, annot_id) == ("s041", "s042")


# --- an OFD.xml in UTF-16 is sealed in its own encoding ------------------------------


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16-le", b""),  # no byte order mark: told by "<?" (XML 1.0 Appendix F)
    ],
)
def test_an_ofd_xml_in_utf16_is_sealed_in_utf16(codec, bom):
    files = unzip(make_ofd())
    text = files["OFD.xml"].decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    files["OFD.xml"] = bom + text.encode(codec)
    prepared = _prepare(zip_files(files))
    ofd_xml = prepared.files["OFD.xml"]
    assert ofd_xml.startswith(bom + "<?xml".encode(codec))
    assert f"<ofd:Signatures>/{LISTING}</ofd:Signatures></ofd:DocBody>" in (
        ofd_xml[len(bom) :].decode(codec)
    )
    document = open_document(read_package(finish_seal(prepared, b"\x30\x00"), "ofd"))
    assert document.signatures_path == LISTING
    assert [e.signature_id for e in signature_entries(document)[0]] == ["s001"]


@pytest.mark.parametrize("encoding", ["GB18030", "GBK", "ISO-8859-1"])
def test_the_new_entry_is_written_in_ofd_xmls_declared_encoding(encoding):
    """A document folder named in Chinese: its Signatures.xml is named in OFD.xml in
    the encoding OFD.xml declares (as a character reference where it has none)."""
    files = {
        name.replace("Doc_0", "文档"): data.replace(b"Doc_0", "文档".encode())
        for name, data in unzip(make_ofd()).items()
    }
    text = files["OFD.xml"].decode().replace("UTF-8", encoding)
    files["OFD.xml"] = text.encode(encoding, "xmlcharrefreplace")
    prepared = _prepare(zip_files(files))
    document = open_document(read_package(finish_seal(prepared, b"\x30\x00"), "ofd"))
    assert document.signatures_path == "文档/Signs/Signatures.xml"
