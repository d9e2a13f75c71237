"""atk39ofd: an outside reviewer's attacks on OFD seal verification (GB/T 33190 §18).

Each test asserts what a correct verifier answers. They were marked
``xfail(strict)`` until the product was fixed (F1 d4953a5, F2 58fdc26, F3 534060f,
F4 5a66ba4); the tests after each reviewer's test try other inputs of its kind.

F1. A resource list named by a relative location with a folder is opened by readers
    where the verifier never looks, so a file added there after sealing is drawn
    while the seal stays VALID.

    - ofdrw (``ResourceManage.loadResFile``, which its PDF and image converters
      draw resources with) first changes directory to the location's folder
      (``rl.cd(resLoc.parent())``) and then opens the location again from there
      (``rl.get(resLoc, ...)``): ``<DocumentRes>Res/DocumentRes.xml</DocumentRes>``
      in ``Doc_0/Document.xml`` is read from ``Doc_0/Res/Res/DocumentRes.xml``. Its
      ``MediaFile`` entries then resolve below ``Doc_0/Res`` (the folder it changed
      to), so the added list can name any picture for a resource ID a signed page
      draws.
    - ofd.js (``getMultiMediaRes``) reads a resource list's ``BaseLoc`` from the
      document's folder, not from the list's own: ``BaseLoc="Media"`` in
      ``Doc_0/Res/DocumentRes.xml`` names ``Doc_0/Media/<MediaFile>``.

    The verifier reads a location from its file's folder and from the package root
    (``ofd_loc.readings``), neither of which is one of these, so the added file is
    no drawn file and the seal is VALID while those readers show a forged picture.

F2. ``Signatures.xml`` is accepted as ``list grown`` when the entry is in it and not
    last (``ofd._still_listed``: ``entries.index(entry) < len(entries) - 1``), and
    ``index`` finds the first of two equal entries. Removing an earlier seal's
    entry and writing the later seal's own entry twice (no key needed: the copy is
    the same signature, VALID) makes both copies "not last", so the later seal and
    the file are VALID while a reader shows the document without the earlier seal,
    which the later sealer saw and whose list it signed. (A copy under another
    ``ID`` is a different entry, last, and is MODIFIED already.)

F4. ofdrw opens ``Document.xml`` by its fixed name in the folder of the last
    ``DocBody``'s ``DocRoot`` (``OFDDir.obtainDocDefault().getDocument()``), not the
    file ``DocRoot`` names: for the page size of every page without its own
    ``Area`` (``OFDReader.getPageSize``: the ``CommonData`` ``PageArea``) and for the
    attachments its PDF converter embeds (``getAttachmentList``). With ``DocRoot``
    ``Doc_0/Root.xml`` (GB/T 33190 names no file), a ``Doc_0/Document.xml`` added
    after sealing sets the page box ofdrw crops every page to and the attachments
    it lists, while nothing the verifier reads names it: VALID.

F3. ``OfdDocument.digest_of`` keeps a digest per ``CheckMethod`` as written
    (stripped, lower-cased), not per algorithm: ``SM3`` and its OID, ``SHA256``,
    ``SHA-256`` and its OID are five digests of the same file. A 2.3 MB package of
    four 63 MiB entries and five signatures (no key: each may be MALFORMED) costs
    about 6.4 s of CPU on a worker thread instead of about 2.2 s (measured with the
    package functions alone, under load).
"""

from __future__ import annotations

import re

import pytest

from certseal.v1 import seal_pb2 as pb
from services.seal.ofd_package import read_package
from tests.seal.ofd_samples import HEAD, NS, make_ofd, unzip, zip_files
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

ROOT = "Doc_0/Document.xml"
PAGE = "Doc_0/Pages/Page_0/Content.xml"
SIGNS = "Doc_0/Signs/Signatures.xml"
SIGNS_REF = "/" + SIGNS


async def _verify(stack, app, files: dict[str, bytes]) -> pb.VerifyOfdResponse:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))


def _statuses(result: pb.OfdSignatureResult) -> dict[str, str]:
    return {r.file: r.status for r in result.references}


# --- F1: a resource list in a folder, read where readers read it ----------------


