"""atk74 F3 at the counter: a presentation code read only in part (``PC1:`` and far
fewer characters than any code) was headlined "Not a licence code, or read only in
part" — the holder's presentation code is no licence code, and the clerk was told
the holder showed the wrong thing. It is headlined as a presentation code; a licence
code's start stays as it was. The detail is the kernel's own (certseal.codes)."""

from __future__ import annotations

import pytest

from certseal import codes
from certseal.crypto import SoftwareSigner, Suite, generate_key
from services.console.wording import rescan_wording

_KEY = generate_key(Suite.ED25519)
SIGNER = SoftwareSigner(Suite.ED25519, _KEY.private_bytes, _KEY.public_key_der)


def _detail(text: str) -> str:
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(text)
    return f"{err.value.stage.value}: {err.value.message}"


@pytest.mark.parametrize(
    ("prefix", "title"),
    [
        ("PC1:", "Not a presentation code, or read only in part"),
        ("LC1:", "Not a licence code, or read only in part"),
    ],
)
async def test_a_code_read_only_in_part_is_headlined_as_its_kind(prefix, title):
    code = await codes.encode_code(prefix, {1: "x", 7: b"n" * 16}, SIGNER)
    for text in (code[:40], code[:41], code[:42], prefix + "ZZZ", prefix + "ABCD"):
        shown = rescan_wording({"name": "decode", "detail": _detail(text)})
        assert shown is not None and shown.title_en == title, (text, shown)
    # from the shortest code's length on, a cut is a cut, whatever the kind
    shown = rescan_wording({"name": "decode", "detail": _detail(code[:101])})
    assert shown is not None and shown.title_en == "Code read only in part"
