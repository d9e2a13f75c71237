"""atk-ofd2: an outsider's attacks on "entry unsigned" (a seal whose references leave
``OFD.xml`` out) and on ``Type="Sign"`` digital signatures.

A seal is evidence for what a reader shows. When ``OFD.xml`` is not covered, anyone
may rewrite it, so the verifier must read its locations exactly as readers do: a
location the verifier reads one way (stripped, its first text chunk, an attribute
without its namespace, a spelling it cannot resolve) while a reader opens another
file lets a forged document or stamp be shown beside a VALID seal.

How readers read (ofdrw, the reference the project follows, on dom4j):
``DocBody.getDocRoot`` is ``new ST_Loc(element.getText())``: dom4j's ``getText``
joins every text node of the element (an element child splits them; ElementTree's
``.text`` is only the first) and is not trimmed; ``ResourceLocator.get`` trims each
folder name of a location but not its file name; dom4j's ``attributeValue("BaseLoc")``
matches an attribute by its local name, so ``ofd:BaseLoc`` is read as ``BaseLoc``.
Python's ``str.strip`` removes Unicode spaces (U+3000, U+00A0, line breaks) that no
file system and no Java ``trim`` removes from a name.

Each finding was a strict xfail stating what a user needs; F1 and F3 were fixed by
the one shape of an unsealed ``OFD.xml``, F2 and F4 by reading every location in
every reading readers make (``services/seal/ofd_loc.py``). The last tests are
attacks that held.
"""

from __future__ import annotations

import grpc
import pytest
from asn1crypto import x509 as asn1_x509

from certseal.v1 import seal_pb2 as pb
from services.seal.certificates import sign_certificate
from tests.seal.ofd_samples import make_ofd, page_xml, unzip, zip_files
from tests.seal.ofd_signs import own_sm2_signer, sign_maker
from tests.seal.ses_platforms import USER_CERT, seal_files, v4_seal_maker
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

ROOT = "Doc_0/Document.xml"
PAGES = ("Doc_0/Pages/Page_0/Content.xml", "Doc_0/Pages/Page_1/Content.xml")
LISTING = "Doc_0/Signs/Signatures.xml"
FORGED = "伪造的决定书"
ROOT_ELEMENT = b"<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"


async def _verify(  # type: ignore[no-untyped-def]
    stack, app, files: dict[str, bytes]
) -> list[pb.OfdSignatureResult] | None:
    """The OFD's verified signatures, or None when it is refused as not an OFD
    (INVALID_ARGUMENT), which is as good an answer as MODIFIED to a forgery."""
    stub = stub_for(stack, app, "app:archive")
    try:
        reply = await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))
    except grpc.aio.AioRpcError as err:
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err
        return None
    return list(reply.signatures)


def _sealed(
    files: dict[str, bytes] | None = None,
    leave_out: frozenset[str] = frozenset({"OFD.xml"}),
) -> dict[str, bytes]:
    """A v4 seal of ofdrw's test platform (trusted by ``trusting_app``) over every
    file but ``leave_out``: by default the e-invoice layout, OFD.xml left out."""
    signed_value, seal = v4_seal_maker()
    return seal_files(
        files if files is not None else unzip(make_ofd()),
        signed_value=signed_value,
        seal=seal,
        leave_out=leave_out,
    )


def _signed(files: dict[str, bytes], **options) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return seal_files(
        files,
        signed_value=sign_maker(**options),
        seal=b"",
        kind="Sign",
        signed_at_text="2021-06-01 16:00:00",
    )


def _statuses(result: pb.OfdSignatureResult) -> dict[str, str]:
    return {r.file: r.status for r in result.references}


def _forged_root(files: dict[str, bytes], at: str) -> dict[str, bytes]:
    """``files`` with a second document root at ``at`` whose pages show a forgery
    (nothing the seal covers names it)."""
    files = dict(files)
    folder = at.rsplit("/", 1)[0]
    files[at] = files[ROOT].replace(b"Pages/Page_", b"Forged/Page_")
    for page in PAGES:
        files[page.replace("Doc_0/Pages/", folder + "/Forged/")] = page_xml(
            FORGED
        ).encode()
    return files