def _res(media: str) -> bytes:
    """A resource list with one picture (ID 7) below its ``BaseLoc`` "Media"."""
    return (
        f'{HEAD}<ofd:Res {NS} BaseLoc="Media"><ofd:MultiMedias>'
        f'<ofd:MultiMedia ID="7" Type="Image"><ofd:MediaFile>{media}</ofd:MediaFile>'
        "</ofd:MultiMedia></ofd:MultiMedias></ofd:Res>"
    ).encode()


def _sealed_with_res_in_a_folder() -> dict[str, bytes]:
    """An OFD whose Document.xml names ``Res/DocumentRes.xml`` (GB/T 33190 §7.2: a
    relative location, read from Doc_0), whose first page draws its picture 7,
    sealed over every file of the package."""
    files = unzip(make_ofd())
    files[ROOT] = files[ROOT].replace(
        b"</ofd:CommonData>",
        b"<ofd:DocumentRes>Res/DocumentRes.xml</ofd:DocumentRes></ofd:CommonData>",
    )
    files["Doc_0/Res/DocumentRes.xml"] = _res("stamp.png")
    files["Doc_0/Res/Media/stamp.png"] = b"\x89PNG the picture that was sealed"
    files[PAGE] = files[PAGE].replace(
        b"</ofd:Layer>",
        b'<ofd:ImageObject ID="12" ResourceID="7" Boundary="10 10 50 50" '
        b'CTM="50 0 0 50 0 0"/></ofd:Layer>',
    )
    maker, seal = v4_seal_maker()
    return seal_files(files, signed_value=maker, seal=seal)


FORGED = b"\x89PNG a picture added after sealing"

# what a reader opens that the verifier does not read, and what is added there
_ADDED = {
    # ofdrw: cd Doc_0/Res, then Res/DocumentRes.xml from there; its MediaFile
    # below Doc_0/Res (the folder it changed to) + BaseLoc Media
    "ofdrw": {
        "Doc_0/Res/Res/DocumentRes.xml": _res("forged.png"),
        "Doc_0/Res/Media/forged.png": FORGED,
    },
    # ofd.js: Doc_0 + BaseLoc + MediaFile, whatever folder the list is in
    "ofd.js": {"Doc_0/Media/stamp.png": FORGED},
}


@pytest.mark.parametrize("reader", sorted(_ADDED))
async def test_a_resource_read_where_a_reader_reads_it_must_be_covered(
    stack,
    trusting_app,  # noqa: F811
    reader,
):
    files = _sealed_with_res_in_a_folder()
    [unchanged] = (await _verify(stack, trusting_app, files)).signatures
    assert unchanged.verdict == "VALID", unchanged.checks  # the control
    files.update(_ADDED[reader])
    reply = await _verify(stack, trusting_app, files)
    [result] = reply.signatures
    # a user needs: the picture that reader draws for a signed page was never
    # sealed, so the seal does not vouch for what is shown
    assert result.verdict == "MODIFIED", result.checks
    assert reply.verdict == "MODIFIED"
    statuses = _statuses(result)
    unsigned = {f for f, s in statuses.items() if s == "unsigned"}
    assert unsigned & {"/" + name for name in _ADDED[reader]}, statuses


def _drawn_with(files: dict[str, bytes]) -> dict[str, frozenset[str]]:
    from services.seal.ofd import signatures_document
    from services.seal.ofd_drawn import drawn_files

    return drawn_files(signatures_document(read_package(zip_files(files))))


def _with_res(element: str, loc: str) -> dict[str, bytes]:
    """An unsealed OFD whose Document.xml names the resource list ``loc``."""
    files = unzip(make_ofd())
    files[ROOT] = files[ROOT].replace(
        b"</ofd:CommonData>",
        f"<ofd:{element}>{loc}</ofd:{element}></ofd:CommonData>".encode(),
    )
    return files


_PLAIN_RES = (
    f'{HEAD}<ofd:Res {NS}><ofd:MultiMedias><ofd:MultiMedia ID="7" Type="Image">'
    "<ofd:MediaFile>stamp.png</ofd:MediaFile></ofd:MultiMedia></ofd:MultiMedias>"
    "</ofd:Res>"
).encode()

