"""atk41d's two ways around "a seal taken out of its list", at their kind
(services/seal/ofd_unlisted.py):

1. What an attacker ADDS must not make a removed seal's evidence vanish: a
   ``Signature.xml`` no list names that is a GB/T 33190 Signature but that cannot be
   decided (a decoy where another reader reads its signed value, a location read
   two ways) is verified by every file its signed value may be, and reported
   MALFORMED when one holds a signature over it; past four such files, reported
   unverified. Only a file that is no Signature document, and one no possible
   signed value signs ("unsigned"), change nothing.
2. What an attacker RENAMES must not leave it no document's: it belongs to the
   document beside whose list or root it lies, else whose list, root or files its
   references name or whose files hold its references' digests, else the first.

And the report says what is known: a seal whose signature holds over this
``Signature.xml``, not listed: taken out of the list, or a file added.
"""

from __future__ import annotations

import pytest

from certseal.v1 import seal_pb2 as pb
from tests.seal.ofd_samples import make_ofd, unzip, zip_files
from tests.seal.ofd_signs import sign_maker
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_atk40_ofd import (
    SIGN0,
    _moved,
    _resealed,
    _sealed,
    _taken_out,
    _value_in_a_folder,
)
from tests.seal.test_ofd_documents import sealed, two_documents
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

A_SIG = "/" + SIGN0 + "Signature.xml"


async def _verify(stack, app, files: dict[str, bytes]) -> pb.VerifyOfdResponse:  # type: ignore[no-untyped-def]
    stub = stub_for(stack, app, "app:archive")
    return await stub.VerifyOfd(pb.VerifyOfdRequest(ofd=zip_files(files)))


def _unlisted(reply: pb.VerifyOfdResponse, path: str = A_SIG) -> pb.OfdSignatureResult:
    [found] = [s for s in reply.signatures if s.signature_path == path]
    return found


