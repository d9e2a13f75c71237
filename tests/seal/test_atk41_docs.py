"""atk41d: outside attacks on today's OFD "seal taken out of its list" report
(services/seal/ofd_unlisted.py) and the PDF title comparison (pdf_title.py,
pdf_strings.py). Each test asserts the correct behaviour; those the code does not
yet meet are xfail (strict)."""

from __future__ import annotations

import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import zip_files
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_atk40_ofd import SIGN0, _sealed, _taken_out
from tests.seal.test_field_pdfs import keys, seal, seal_ca  # noqa: F401
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401


async def _verify(stack, app, files: dict[str, bytes]) -> pb.VerifyOfdResponse:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))


# --- OFD 1: a decoy file makes the taken-out seal's SignedValue "ambiguous" ------

# A's SignedValue is "/Doc_0/Signs/Sign_0/SignedValue.dat"; as ofd.js reads it (its
# first slash removed) it is "Doc_0/Signs/Sign_0/SignedValue.dat", which the
# verifier also reads from the signature's folder: a file there makes A's
# Signature.xml "ambiguous", read_signature_file raises, and _unlisted skips it as
# "no signature", though A's Signature.xml and SignedValue.dat are untouched.
DECOY = SIGN0 + "Doc_0/Signs/Sign_0/SignedValue.dat"


