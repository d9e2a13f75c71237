"""atk-last (a): an outsider's attacks on reading every OFD location in every reading
readers make (``services/seal/ofd_loc.py``, ``services/seal/ofd_drawn.py``).

A file a reader draws must be covered by a seal (atk-ofd2 F4). ofdrw's
``ResourceLocator.toAbsolutePath`` resolves a location segment by segment: ``..``
at the package root stays at the root (``removeLast`` then ``add("/")``), and a
location of any length is resolved (``./`` and empty segments skipped). The verifier
drops a reading that "leaves the package" or is longer than 1,024 characters
(``ofd_zip.normalise``), so the file ofdrw opens for it is not drawn, and a seal
that leaves it out is VALID while a reader shows it.

Each finding is a strict xfail stating what a user needs.
"""

from __future__ import annotations

import pytest

from tests.seal.ofd_samples import make_ofd, page_xml, unzip
from tests.seal.ses_platforms import seal_files, v4_seal_maker
from tests.seal.test_ofd_locations import _results, _with_common
from tests.seal.test_rpc_interop import stub_for, trusting_app  # noqa: F401

TEMPLATE = "Doc_0/Tpls/Tpl_0/Content.xml"


@pytest.mark.xfail(
    strict=True,
    reason="atk-last F1: a location climbing above the package root ('../../Doc_0/"
    "Tpls/...' from Doc_0) is read by ofdrw as from the root (.. at the root stays "
    "there); the verifier drops that reading as leaving the package, so the "
    "template ofdrw draws is not drawn and a seal leaving it out is VALID",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="atk-last F2: a location longer than 1,024 characters ('./' * 520 + "
    "'Tpls/Tpl_0/Content.xml') names a package file for any reader that resolves "
    "it (ofdrw skips '.' segments); the verifier drops the reading (normalise's "
    "length cap), so the file is not drawn and a seal leaving it out is VALID",
)
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