# F1's kind: (element, location, list, the files the package holds besides, the
# file a reader opens that must be drawn, by what)
_READ_ELSEWHERE = {
    # ofdrw's loadResFile reads a PublicRes as it reads a DocumentRes
    "ofdrw PublicRes": (
        "PublicRes",
        "Res/PublicRes.xml",
        {"Doc_0/Res/PublicRes.xml": _res("stamp.png")},
        {"Doc_0/Res/Res/PublicRes.xml": _res("x.png")},
        ("Doc_0/Res/Res/PublicRes.xml", ROOT),
    ),
    # two folders: cd Doc_0/Res/Sub, then Res/Sub/... again from there; what the
    # doubled list names below Doc_0/Res/Sub (the folder ofdrw changed to)
    "ofdrw two folders": (
        "DocumentRes",
        "Res/Sub/DocumentRes.xml",
        {"Doc_0/Res/Sub/DocumentRes.xml": _res("stamp.png")},
        {
            "Doc_0/Res/Sub/Res/Sub/DocumentRes.xml": _res("forged.png"),
            "Doc_0/Res/Sub/Media/forged.png": FORGED,
        },
        ("Doc_0/Res/Sub/Media/forged.png", "Doc_0/Res/Sub/Res/Sub/DocumentRes.xml"),
    ),
    # ofd.js without a BaseLoc: Doc_0 + MediaFile
    "ofd.js no BaseLoc": (
        "DocumentRes",
        "Res/DocumentRes.xml",
        {"Doc_0/Res/DocumentRes.xml": _PLAIN_RES},
        {"Doc_0/stamp.png": FORGED},
        ("Doc_0/stamp.png", "Doc_0/Res/DocumentRes.xml"),
    ),
    # ofd.js: Doc_0 + BaseLoc + MediaFile, the list two folders down
    "ofd.js two folders": (
        "PublicRes",
        "Res/Sub/PublicRes.xml",
        {"Doc_0/Res/Sub/PublicRes.xml": _res("stamp.png")},
        {"Doc_0/Media/stamp.png": FORGED},
        ("Doc_0/Media/stamp.png", "Doc_0/Res/Sub/PublicRes.xml"),
    ),
}


@pytest.mark.parametrize("case", sorted(_READ_ELSEWHERE))
def test_other_resource_lists_are_drawn_where_readers_read_them(case):
    """F1's kind: a PublicRes as a DocumentRes, lists two folders down, a list
    without a BaseLoc: what ofdrw or ofd.js opens is drawn, named by the file
    whose location the reader followed (so a seal covering that file must cover
    it)."""
    element, loc, sealed, added, (drawn, by) = _READ_ELSEWHERE[case]
    files = _with_res(element, loc) | sealed
    assert drawn not in _drawn_with(files)  # the control: absent, nothing drawn
    assert by in _drawn_with(files | added)[drawn]


def test_an_annotation_list_in_two_folders_is_read_from_the_first_as_ofd_js_does():
    """ofd.js (``getAnnotations``) reads an annotation list's ``FileLoc`` below the
    document's folder and the list location's first folder: ``Annots/Sub/
    Annotations.xml`` names ``Doc_0/Annots/Page_0/Annotation.xml``."""
    files = unzip(make_ofd())
    files[ROOT] = files[ROOT].replace(
        b"</ofd:Pages>",
        b"</ofd:Pages><ofd:Annotations>Annots/Sub/Annotations.xml</ofd:Annotations>",
    )
    files["Doc_0/Annots/Sub/Annotations.xml"] = (
        f'{HEAD}<ofd:Annotations {NS}><ofd:Page PageID="1">'
        "<ofd:FileLoc>Page_0/Annotation.xml</ofd:FileLoc></ofd:Page></ofd:Annotations>"
    ).encode()
    added = {"Doc_0/Annots/Page_0/Annotation.xml": b"<ofd:PageAnnot/>"}
    drawn = _drawn_with(files | added)
    assert drawn["Doc_0/Annots/Page_0/Annotation.xml"] == {
        "Doc_0/Annots/Sub/Annotations.xml"
    }