def _not_vouched(results: list[pb.OfdSignatureResult] | None) -> bool:
    """Refused, or the seal is MODIFIED and not intact: no answer a user reads as
    "the document shown is the document sealed"."""
    if results is None:
        return True
    [result] = results
    return result.verdict == "MODIFIED" and not result.intact


def _said(results: list[pb.OfdSignatureResult] | None) -> object:
    """What the verifier answered, for a failure's message."""
    if results is None:
        return "refused"
    return [(r.verdict, r.intact, _statuses(r).get("/OFD.xml")) for r in results]


# --- F1: OFD.xml's DocRoot read otherwise than readers read it ---------------------


async def test_a_docroot_split_by_an_element_does_not_leave_the_seal_valid(
    stack,
    trusting_app,  # noqa: F811
):
    # the verifier reads "Doc_0/Document.xml" (covered); ofdrw reads
    # "Doc_0/Document.xml_" (the forgery)
    files = _forged_root(_sealed(), "Doc_0/Document.xml_")
    files["OFD.xml"] = files["OFD.xml"].replace(
        ROOT_ELEMENT, b"<ofd:DocRoot>Doc_0/Document.xml<ofd:Note/>_</ofd:DocRoot>"
    )
    results = await _verify(stack, trusting_app, files)
    assert _not_vouched(results), _said(results)


@pytest.mark.parametrize(
    "tail", ["\u3000", "\u00a0", "\n"], ids=["ideographic", "nbsp", "newline"]
)
async def test_a_docroot_ending_in_a_space_character_does_not_leave_the_seal_valid(
    stack,
    trusting_app,  # noqa: F811
    tail,
):
    at = ROOT + tail  # a name of its own on every file system
    files = _forged_root(_sealed(), at)
    files["OFD.xml"] = files["OFD.xml"].replace(
        ROOT_ELEMENT, f"<ofd:DocRoot>{at}</ofd:DocRoot>".encode()
    )
    results = await _verify(stack, trusting_app, files)
    assert _not_vouched(results), _said(results)


# --- F2: OFD.xml's Signatures location read otherwise than readers read it ---------


async def test_a_signature_list_a_reader_shows_is_the_one_verified(
    stack,
    trusting_app,  # noqa: F811
):
    files = _sealed()
    other = LISTING + "\u3000"
    old = "Doc_0/Signs/Sign_0/"
    new = "Doc_0/Signs/Sign_9/"
    files[new + "Signature.xml"] = files[old + "Signature.xml"].replace(
        b"Sign_0", b"Sign_9"
    )
    files[new + "Seal.esl"] = files[old + "Seal.esl"]
    files[new + "SignedValue.dat"] = b"\x30\x03\x02\x01\x00"  # no signature at all
    files[other] = files[LISTING].replace(
        b"</ofd:Signatures>",
        b'<ofd:Signature ID="9" Type="Seal" BaseLoc="/'
        + new.encode()
        + b'Signature.xml"/></ofd:Signatures>',
    )
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"Signatures.xml</ofd:Signatures>",
        "Signatures.xml\u3000</ofd:Signatures>".encode(),
    )
    results = await _verify(stack, trusting_app, files)
    # the stamp a reader shows (entry 9) is reported and not VALID, or refused
    assert results is None or any(
        r.signature_id == "9" and r.verdict != "VALID" for r in results
    ), [(r.signature_id, r.verdict) for r in results]


# --- F3: a version the verifier cannot resolve ------------------------------------


