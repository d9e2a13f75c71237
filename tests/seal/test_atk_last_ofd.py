"""atk-last (a): an outsider's attacks on reading every OFD location in every reading
readers make (``services/seal/ofd_loc.py``, ``services/seal/ofd_drawn.py``).

A file a reader draws must be covered by a seal (atk-ofd2 F4). ofdrw's
``ResourceLocator.toAbsolutePath`` resolves a location segment by segment: ``..``
at the package root stays at the root (``removeLast`` then ``add("/")``), and a
location of any length is resolved (``./`` and empty segments skipped). The verifier
drops a reading that "leaves the package" or is longer than 1,024 characters
(``ofd_zip.normalise``), so the file ofdrw opens for it is not drawn, and a seal
that leaves it out is VALID while a reader shows it.

Fixed (``ofd_loc.resolve``): a location is resolved segment by segment as readers
resolve it, ``..`` at the root staying there, of any length (up to
``ofd_loc.MAX_SEGMENTS`` segments; beyond, refused as ambiguous).
"""

from __future__ import annotations

import grpc
import pytest

from services.seal.ofd_loc import MAX_SEGMENTS, LocationPastReading, readings
from tests.seal.ofd_samples import make_ofd, page_xml, unzip
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_ofd_locations import ROOT, _results, _with_common
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

TEMPLATE = "Doc_0/Tpls/Tpl_0/Content.xml"


@pytest.mark.parametrize(
    "loc",
    [
        "../../Doc_0/Tpls/Tpl_0/Content.xml",
        "/../Doc_0/Tpls/Tpl_0/Content.xml",
        "../../../../Doc_0/Tpls/Tpl_0/Content.xml",
    ],
    ids=["relative-above-root", "absolute-above-root", "far-above-root"],
)
async def test_a_location_climbing_above_the_root_names_the_file_ofdrw_opens(
    stack,
    trusting_app,  # noqa: F811
    loc,
):
    await _forged_template_is_not_valid(stack, trusting_app, loc)


@pytest.mark.parametrize(
    "loc",
    [
        "./" * 520 + "Tpls/Tpl_0/Content.xml",
        "Tpls/" + "x/../" * 210 + "Tpl_0/Content.xml",
    ],
    ids=["dot-segments", "up-and-down"],
)
async def test_a_long_location_names_the_file_readers_open(
    stack,
    trusting_app,  # noqa: F811
    loc,
):
    assert len(loc) > 1024
    await _forged_template_is_not_valid(stack, trusting_app, loc)


EXTRA_PAGE = "Doc_0/Pages/Page_9/Content.xml"


@pytest.mark.parametrize(
    "loc",
    ["../../Doc_0/Pages/Page_9/Content.xml", "/../../Doc_0/Pages/Page_9/Content.xml"],
    ids=["relative", "absolute"],
)
async def test_a_page_climbing_above_the_root_names_the_page_ofdrw_draws(
    stack,
    trusting_app,  # noqa: F811
    loc,
):
    files = unzip(make_ofd())
    files[ROOT] = files[ROOT].replace(
        b"</ofd:Pages>", f'<ofd:Page ID="9" BaseLoc="{loc}"/></ofd:Pages>'.encode()
    )
    files[EXTRA_PAGE] = page_xml("伪造的页").encode()
    maker, seal = v4_seal_maker()
    files = seal_files(
        files, signed_value=maker, seal=seal, leave_out=frozenset({EXTRA_PAGE})
    )
    [result] = await _results(stack, trusting_app, files)
    # a user needs: the page a reader shows is not sealed, so not VALID
    assert result.verdict == "MODIFIED", result.checks
    statuses = {r.file: r.status for r in result.references}
    assert statuses["/" + EXTRA_PAGE] == "unsigned", statuses


def test_a_location_of_too_many_segments_is_refused_as_ambiguous():
    with pytest.raises(LocationPastReading) as caught:
        readings(["./" * MAX_SEGMENTS + "Content.xml"], ("Doc_0",))
    assert caught.value.field == "ofd"
    assert "ambiguous" in caught.value.message
    # one segment fewer is resolved, to the file it names
    assert "Doc_0/Content.xml" in readings(
        ["./" * (MAX_SEGMENTS - 1) + "Content.xml"], ("Doc_0",)
    )


@pytest.mark.parametrize("where", ["template", "signature"])
async def test_a_sealed_ofd_with_a_location_of_too_many_segments_is_refused(
    stack,
    trusting_app,  # noqa: F811
    where,
):
    long = "./" * MAX_SEGMENTS
    files = unzip(make_ofd())
    if where == "template":
        files = _with_common(
            files, f'<ofd:TemplatePage ID="5" BaseLoc="{long}x.xml"/>'.encode()
        )
    maker, seal = v4_seal_maker()
    files = seal_files(files, signed_value=maker, seal=seal)
    if where == "signature":
        signs = "Doc_0/Signs/Signatures.xml"
        files[signs] = files[signs].replace(b'BaseLoc="', f'BaseLoc="{long}'.encode())
    # a user needs: a clear refusal naming the package, not INTERNAL nor a verdict
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _results(stack, trusting_app, files)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "4096 segments" in (caught.value.details() or "")


async def _forged_template_is_not_valid(stack, app, loc: str) -> None:  # type: ignore[no-untyped-def]
    files = _with_common(
        unzip(make_ofd()), f'<ofd:TemplatePage ID="5" BaseLoc="{loc}"/>'.encode()
    )
    files[TEMPLATE] = page_xml("伪造的模板").encode()
    maker, seal = v4_seal_maker()
    files = seal_files(
        files, signed_value=maker, seal=seal, leave_out=frozenset({TEMPLATE})
    )
    [result] = await _results(stack, app, files)
    # a user needs: the template a reader shows is not sealed, so not VALID
    assert result.verdict == "MODIFIED", result.checks
    statuses = {r.file: r.status for r in result.references}
    assert statuses["/" + TEMPLATE] == "unsigned", statuses


async def test_control_a_plain_template_location_left_out_is_modified(
    stack,
    trusting_app,  # noqa: F811
):
    # the control: the same forgery under a plain location is caught
    await _forged_template_is_not_valid(stack, trusting_app, "Tpls/Tpl_0/Content.xml")