def test_a_deep_resource_list_is_refused_within_the_work_bound():
    """The readings above a list's folder are bounded as every reading is: a list
    60 folders deep (a package holds none deeper than 64), of a kilobyte of path,
    naming 20,000 distinct pictures is refused once the request's reading passes
    MAX_LOCATION_WORK, in seconds, not read for a minute."""
    import time

    from certseal.errors import CertsealError

    deep = "/".join([f"{n:014d}" for n in range(60)])
    pictures = "".join(
        f'<ofd:MultiMedia ID="{i}" Type="Image"><ofd:MediaFile>../p{i}.png'
        "</ofd:MediaFile></ofd:MultiMedia>"
        for i in range(20_000)
    )
    files = _with_res("DocumentRes", f"{deep}/R.xml")
    files[f"Doc_0/{deep}/R.xml"] = (
        f"{HEAD}<ofd:Res {NS}><ofd:MultiMedias>{pictures}</ofd:MultiMedias></ofd:Res>"
    ).encode()
    start = time.process_time()
    with pytest.raises(CertsealError) as refused:
        _drawn_with(files)
    assert refused.value.field == "ofd"
    assert "characters of reading" in refused.value.message
    assert time.process_time() - start < 10.0


# --- F2: an earlier seal taken out of the list --------------------------------


def _two_seals() -> dict[str, bytes]:
    """An OFD sealed twice: seal 1 stamps page 1, seal 2 (which covers seal 1's
    files and the list naming both) stamps page 2."""
    maker, seal = v4_seal_maker()
    files = seal_files(unzip(make_ofd()), signed_value=maker, seal=seal)
    return seal_files(files, signed_value=maker, seal=seal, page_ref="2")


async def test_removing_an_earlier_seal_from_the_list_is_no_growth(
    stack,
    trusting_app,  # noqa: F811
):
    files = _two_seals()
    control = await _verify(stack, trusting_app, files)
    assert [s.verdict for s in control.signatures] == ["VALID", "VALID"]
    assert control.verdict == "VALID"
    listing = files[SIGNS].decode()
    first, second = re.findall(r"<ofd:Signature [^>]*/>", listing)
    # no key: seal 1's entry out, seal 2's entry written twice
    files[SIGNS] = listing.replace(first, "").replace(second, second * 2).encode()
    reply = await _verify(stack, trusting_app, files)
    # a user needs: seal 2 signed a list holding seal 1; a list without it is not
    # that list grown by later seals, so seal 2 does not hold
    later = reply.signatures[0]
    assert later.signature_path == "/Doc_0/Signs/Sign_1/Signature.xml"
    assert later.verdict == "MODIFIED", later.checks
    assert _statuses(later)[SIGNS_REF] == "changed"
    _assert_taken_out(reply)  # and seal 1, taken out (atk40ofd L1)
    assert reply.verdict == "MODIFIED"


async def test_control_a_copy_under_another_id_is_no_growth(
    stack,
    trusting_app,  # noqa: F811
):
    """Handled today: the copy, a different entry, is last, so the list is not one
    its own signature signed grown (``changed``) and both entries are MODIFIED."""
    files = _two_seals()
    listing = files[SIGNS].decode()
    first, second = re.findall(r"<ofd:Signature [^>]*/>", listing)
    copy = second.replace('ID="2"', 'ID="3"')
    files[SIGNS] = listing.replace(first, "").replace(second, second + copy).encode()
    reply = await _verify(stack, trusting_app, files)
    assert [s.verdict for s in _listed(reply)] == ["MODIFIED", "MODIFIED"]
    _assert_taken_out(reply)
    assert reply.verdict == "MODIFIED"


def _listed(reply: pb.VerifyOfdResponse) -> list[pb.OfdSignatureResult]:
    """The signatures the list names (a seal taken out of it has no entry ID)."""
    return [s for s in reply.signatures if s.signature_id]


def _assert_taken_out(reply: pb.VerifyOfdResponse) -> None:
    """Seal 1, taken out of the list, is reported too (atk40ofd L1)."""
    [removed] = [s for s in reply.signatures if not s.signature_id]
    assert removed.signature_path == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert removed.verdict == "MODIFIED"
    assert removed.checks[0].name == "listed"


_COPIES = {
    # the later entry again, its BaseLoc spelled relative to the list's folder
    "relative": lambda second: second.replace("/Doc_0/Signs/Sign_1/", "Sign_1/"),
    # again, with its attributes in another order
    "reordered": lambda second: (
        '<ofd:Signature BaseLoc="/Doc_0/Signs/Sign_1/Signature.xml" Type="Seal" '
        'ID="2"/>'
    ),
}