def _version_added(files: dict[str, bytes], attribute: bytes) -> dict[str, bytes]:
    files = dict(files)
    files["Doc_0/Versions/Version_0.xml"] = (
        b'<ofd:DocVersion xmlns:ofd="http://www.ofdspec.org/2016" ID="v1">'
        b'<ofd:FileList><ofd:File ID="1">Pages/Page_9/Content.xml</ofd:File>'
        b"</ofd:FileList><ofd:DocRoot>Document.xml</ofd:DocRoot></ofd:DocVersion>"
    )
    files["Doc_0/Versions/Pages/Page_9/Content.xml"] = page_xml(FORGED).encode()
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b'</ofd:DocRoot><ofd:Versions><ofd:Version ID="v1" Index="1" '
        b'Current="true" ' + attribute + b"/></ofd:Versions>",
        1,
    )
    return files


@pytest.mark.parametrize(
    "attribute",
    [
        b'ofd:BaseLoc="Doc_0/Versions/Version_0.xml"',
        b'BaseLoc="Doc_0\\Versions\\Version_0.xml"',
        b'BaseLoc="Doc_0/ Versions/Version_0.xml"',
    ],
    ids=["namespaced-attribute", "backslashes", "padded-folder"],
)
async def test_an_uncovered_ofd_xml_naming_a_version_is_not_entry_unsigned(
    stack,
    trusting_app,  # noqa: F811
    attribute,
):
    results = await _verify(stack, trusting_app, _version_added(_sealed(), attribute))
    assert _not_vouched(results), _said(results)
    assert results is None or _statuses(results[0])["/OFD.xml"] == "unsigned"


# --- F4: pages a signed document root names in a way the verifier does not read ----


@pytest.mark.parametrize(
    ("old", "new"),
    [(b" BaseLoc=", b" ofd:BaseLoc="), (b' BaseLoc="Pages', b' BaseLoc=" Pages')],
    ids=["namespaced-attribute", "padded-folder"],
)
async def test_pages_named_as_readers_read_them_must_be_covered(
    stack,
    trusting_app,  # noqa: F811
    old,
    new,
):
    files = unzip(make_ofd())
    files[ROOT] = files[ROOT].replace(old, new)
    files = _sealed(files, leave_out=frozenset(PAGES))  # covers OFD.xml and root
    files[PAGES[0]] = page_xml(FORGED).encode()
    results = await _verify(stack, trusting_app, files)
    assert _not_vouched(results), _said(results)


# --- attacks that held -----------------------------------------------------------


@pytest.mark.parametrize("leave_out", [frozenset(), frozenset({"OFD.xml"})])
async def test_a_valid_sign_after_a_page_changed_leaves_the_seal_modified(
    stack,
    trusting_app,  # noqa: F811
    leave_out,
):
    files = _sealed(leave_out=leave_out)
    files[PAGES[0]] = page_xml(FORGED).encode()
    results = await _verify(stack, trusting_app, _signed(files))
    assert results is not None
    seal, sign = results
    assert sign.verdict == "VALID", sign.checks  # a trusted signer signed the forgery
    assert seal.verdict == "MODIFIED", seal.checks
    assert not seal.intact


async def test_a_sign_by_an_impostor_of_a_trusted_certificate_is_not_valid(
    stack,
    trusting_app,  # noqa: F811
):
    # a certificate of the signer's own key claiming the trusted certificate's
    # issuer and serial, carried first so the SignerInfo's sid finds it
    signer, own_cert, _root = own_sm2_signer()
    user = asn1_x509.Certificate.load(USER_CERT)["tbs_certificate"]
    mine = asn1_x509.Certificate.load(own_cert)["tbs_certificate"]
    fields = {
        name: mine[name]
        for name in ("version", "validity", "subject", "subject_public_key_info")
    }
    fields["serial_number"] = user["serial_number"]
    fields["issuer"] = user["issuer"]
    impostor = sign_certificate(signer, fields)
    files = _signed(
        unzip(make_ofd()), signer=signer, cert=USER_CERT, carry=(impostor, USER_CERT)
    )
    results = await _verify(stack, trusting_app, files)
    assert results is not None
    [sign] = results
    assert sign.verdict == "UNTRUSTED_SEAL", sign.checks
    [check] = [c for c in sign.checks if c.name == "signer certificate"]
    assert "signature on it is wrong" in check.detail, check.detail