async def test_control_a_seal_taken_out_under_a_new_seal_is_reported(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed()
    maker_b, seal_b = v4_seal_maker()
    files = seal_files(_taken_out(files), signed_value=maker_b, seal=seal_b)
    reply = await _verify(stack, trusting_app, files)
    assert reply.verdict == "MODIFIED", reply.detail


async def test_a_decoy_making_the_removed_seals_value_ambiguous_does_not_hide_it(
    stack,
    trusting_app,  # noqa: F811
):
    files, _maker = _sealed()
    files = _taken_out(files)
    files[DECOY] = b"anything"  # drawn by no reader: A is listed nowhere
    maker_b, seal_b = v4_seal_maker()
    files = seal_files(files, signed_value=maker_b, seal=seal_b)
    reply = await _verify(stack, trusting_app, files)
    # A's Signature.xml and SignedValue.dat are as A signed them: the removal is
    # as evident as without the decoy
    assert reply.verdict != "VALID", reply.detail
    assert "/" + SIGN0 + "Signature.xml" in [s.signature_path for s in reply.signatures]


# --- PDF 1: a DOCTYPE pdf.js ends at the first "]>" ------------------------------

# pdf.js's XMLParserBase ends a DOCTYPE with an internal subset at the first "]>"
# after it, wherever that is: inside a comment of the subset too. What follows is
# parsed as the document, so an rdf:RDF written inside that comment is pdf.js's
# documentElement and its dc:title the title pdf.js shows; expat reads the comment
# as a comment, finds the packet's titles unchanged, and the seal stays VALID.
_FORGED_RDF = (
    "<rdf:RDF><rdf:Description><dc:title>FORGED</dc:title></rdf:Description></rdf:RDF>"
)
_DOCTYPE = f"<!DOCTYPE x:xmpmeta [<!-- ]>{_FORGED_RDF} -->]>"


def _pdfjs_doctype_end(packet: str) -> str:
    """What pdf.js parses after the DOCTYPE (``XMLParserBase.parseXml``)."""
    at = packet.index("<!DOCTYPE")
    first_gt = packet.index(">", at + 9)
    bracket = packet.find("[", at + 9)
    if 0 < bracket < first_gt:
        return packet[packet.index("]>", at + 9) + 2 :]
    return packet[first_gt + 1 :]


def _doctype_packet(inner: str) -> str:
    from tests.seal.test_atk39_pdf import _HEAD, _TAIL, _description

    head = _HEAD.replace('begin="\ufeff"', 'begin=""')
    pi_end = head.index("?>") + 2
    return head[:pi_end] + _DOCTYPE + head[pi_end:] + _description(inner) + _TAIL


def test_premise_pdfjs_reads_a_forged_rdf_out_of_a_doctype_comment():
    from services.seal.pdf_title import xmp_titles
    from tests.seal.test_atk39_pdf import _title

    packet = _doctype_packet(_title("营业执照"))
    # pdf.js: the document starts right after the comment's "]>": its first
    # top-level node (documentElement) is the forged rdf:RDF
    assert _pdfjs_doctype_end(packet).startswith(_FORGED_RDF)
    # expat: a comment in the DTD; the packet's one title, as sealed
    assert xmp_titles(packet.encode()) == [(True, "营业执照")]


async def test_a_doctype_comment_pdfjs_reads_as_the_packet_is_a_title_change(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    from tests.seal.field_pdfs import Tree, page_pdf
    from tests.seal.test_atk39_pdf import _title
    from tests.seal.test_pdf40_title import (
        CHANGED,
        _packet,
        _packet_replaced,
        _verdict,
        _with_packet,
    )
    from tests.seal.test_pdf_tail import _with_display_title

    pdf = _with_packet(
        _with_display_title(page_pdf(Tree())), _packet(_title("营业执照")).encode()
    )
    sealed = await seal(seal_ca, keys, pdf)
    intact, modified, detail = await _verdict(sealed, seal_ca.cert)
    assert intact and not modified, detail
    forged = _packet_replaced(sealed, _doctype_packet(_title("营业执照")).encode())
    intact, modified, detail = await _verdict(forged, seal_ca.cert)
    assert modified, detail  # pdf.js's tab now says FORGED
    assert detail.startswith(CHANGED), detail


# --- PDF 2: which language alternative is the default -----------------------------


# A dc:title is a language alternative (XMP, ISO 16684-1 §8.2.2.4): readers that
# read XMP as XMP (Acrobat, exiftool, PDF 2.0 readers, which deprecate /Info) show
# the x-default item; pdf.js shows every item's text joined. The verifier reads
# each dc:title as pdf.js's joined text only, so swapping the items' xml:lang
# (or moving text between items) changes the title those readers show and not the
# digest: the seal stays VALID.
def _alt(*items: tuple[str, str]) -> str:
    lis = "".join(f'<rdf:li xml:lang="{lang}">{text}</rdf:li>' for lang, text in items)
    return f"<dc:title><rdf:Alt>{lis}</rdf:Alt></dc:title>"


_SEALED_ALT = _alt(("x-default", "营业执照正本"), ("zh-CN", "营业执照副本"))
_SWAPPED_ALT = _alt(("zh-CN", "营业执照正本"), ("x-default", "营业执照副本"))


async def test_the_default_language_alternative_changed_is_a_title_change(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    from tests.seal.field_pdfs import Tree, page_pdf
    from tests.seal.test_pdf40_title import (
        _packet,
        _packet_replaced,
        _verdict,
        _with_packet,
    )
    from tests.seal.test_pdf_tail import _with_display_title

    pdf = _with_packet(
        _with_display_title(page_pdf(Tree())), _packet(_SEALED_ALT).encode()
    )
    sealed = await seal(seal_ca, keys, pdf)
    intact, modified, detail = await _verdict(sealed, seal_ca.cert)
    assert intact and not modified, detail
    swapped = _packet_replaced(sealed, _packet(_SWAPPED_ALT).encode())
    intact, modified, detail = await _verdict(swapped, seal_ca.cert)
    assert modified, detail  # the x-default title is now 营业执照副本


# --- PDF, more of both kinds ------------------------------------------------------

# Kind 1: markup pdf.js's parser (XMLParserBase.parseXml: indexOf, no grammar) ends
# elsewhere than an XML parser does, so that what one reads as a comment, a
# processing instruction or a literal the other reads as the document. Fixed: the
# packet is read by pdf.js's steps too (services/seal/pdf_xmp.py), the title it
# shows counted, and a packet the two read as different markup (or with a
# DOCTYPE) counted by its bytes.


def _with_prolog(prolog: str, inner: str) -> str:
    """A packet titled by ``inner`` with ``prolog`` after its xpacket PI."""
    from tests.seal.test_atk39_pdf import _HEAD, _TAIL, _description

    head = _HEAD.replace('begin="\ufeff"', 'begin=""')
    pi_end = head.index("?>") + 2
    return head[:pi_end] + prolog + head[pi_end:] + _description(inner) + _TAIL


#: prologs after which pdf.js's document is the forged rdf:RDF and expat's the
#: sealed packet's x:xmpmeta
_TWO_WAYS = {
    "doctype-comment": _DOCTYPE,
    "doctype-pi": f"<!DOCTYPE x:xmpmeta [<?p ]>{_FORGED_RDF} ?>]>",
    # no internal subset: pdf.js ends the DOCTYPE at the first ">", in the literal
    "doctype-system-literal": f'<!DOCTYPE x:xmpmeta SYSTEM "]>{_FORGED_RDF}">',
    # XML allows "] >"; pdf.js looks for the next "]>", here in a comment
    "doctype-subset-ending-in-a-space": f"<!DOCTYPE x:xmpmeta [] ><!-- ]>{_FORGED_RDF} -->",
    # no DOCTYPE: pdf.js takes "a?" for the PI's target and reads on to the next
    # "?>", inside the comment
    "pi-without-data": f"<?a?><!-- ?>{_FORGED_RDF} -->",
}


@pytest.mark.parametrize("kind", list(_TWO_WAYS))
def test_premise_pdfjs_and_expat_read_these_packets_two_ways(kind):
    from services.seal.pdf_title import xmp_titles
    from services.seal.pdf_xmp import pdfjs_reading
    from tests.seal.test_atk39_pdf import _title

    packet = _with_prolog(_TWO_WAYS[kind], _title("营业执照"))
    assert pdfjs_reading(packet).title == "FORGED"
    assert xmp_titles(packet.encode()) == [(True, "营业执照")]


def test_pdfjs_reading_follows_its_parser():
    """pdf.js's steps as read in src/core/xml_parser.js and metadata_parser.js."""
    from services.seal.pdf_xmp import pdfjs_reading

    def shown(body: str) -> str | None:
        return pdfjs_reading(body).title

    rdf = "<rdf:RDF><rdf:Description>{}</rdf:Description></rdf:RDF>"
    assert shown(rdf.format("<dc:title>A</dc:title>")) == "A"
    assert shown("<x>" + rdf.format("<DC:Title>A</DC:Title>") + "</x>") == "A"
    # the last dc:title; an empty one shows ""
    assert shown(rdf.format("<dc:title>A</dc:title><dc:title/>")) == ""
    # only the first rdf:rdf child of the document element
    assert shown("<x>" + rdf.format("<dc:title>A</dc:title>") * 2 + "</x>") == "A"
    two = (
        "<x>"
        + rdf.format("<dc:title>A</dc:title>")
        + rdf.format("<dc:title>B</dc:title>")
    )
    assert shown(two + "</x>") == "A"
    # end tags are not matched by name; past the outermost, nodes go nowhere
    assert shown(rdf.format("<dc:title>A</b>B</dc:title>")) == "A"
    # entities: char references, the five names, others left as written
    assert shown(rdf.format("<dc:title>&#x41;&#66;&lt;&t;</dc:title>")) == "AB<&t;"
    assert shown(rdf.format("<dc:title>&#x0x41;&#  67;</dc:title>")) == "AC"
    # a reference pdf.js cannot read throws: no metadata
    assert shown(rdf.format("<dc:title>&#xZZ;</dc:title>")) is None
    assert shown(rdf.format('<dc:title a="&#x110000;">A</dc:title>')) is None
    # text of white space only dropped, CDATA kept; trim and one space a run
    assert shown(rdf.format("<dc:title> <b>A</b> <![CDATA[ ]]>B\t\n</dc:title>")) == (
        "A B"
    )
    # a malformed tag stops the parser: no document
    assert shown(rdf.format("<dc:title a=b>A</dc:title>")) is None
    # the document element unclosed, its first child not rdf:rdf: nextSibling throws
    assert shown("<x><y/>" + rdf.format("<dc:title>A</dc:title>")) is None
    assert shown("<x>" + rdf.format("<dc:title>A</dc:title>")) == "A"


def test_pdfjs_reading_is_bounded():
    """Past MAX_XMP_MARKUP tags or entity references (a Python call each), the
    packet is not read by pdf.js's steps: it counts by its bytes."""
    from certseal.bounds import MAX_XMP_MARKUP
    from services.seal.pdf_xmp import pdfjs_reading

    many = "<x><dc:title>A</dc:title>" + "&amp;" * (MAX_XMP_MARKUP + 1) + "</x>"
    assert pdfjs_reading(many).title is None
    assert pdfjs_reading("<x>" + "&;" * 1000 + "</x>").title == ""


@pytest.fixture(scope="module")
async def sealed_title(seal_ca, keys):  # noqa: F811
    from tests.seal.field_pdfs import Tree, page_pdf
    from tests.seal.test_atk39_pdf import _title
    from tests.seal.test_pdf40_title import _packet, _with_packet
    from tests.seal.test_pdf_tail import _with_display_title

    pdf = _with_packet(
        _with_display_title(page_pdf(Tree())), _packet(_title("营业执照")).encode()
    )
    return await seal(seal_ca, keys, pdf)


@pytest.mark.parametrize("kind", list(_TWO_WAYS))
async def test_a_packet_pdfjs_reads_otherwise_than_xml_is_a_title_change(
    sealed_title,
    seal_ca,  # noqa: F811
    kind,
):
    from tests.seal.test_atk39_pdf import _title
    from tests.seal.test_pdf40_title import CHANGED, _packet_replaced, _verdict

    packet = _with_prolog(_TWO_WAYS[kind], _title("营业执照"))
    intact, modified, detail = await _verdict(
        _packet_replaced(sealed_title, packet.encode()), seal_ca.cert
    )
    assert intact and modified, detail
    assert detail.startswith(f"{CHANGED}: '营业执照' to 'FORGED'"), detail


async def test_markup_both_read_alike_stays_a_reading(sealed_title, seal_ca):  # noqa: F811
    """A comment, a PI with data or a CDATA section reads alike in pdf.js and XML
    readers: the packet is compared as read, not by its bytes."""
    from tests.seal.test_atk39_pdf import _title
    from tests.seal.test_pdf40_title import _packet, _packet_replaced, _verdict

    for inner in (
        "<!-- 备注 -->" + _title("营业执照"),
        "<?note x?>" + _title("<![CDATA[营业执照]]>"),
    ):
        intact, modified, detail = await _verdict(
            _packet_replaced(sealed_title, _packet(inner).encode()), seal_ca.cert
        )
        assert intact and not modified, detail


# Kind 2: a language alternative changed in what XMP readers choose from (each
# item's language, order, boundaries) while pdf.js shows its items joined alike.
# Fixed: each title's form (its elements with their languages, each one's text)
# is counted.
_LANGUAGE_CHANGES = {
    "languages-swapped": _SWAPPED_ALT,
    "text-moved-between-items": _alt(
        ("x-default", "营业执照"), ("zh-CN", "正本营业执照副本")
    ),
    "a-language-changed": _alt(("x-default", "营业执照正本"), ("en", "营业执照副本")),
    "the-default-language-dropped": _SEALED_ALT.replace(' xml:lang="x-default"', ""),
    "the-language-moved-to-the-description": _SEALED_ALT.replace(
        ' xml:lang="zh-CN"', ""
    ).replace("<dc:title>", '<dc:title xml:lang="zh-CN">'),
    "an-alt-made-a-seq": _SEALED_ALT.replace("rdf:Alt>", "rdf:Seq>"),
}


def test_premise_pdfjs_shows_these_titles_alike():
    from services.seal.pdf_title import xmp_titles
    from tests.seal.test_pdf40_title import _packet

    sealed = xmp_titles(_packet(_SEALED_ALT).encode())
    assert sealed == [(True, "营业执照正本营业执照副本")]
    for after in _LANGUAGE_CHANGES.values():
        assert xmp_titles(_packet(after).encode()) == sealed


@pytest.fixture(scope="module")
async def sealed_alt(seal_ca, keys):  # noqa: F811
    from tests.seal.field_pdfs import Tree, page_pdf
    from tests.seal.test_pdf40_title import _packet, _with_packet
    from tests.seal.test_pdf_tail import _with_display_title

    pdf = _with_packet(
        _with_display_title(page_pdf(Tree())), _packet(_SEALED_ALT).encode()
    )
    return await seal(seal_ca, keys, pdf)


@pytest.mark.parametrize("kind", list(_LANGUAGE_CHANGES))
async def test_a_language_alternative_changed_is_a_title_change(
    sealed_alt,
    seal_ca,  # noqa: F811
    kind,
):
    from tests.seal.test_pdf40_title import (
        CHANGED,
        _packet,
        _packet_replaced,
        _verdict,
    )

    after = _packet(_LANGUAGE_CHANGES[kind]).encode()
    intact, modified, detail = await _verdict(
        _packet_replaced(sealed_alt, after), seal_ca.cert
    )
    assert intact and modified, detail
    assert detail.startswith(CHANGED), detail


async def test_an_update_keeping_a_language_alternative_stays_valid(
    sealed_alt,
    seal_ca,  # noqa: F811
):
    """pyHanko's writer writes the packet again on every update: each item keeps
    its language, order and text."""
    from tests.seal.test_pdf40_title import _verdict
    from tests.seal.test_pdf_tail import _keep_title, _updated

    intact, modified, detail = await _verdict(
        _updated(sealed_alt, _keep_title), seal_ca.cert
    )
    assert intact and not modified, detail


#: a packet written elsewhere: a comment, white space, another prefix for Dublin
#: Core, xml:lang on rdf:Description and dc:title, an item without its own
_ELSEWHERE = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<!-- made elsewhere -->\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="" xml:lang="en"'
    ' xmlns:d="http://purl.org/dc/elements/1.1/">\n'
    '   <d:title xml:lang="zh-CN"><rdf:Alt>\n'
    '    <rdf:li xml:lang="x-default">营业执照正本</rdf:li>\n'
    "    <rdf:li>营业执照副本</rdf:li>\n"
    "   </rdf:Alt></d:title>\n"
    '  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>'
)


async def test_a_packet_written_elsewhere_sealed_then_updated_stays_valid(
    seal_ca,  # noqa: F811
    keys,  # noqa: F811
):
    """Sealing writes the packet again (pyHanko's writer, into the sealed revision),
    and so does every later update, alike: each title's form is kept."""
    from tests.seal.field_pdfs import Tree, page_pdf
    from tests.seal.test_pdf40_title import (
        _packet,
        _packet_replaced,
        _verdict,
        _with_packet,
    )
    from tests.seal.test_pdf_tail import _keep_title, _updated, _with_display_title

    pdf = _with_packet(
        _with_display_title(page_pdf(Tree())), _packet(_SEALED_ALT).encode()
    )
    sealed = await seal(seal_ca, keys, _packet_replaced(pdf, _ELSEWHERE.encode()))
    for revision in (sealed, _updated(sealed, _keep_title)):
        intact, modified, detail = await _verdict(revision, seal_ca.cert)
        assert intact and not modified, detail


# --- OFD 2: the removed seal's list and root moved: "no document's" ---------------


# ofd_unlisted.owner attributes a signature no list names to the document whose
# list or root its references hold, or whose list's folder holds it; none, and it
# is skipped as "no document's". After taking A out, the list moved to another
# folder and the root renamed (OFD.xml names both; B seals the package as it is
# then) leave A's Signature.xml, a real signature over itself whose references
# hold this package's pages, attributed to no document: VALID "sealed by B".
def _relocated(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` (A taken out, B listed at Sign_1) with the list moved to
    Doc_0/Lists/ and the root renamed Doc_0/Root.xml, B signed again over that."""
    import base64
    import re

    from certseal.crypto import Suite, digest

    files = dict(files)
    files["Doc_0/Lists/Signatures.xml"] = files.pop("Doc_0/Signs/Signatures.xml")
    files["Doc_0/Root.xml"] = files.pop("Doc_0/Document.xml")
    files["OFD.xml"] = (
        files["OFD.xml"]
        .replace(b"/Doc_0/Signs/Signatures.xml", b"/Doc_0/Lists/Signatures.xml")
        .replace(b"Doc_0/Document.xml", b"Doc_0/Root.xml")
    )
    b_sig = "Doc_0/Signs/Sign_1/Signature.xml"
    xml = (
        files[b_sig]
        .decode()
        .replace("/Doc_0/Signs/Signatures.xml", "/Doc_0/Lists/Signatures.xml")
        .replace("/Doc_0/Document.xml", "/Doc_0/Root.xml")
    )

    def digest_of(found: re.Match[str]) -> str:
        data = files[found.group(1).lstrip("/")]
        value = base64.b64encode(digest(Suite.SM2, data)).decode()
        return f'FileRef="{found.group(1)}"><ofd:CheckValue>{value}<'

    xml = re.sub(r'FileRef="([^"]+)"><ofd:CheckValue>[^<]*<', digest_of, xml)
    files[b_sig] = xml.encode()
    return files


def _moved_case() -> dict[str, bytes]:
    """A sealed, taken out; B (leaving A's files out) sealed; list and root moved."""
    files, _maker = _sealed()
    maker_b, seal_b = v4_seal_maker()
    left = frozenset(name for name in files if name.startswith(SIGN0))
    files = seal_files(
        _taken_out(files), signed_value=maker_b, seal=seal_b, leave_out=left
    )
    files = _relocated(files)
    b_sig = "Doc_0/Signs/Sign_1/Signature.xml"
    files["Doc_0/Signs/Sign_1/SignedValue.dat"] = maker_b(files[b_sig], "/" + b_sig)
    return files


async def test_control_b_alone_with_the_list_and_root_moved_is_valid(
    stack,
    trusting_app,  # noqa: F811
):
    """Nothing shows A existed once its files are gone (documented)."""
    files = {k: v for k, v in _moved_case().items() if not k.startswith(SIGN0)}
    reply = await _verify(stack, trusting_app, files)
    assert reply.verdict == "VALID", reply.detail


async def test_a_seal_taken_out_with_the_list_and_root_moved_is_reported(
    stack,
    trusting_app,  # noqa: F811
):
    reply = await _verify(stack, trusting_app, _moved_case())
    # A's Signature.xml and SignedValue.dat are as A signed them, its references
    # name this package's pages: a removal as evident as L1's
    assert reply.verdict != "VALID", reply.detail
    assert "/" + SIGN0 + "Signature.xml" in [s.signature_path for s in reply.signatures]