@pytest.mark.parametrize("copy", sorted(_COPIES))
async def test_an_earlier_seal_removed_behind_any_copy_is_no_growth(
    stack,
    trusting_app,  # noqa: F811
    copy,
):
    """F2's kind: the copy that makes the later entry "not last" written another way
    names the same Signature.xml: no growth."""
    files = _two_seals()
    listing = files[SIGNS].decode()
    first, second = re.findall(r"<ofd:Signature [^>]*/>", listing)
    doubled = second + _COPIES[copy](second)
    files[SIGNS] = listing.replace(first, "").replace(second, doubled).encode()
    reply = await _verify(stack, trusting_app, files)
    assert [s.verdict for s in _listed(reply)] == ["MODIFIED", "MODIFIED"]
    assert _statuses(reply.signatures[0])[SIGNS_REF] == "changed"
    _assert_taken_out(reply)
    assert reply.verdict == "MODIFIED"


async def test_an_earlier_seal_removed_under_a_new_valid_seal_is_no_growth(
    stack,
    trusting_app,  # noqa: F811
):
    """F2's kind with a key: seal 1's entry taken out and a third, VALID seal added
    over the list without it. Seal 2 covered seal 1's Signature.xml, which is listed
    no more, so the list it signed is no prefix of this one: seal 2 does not hold
    (before, the third seal made the list "grown" and every seal VALID)."""
    files = _two_seals()
    listing = files[SIGNS].decode()
    first = re.findall(r"<ofd:Signature [^>]*/>", listing)[0]
    files[SIGNS] = listing.replace(first, "").encode()
    maker, seal = v4_seal_maker()
    files = seal_files(files, signed_value=maker, seal=seal, page_ref="2")
    reply = await _verify(stack, trusting_app, files)
    second, third = _listed(reply)
    _assert_taken_out(reply)
    assert second.signature_path == "/Doc_0/Signs/Sign_1/Signature.xml"
    assert second.verdict == "MODIFIED", second.checks
    assert _statuses(second)[SIGNS_REF] == "changed"
    assert third.verdict == "VALID", third.checks  # it signed the list as it is
    assert reply.verdict == "MODIFIED"


async def test_an_earlier_seal_moved_after_a_later_one_is_no_growth(
    stack,
    trusting_app,  # noqa: F811
):
    """F2's kind: the entries reordered, the earlier seal last. The list seal 2
    signed (seal 1, then seal 2) is no prefix of (seal 2, seal 1)."""
    files = _two_seals()
    listing = files[SIGNS].decode()
    first, second = re.findall(r"<ofd:Signature [^>]*/>", listing)
    files[SIGNS] = listing.replace(first + second, second + first).encode()
    reply = await _verify(stack, trusting_app, files)
    later = reply.signatures[0]
    assert later.signature_path == "/Doc_0/Signs/Sign_1/Signature.xml"
    assert later.verdict == "MODIFIED", later.checks
    assert _statuses(later)[SIGNS_REF] == "changed"
    assert reply.verdict == "MODIFIED"


async def test_control_a_third_seal_appended_is_growth(
    stack,
    trusting_app,  # noqa: F811
):
    """What F2's fix keeps: a list grown by a later seal holds for each earlier one."""
    maker, seal = v4_seal_maker()
    files = seal_files(_two_seals(), signed_value=maker, seal=seal, page_ref="2")
    reply = await _verify(stack, trusting_app, files)
    assert [s.verdict for s in reply.signatures] == ["VALID"] * 3
    assert [_statuses(s)[SIGNS_REF] for s in reply.signatures] == [
        "list grown",
        "list grown",
        "ok",
    ]


def test_list_grown_compares_the_signed_list_as_a_prefix():
    """:func:`ofd_signature.list_grown` alone: the list signed (ending with the
    signature's own entry) must be a prefix of the list now, entry by entry."""
    from services.seal.ofd_signature import list_grown

    s0, s1, s2 = (f"Doc_0/Signs/Sign_{n}/Signature.xml" for n in range(3))
    covered = {s0, "Doc_0/Document.xml", SIGNS}
    assert list_grown([s0, s1, s2], 1, s1, covered, SIGNS)
    assert not list_grown([s0, s1], 1, s1, covered, SIGNS)  # last: nothing grew
    assert not list_grown([s1, s1], 0, s1, covered, SIGNS)  # a copy
    assert not list_grown([s0, s1, s2, s2], 1, s1, covered, SIGNS)  # a later copy
    assert not list_grown([s0, s1, s0], 1, s1, covered, SIGNS)  # an earlier copy
    assert not list_grown([s1, s2], 0, s1, covered, SIGNS)  # s0 removed
    assert not list_grown([s1, s0, s2], 0, s1, covered, SIGNS)  # s0 moved after
    assert not list_grown([s0, s2, s1], 1, s1, covered, SIGNS)  # not at its place
    # another document's signatures, covered by a seal of the whole package, are
    # not this list's
    other = covered | {"Doc_1/Signs/Sign_0/Signature.xml"}
    assert list_grown([s0, s1, s2], 1, s1, other, SIGNS)