def _under_b(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` (A's entry taken out) sealed by B over the list without A."""
    maker_b, seal_b = v4_seal_maker()
    return seal_files(files, signed_value=maker_b, seal=seal_b)


def _assert_reported_undecided(reply: pb.VerifyOfdResponse) -> pb.OfdSignatureResult:
    removed = _unlisted(reply)
    assert removed.verdict == "MALFORMED", removed.checks
    listed = removed.checks[0]
    assert listed.name == "listed" and not listed.passed
    assert "whose signature holds over this Signature.xml" in listed.detail
    assert "cannot be decided" in listed.detail
    assert "ambiguous" in listed.detail
    assert not removed.intact
    assert reply.verdict == "MALFORMED", reply.detail
    return removed


# --- 1. decoys added where readers read a removed seal's signed value ------------

# A's SignedValue "/Doc_0/Signs/Sign_0/SignedValue.dat" as ofd.js reads it (its first
# slash removed) from A's folder, and as ofdrw reads that again from there
_ABSOLUTE_DECOYS = (
    SIGN0 + "Doc_0/Signs/Sign_0/SignedValue.dat",
    SIGN0 + "Doc_0/Signs/Sign_0/Doc_0/Signs/Sign_0/SignedValue.dat",
)


@pytest.mark.parametrize(
    "decoys",
    [_ABSOLUTE_DECOYS[1:], _ABSOLUTE_DECOYS],
    ids=["ofdrw-again", "both"],
)
async def test_decoys_at_other_readings_of_a_removed_seals_value_do_not_hide_it(
    stack,
    trusting_app,  # noqa: F811
    decoys,
):
    files, _maker = _sealed()
    files = _taken_out(files)
    other, _seal = v4_seal_maker()
    for n, decoy in enumerate(decoys):  # a real SES_Signature over another file
        files[decoy] = other(b"another file %d" % n, "/x")
    reply = await _verify(stack, trusting_app, _under_b(files))
    removed = _assert_reported_undecided(reply)
    assert "/" + SIGN0 + "SignedValue.dat" in removed.checks[0].detail


@pytest.mark.parametrize(
    "decoy",
    [
        SIGN0 + "v/v/SignedValue.dat",  # ofdrw: the folder twice
        "vSignedValue.dat",  # ofd.js: its first slash removed, from the root
        SIGN0 + "vSignedValue.dat",  # ofd.js: so, from the signature's folder
    ],
)
async def test_a_decoy_beside_a_removed_seals_relative_value_does_not_hide_it(
    stack,
    trusting_app,  # noqa: F811
    decoy,
):
    """A SignedValue ``v/SignedValue.dat``: three other readings to put a file at."""
    files, _maker = _value_in_a_folder()
    files = _taken_out(files)
    files[decoy] = b"anything"
    _assert_reported_undecided(await _verify(stack, trusting_app, _under_b(files)))


def _relative_seal() -> dict[str, bytes]:
    """A sealed with its ``Seal/BaseLoc`` written ``Seal.esl`` (from its folder)."""
    files, maker = _sealed()
    sig = SIGN0 + "Signature.xml"
    files[sig] = files[sig].replace(
        f"<ofd:BaseLoc>/{SIGN0}Seal.esl<".encode(), b"<ofd:BaseLoc>Seal.esl<"
    )
    _resealed(files, maker, sig, SIGN0 + "SignedValue.dat")
    return files


async def test_control_a_seal_with_a_relative_seal_location_is_valid(
    stack,
    trusting_app,  # noqa: F811
):
    reply = await _verify(stack, trusting_app, _relative_seal())
    assert reply.verdict == "VALID", reply.detail


async def test_a_decoy_making_a_removed_seals_seal_location_ambiguous_does_not_hide_it(
    stack,
    trusting_app,  # noqa: F811
):
    """Not its signed value: its ``Seal.esl``, read from the package root too."""
    files = _taken_out(_relative_seal())
    files["Seal.esl"] = b"anything"
    removed = _assert_reported_undecided(
        await _verify(stack, trusting_app, _under_b(files))
    )
    assert "Seal BaseLoc" in removed.checks[0].detail


async def test_a_decoy_beside_a_removed_digital_signature_does_not_hide_it(
    stack,
    trusting_app,  # noqa: F811
):
    """The same for a Sign (a GB/T 35275 SignedData), verified as a Sign."""
    files = seal_files(
        unzip(make_ofd()),
        signed_value=sign_maker(),
        seal=b"",
        kind="Sign",
        signed_at_text="2021-06-01 16:00:00",
    )
    files = _taken_out(files)
    files[_ABSOLUTE_DECOYS[0]] = b"anything"
    reply = await _verify(stack, trusting_app, _under_b(files))
    removed = _assert_reported_undecided(reply)
    assert removed.type == "Sign"
    assert "a signature by" in removed.checks[0].detail


def _crafted(values: int) -> dict[str, bytes]:
    """A VALID file with an unsigned Signature document at Sign_9 whose signed value
    may be any of ``values`` files (two SignedValue elements, each read joined and
    by its first piece, and SignedValue.dat beside it)."""
    files, _maker = _sealed()
    folder = "Doc_0/Signs/Sign_9/"
    files[folder + "Signature.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ofd:Signature xmlns:ofd="http://www.ofdspec.org/2016"><ofd:SignedInfo/>'
        b"<ofd:SignedValue>a<ofd:x/>b</ofd:SignedValue>"
        b"<ofd:SignedValue>c<ofd:x/>d</ofd:SignedValue></ofd:Signature>"
    )
    for n, name in enumerate(["a", "ab", "c", "cd", "SignedValue.dat"][:values]):
        files[folder + name] = b"value %d" % n
    return files


async def test_a_signature_document_past_the_signed_values_verified_is_reported(
    stack,
    trusting_app,  # noqa: F811
):
    """Past four files its signed value may be, it is reported unverified, never
    dropped: adding files (to an honest removed seal too) cannot make it vanish."""
    reply = await _verify(stack, trusting_app, _crafted(5))
    found = _unlisted(reply, "/Doc_0/Signs/Sign_9/Signature.xml")
    assert found.verdict == "MALFORMED", found.checks
    assert "may be any of 5 files, not verified" in found.checks[0].detail
    assert reply.verdict == "MALFORMED"


async def test_control_an_undecided_signature_document_no_value_signs_changes_nothing(
    stack,
    trusting_app,  # noqa: F811
):
    """Four files, none a signature over it: unsigned, anyone may write it."""
    reply = await _verify(stack, trusting_app, _crafted(4))
    assert [s.verdict for s in reply.signatures] == ["VALID"], reply.signatures
    assert reply.verdict == "VALID"


@pytest.mark.parametrize(
    "stray",
    [
        "copy",  # the listed Signature.xml again: the same signature, listed
        "unsigned",  # its signed value, read either way, does not sign it
        "no signature",  # XML of another root element
    ],
)
async def test_control_an_undecided_file_that_is_no_removed_seal_changes_nothing(
    stack,
    trusting_app,  # noqa: F811
    stray,
):
    files, _maker = _sealed()
    signature = files[SIGN0 + "Signature.xml"]
    folder = "Doc_0/Signs/Sign_9/"
    files[folder + "Signature.xml"] = {
        "copy": signature,
        "unsigned": signature.replace(b"2021-06-01", b"2021-06-02"),
        "no signature": signature.replace(b"ofd:Signature", b"ofd:Signatures"),
    }[stray]
    # where ofd.js reads its SignedValue from its folder: ambiguous
    files[folder + "Doc_0/Signs/Sign_0/SignedValue.dat"] = b"anything"
    reply = await _verify(stack, trusting_app, files)
    assert [s.verdict for s in reply.signatures] == ["VALID"], reply.signatures
    assert reply.verdict == "VALID"


# --- 2. names changed after the fact ---------------------------------------------


def _renamed_document() -> dict[str, bytes]:
    """A sealed and taken out; the document moved to ``Doc_X`` (root, pages, list;
    OFD.xml names them), A's files left where they were; B sealed."""
    files, _maker = _sealed()
    a = {k: v for k, v in files.items() if k.startswith(SIGN0)}
    rest = {k: v for k, v in _taken_out(files).items() if k not in a}
    files = _moved(rest, "Doc_0/", "Doc_X/")
    maker_b, seal_b = v4_seal_maker()
    return {**seal_files(files, signed_value=maker_b, seal=seal_b, doc="Doc_X"), **a}


async def test_control_b_alone_in_a_renamed_document_is_valid(
    stack,
    trusting_app,  # noqa: F811
):
    files = {k: v for k, v in _renamed_document().items() if not k.startswith(SIGN0)}
    reply = await _verify(stack, trusting_app, files)
    assert reply.verdict == "VALID", reply.detail


async def test_a_seal_taken_out_and_its_document_renamed_is_reported(
    stack,
    trusting_app,  # noqa: F811
):
    """A names nothing the package holds now but ``OFD.xml``: its pages' digests
    tell whose it was."""
    reply = await _verify(stack, trusting_app, _renamed_document())
    removed = _unlisted(reply)
    assert removed.verdict == "MODIFIED", removed.checks
    assert "files of this document, renamed since" in removed.checks[0].detail
    assert reply.verdict == "MODIFIED"


async def test_a_seal_taken_out_of_the_second_documents_list_is_reported_as_its(
    stack,
    trusting_app,  # noqa: F811
):
    """Doc_1's seal names Doc_0's list too (it covers every file): it lies beside
    Doc_1's list, and is Doc_1's."""
    files = sealed(sealed(two_documents(), 0), 1)
    listing = "Doc_1/Signs/Signatures.xml"
    files[listing] = files[listing].replace(
        b'<ofd:Signature ID="1" Type="Seal" BaseLoc="/Doc_1/Signs/Sign_0/Signature.xml"/>',
        b"",
    )
    reply = await _verify(stack, trusting_app, files)
    removed = _unlisted(reply, "/Doc_1/Signs/Sign_0/Signature.xml")
    assert removed.document == 1
    assert "/Doc_1/Signs/Signatures.xml" in removed.checks[0].detail
    assert [d.verdict for d in reply.documents] == ["VALID", "MODIFIED"]


async def test_another_files_signature_copied_in_says_what_is_known(
    stack,
    trusting_app,  # noqa: F811
):
    """Another OFD's real second seal (its SignedValue at Sign_1, absolute) copied
    into a VALID file's Sign_1: a signature over itself, not listed. Reported
    MODIFIED (it cannot be told from a seal taken out), in words that are true: no
    claim that it signed this document."""
    files, _maker = _sealed()
    other, _ = _sealed(files=unzip(make_ofd(pages=("送达回证",))))
    maker_c, seal_c = v4_seal_maker()
    other = seal_files(other, signed_value=maker_c, seal=seal_c)
    for name in ("Signature.xml", "SignedValue.dat", "Seal.esl"):
        files["Doc_0/Signs/Sign_1/" + name] = other["Doc_0/Signs/Sign_1/" + name]
    reply = await _verify(stack, trusting_app, files)
    copied = _unlisted(reply, "/Doc_0/Signs/Sign_1/Signature.xml")
    assert copied.verdict == "MODIFIED", copied.checks
    detail = copied.checks[0].detail
    assert "whose signature holds over this Signature.xml" in detail
    assert "taken out of the list, or a file added" in detail
    assert "signed this document" not in detail
    assert reply.verdict == "MODIFIED"


def test_a_signature_naming_only_the_second_documents_files_is_its() -> None:
    """A document's own files are what its root draws, not every document's (the
    files ``OFD.xml`` draws are every root's and what each names)."""
    from services.seal.ofd import signatures_documents
    from services.seal.ofd_package import read_package
    from services.seal.ofd_unlisted import owner

    files = two_documents()  # Doc_1's first page outside its folder, at /P1/
    files["Doc_1/Document.xml"] = files["Doc_1/Document.xml"].replace(
        b'BaseLoc="Pages/Page_0/Content.xml"', b'BaseLoc="/P1/Content.xml"'
    )
    files["P1/Content.xml"] = files.pop("Doc_1/Pages/Page_0/Content.xml")
    documents = signatures_documents(read_package(zip_files(files), "ofd"), "ofd")
    found = owner(documents, "Elsewhere/Signature.xml", ["P1/Content.xml"])
    assert found == (1, "its references name files of this document")
    found = owner(documents, "Elsewhere/Signature.xml", ["Nowhere/x.xml"])
    assert found == (0, "its references name no file of this document")
