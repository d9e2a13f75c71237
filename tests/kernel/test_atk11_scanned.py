"""atk11: code text as scanner guns, clerks and phones really produce it, attacked
from outside (certseal.codes.decode_code and the issuer's authorisation-code
normalisation, services.issuer.authorisation.normalise_code).

Each test here was a finding of that attack, now fixed. The verdicts were right in
every case (junk MALFORMED, a real code never read as another); what failed was a real
code refused, or a message that named the wrong problem (a code "cut short" that is
twice as long) or none.
"""

import re

import pytest

from certseal import codes, scanned
from certseal.crypto import SoftwareSigner, Suite, generate_key
from services.issuer.authorisation import normalise_code

_KEY = generate_key(Suite.ED25519)
SIGNER = SoftwareSigner(Suite.ED25519, _KEY.private_bytes, _KEY.public_key_der)
CLAIMS = {1: "issuer", 4: 2_000_000_000}
AUTHORISATION = "AU-7K3M9QXZ2P4R"


@pytest.fixture(scope="module")
async def code() -> str:
    return await codes.encode_code("LC1:", CLAIMS, SIGNER)


def _refused(text: str) -> str:
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(text)
    return str(err.value)


@pytest.mark.parametrize("separator", ["", " ", "\r\n", "\t"])
async def test_atk11_a_double_read_is_named_not_called_cut_short(code, separator):
    """A scanner gun in continuous mode, or a clerk pulling the trigger twice, types
    the code twice, with its suffix (CR LF, TAB) between or nothing."""
    message = _refused(code + separator + code)
    assert "cut short" not in message, message
    assert re.search(r"two codes|second code|twice", message), message


@pytest.mark.parametrize(
    ("build", "second"),
    [
        (lambda code: code[:60] + code, 61),
        (lambda code: code[:61] + code, 62),
        (lambda code: code[:100] + "PC1:" + code[100:], 101),
    ],
    ids=["cut-then-rescan", "cut-then-rescan-2", "PC1-inside"],
)
async def test_atk11_a_second_prefix_inside_the_code_is_named(code, build, second):
    """``second``: where the second prefix starts (1-based), as the kernel counts a
    prefix after other text ("'LC1:' appears at character N")."""
    message = _refused(build(code))
    assert "cut short" not in message, message
    assert f"character {second}" in message, message


@pytest.mark.parametrize("after", [".", " X", "-"])
async def test_atk11_text_after_a_complete_code_is_not_called_cut_short(code, after):
    message = _refused(code + after)
    assert "cut short" not in message, message


async def test_atk11_characters_after_a_complete_code_are_named_as_such(code):
    message = _refused(code + "00")
    assert "bytes after the zlib stream" not in message, message
    assert re.search(r"characters? after the code", message), message


@pytest.mark.parametrize("cut", ["L", "LC", "LC1", "lc1", "P", "PC", "PC1"])
def test_atk11_a_read_cut_inside_the_prefix_says_scan_it_again(cut):
    message = _refused(cut)
    assert "scan it again" in message, message


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"],
    ids=["ZWSP", "ZWNJ", "ZWJ", "WJ", "BOM", "SHY"],
)
async def test_atk11_an_invisible_character_inside_a_pasted_code_is_ignored(
    code, invisible
):
    """Word processors and web pages put zero-width spaces and soft hyphens into long
    unbroken strings as line-break opportunities; a copy brings them along. They are
    not Base45 and carry nothing, exactly as around the code."""
    pasted = code[:40] + invisible + code[40:120] + invisible + code[120:]
    decoded = codes.decode_code(pasted)
    assert decoded.claims == CLAIMS
    decoded.verify_signature(SIGNER.public_key_der)
    assert codes.normalise_code_text(pasted) == code


@pytest.mark.parametrize("inside", ["\n", "\r\n", "\t", "_", "#"])
async def test_atk11_a_character_outside_base45_is_named_with_its_position(
    code, inside
):
    message = _refused(code[:40] + inside + code[40:])
    # as the kernel names a character outside ASCII: "character 45 is '\n' ..."
    assert "character 41" in message, message


@pytest.mark.parametrize("text", [AUTHORISATION, "ＡＵ－７Ｋ３Ｍ９ＱＸＺ２Ｐ４Ｒ"])
def test_atk11_an_authorisation_code_given_as_a_licence_code_is_named(text):
    message = _refused("\x02" + text + "\x03")
    assert "authorisation" in message, message


@pytest.mark.parametrize(
    "variant",
    [
        "\x02" + AUTHORISATION + "\x03",
        AUTHORISATION + "\x04",
        "\x00" + AUTHORISATION,
        "\x02]Q1" + AUTHORISATION + "\r\n",
        "\u200b" + AUTHORISATION,
        "\ufeff" + AUTHORISATION,
        "ＡＵ－７Ｋ３Ｍ９ＱＸＺ２Ｐ４Ｒ",
        "AU－7K3M9QXZ2P4R",
    ],
)
def test_atk11_an_authorisation_code_as_scanners_deliver_it_is_read(variant):
    assert normalise_code(variant) == AUTHORISATION


@pytest.mark.parametrize(
    "text", ["AU-" + "ß" * 6, "AU-7K3M9QXZ2P4ı", "AU-ıK3M9QXZ2P4R"]
)
def test_atk11_non_ascii_letters_do_not_upper_case_into_an_authorisation_code(text):
    assert normalise_code(text) is None


@pytest.mark.parametrize("char", ["\ufdfa", "\u3316"])
def test_atk11_nfkc_does_no_more_work_than_a_code_is_long(monkeypatch, char):
    """Deterministic stand-in for the time: the characters NFKC produced in all."""
    produced = []
    real = scanned.unicodedata.normalize

    def counting(form: str, text: str) -> str:
        out = real(form, text)
        produced.append(len(out))
        return out

    monkeypatch.setattr(scanned.unicodedata, "normalize", counting)
    with pytest.raises(codes.MalformedCode):
        codes.decode_code(char * 8192)
    assert sum(produced) <= 8192 + 18, produced