# --- F3: one file digested once per algorithm, however it is spelled ----------


def test_each_file_is_digested_once_per_algorithm_however_it_is_named(monkeypatch):
    from services.seal import ofd

    calls: list[str] = []
    real = ofd.check_digest
    monkeypatch.setattr(ofd, "check_digest", lambda m, d: calls.append(m) or real(m, d))
    document = ofd.signatures_document(read_package(zip_files(unzip(make_ofd()))))
    names = ["SM3", "1.2.156.10197.1.401", "SHA256", "SHA-256"]
    names.append("2.16.840.1.101.3.4.2.1")
    found = [document.digest_of(name, "OFD.xml") for name in names]
    assert found[0] == found[1] and found[2] == found[3] == found[4]  # as today
    # a user needs: a request's digesting bounded by the algorithms, not by how
    # many spellings of them its signatures use
    assert len(calls) == 2, calls


# --- F4: ofdrw's Document.xml by its fixed name -------------------------------


async def test_a_document_xml_beside_a_root_of_another_name_must_be_covered(
    stack,
    trusting_app,  # noqa: F811
):
    files = unzip(make_ofd())
    files["Doc_0/Root.xml"] = files.pop(ROOT)
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"Doc_0/Document.xml", b"Doc_0/Root.xml"
    )
    maker, seal = v4_seal_maker()
    files = seal_files(files, signed_value=maker, seal=seal)
    [unchanged] = (await _verify(stack, trusting_app, files)).signatures
    assert unchanged.verdict == "VALID", unchanged.checks  # the control
    # the page box ofdrw crops the pages to (the lower half gone) and an attachment
    files[ROOT] = (
        f"{HEAD}<ofd:Document {NS}><ofd:CommonData><ofd:MaxUnitID>20"
        "</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 140"
        "</ofd:PhysicalBox></ofd:PageArea></ofd:CommonData>"
        "<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments></ofd:Document>"
    ).encode()
    files["Doc_0/Attachs/Attachments.xml"] = (
        f'{HEAD}<ofd:Attachments {NS}><ofd:Attachment ID="1" Name="terms" '
        'Format="txt"><ofd:FileLoc>terms.txt</ofd:FileLoc></ofd:Attachment>'
        "</ofd:Attachments>"
    ).encode()
    files["Doc_0/Attachs/terms.txt"] = "附加条款（签章后加入）".encode()
    reply = await _verify(stack, trusting_app, files)
    [result] = reply.signatures
    # a user needs: the page box and attachments ofdrw shows were never sealed
    assert result.verdict == "MODIFIED", result.checks
    assert _statuses(result).get("/" + ROOT) == "unsigned", _statuses(result)
    assert reply.verdict == "MODIFIED"


def test_spellings_of_one_algorithm_share_a_digest_and_others_share_none(monkeypatch):
    """F3's kind: case and surrounding spaces are spellings too; an unsupported
    method (SHA-1, MD5, any other text) digests nothing and is kept apart from the
    supported ones."""
    from services.seal import ofd

    calls: list[str] = []
    real = ofd.check_digest
    monkeypatch.setattr(ofd, "check_digest", lambda m, d: calls.append(m) or real(m, d))
    document = ofd.signatures_document(read_package(zip_files(unzip(make_ofd()))))
    for name in ["sha1", " Sm3 ", "sm3\n", "SM3", "md5", "\tSha-256", "sha256 "]:
        document.digest_of(name, "OFD.xml")
    assert document.digest_of("SHA1", "OFD.xml") is None
    assert document.digest_of("MD5", "OFD.xml") is None
    data = document.package.files["OFD.xml"]
    assert document.digest_of(" sm3", "OFD.xml") == real("SM3", data)
    assert document.digest_of("SHA256", "OFD.xml") == real("SHA-256", data)
    algorithms = [ofd.check_algorithm(m) for m in calls]
    assert algorithms.count("sm3") == 1 and algorithms.count("sha256") == 1, calls


def _detail(result: pb.OfdSignatureResult) -> str:
    return "; ".join(c.detail for c in result.checks if c.name == "references")


@pytest.mark.parametrize("name", ["PublicRes.xml", "DocumentRes.xml"])
async def test_a_resource_list_of_a_fixed_name_beside_the_root_must_be_covered(
    stack,
    trusting_app,  # noqa: F811
    name,
):
    """F4's kind: ofdrw's DocDir opens PublicRes.xml and DocumentRes.xml by name in
    the document's folder (ofdrw-layout's ResManager, ofdrw-archive) whatever
    Document.xml names; one added after sealing beside the root is drawn, and the
    seal, covering the root, does not cover it."""
    maker, seal = v4_seal_maker()
    files = seal_files(unzip(make_ofd()), signed_value=maker, seal=seal)
    files[f"Doc_0/{name}"] = _res("forged.png")
    files["Doc_0/Media/forged.png"] = FORGED
    reply = await _verify(stack, trusting_app, files)
    [result] = reply.signatures
    assert result.verdict == "MODIFIED", result.checks
    assert _statuses(result).get(f"/Doc_0/{name}") == "unsigned", _statuses(result)
    assert f"/Doc_0/{name} unsigned (opened by its fixed name beside /{ROOT})" in (
        _detail(result)
    )


def test_a_signature_list_of_the_fixed_name_is_drawn_unless_it_is_the_list():
    """F4's kind: ofdrw's OFDSigner writes Signs/Signatures.xml in the document's
    folder by that name. A document whose OFD.xml names another list draws it
    (named by the root); the list OFD.xml names is judged as a list, never drawn."""
    files = unzip(make_ofd())
    listing = (
        f"{HEAD}<ofd:Signatures {NS}><ofd:MaxSignId>0</ofd:MaxSignId></ofd:Signatures>"
    )
    files["Doc_0/Signs/Signatures.xml"] = listing.encode()
    assert _drawn_with(files)["Doc_0/Signs/Signatures.xml"] == {ROOT}
    named = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b"</ofd:DocRoot><ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>",
    )
    assert "Doc_0/Signs/Signatures.xml" not in _drawn_with(files | {"OFD.xml": named})
    other = named.replace(b"Signs/Signatures.xml", b"Signs/List.xml")
    with_other = files | {"OFD.xml": other, "Doc_0/Signs/List.xml": listing.encode()}
    drawn = _drawn_with(with_other)
    assert drawn["Doc_0/Signs/Signatures.xml"] == {ROOT}
    assert "Doc_0/Signs/List.xml" not in drawn


def test_a_document_xml_beside_the_root_is_read_on_as_a_document():
    """F4: what the Document.xml ofdrw opens by name draws (its attachments list and
    the attachments) is drawn too, the whole of it read as a document root is."""
    files = unzip(make_ofd())
    files["Doc_0/Root.xml"] = files.pop(ROOT)
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"Doc_0/Document.xml", b"Doc_0/Root.xml"
    )
    assert not any("Attachs" in f for f in _drawn_with(files))
    files[ROOT] = (
        f"{HEAD}<ofd:Document {NS}><ofd:CommonData><ofd:MaxUnitID>20</ofd:MaxUnitID>"
        "</ofd:CommonData><ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>"
        "</ofd:Document>"
    ).encode()
    files["Doc_0/Attachs/Attachments.xml"] = (
        f'{HEAD}<ofd:Attachments {NS}><ofd:Attachment ID="1" Name="t" Format="txt">'
        "<ofd:FileLoc>t.txt</ofd:FileLoc></ofd:Attachment></ofd:Attachments>"
    ).encode()
    files["Doc_0/Attachs/t.txt"] = b"added"
    drawn = _drawn_with(files)
    assert drawn[ROOT] == {"Doc_0/Root.xml"}
    assert drawn["Doc_0/Attachs/Attachments.xml"] == {ROOT}
    assert drawn["Doc_0/Attachs/t.txt"] == {"Doc_0/Attachs/Attachments.xml"}
