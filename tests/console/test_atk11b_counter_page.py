"""atk11b: the counter page's reading of scans, after the nu11 and atk11 fixes,
attacked from outside.

Findings, each fixed and tested here:

- the page headlines a MALFORMED verdict "Code read only in part" / "Two codes read as
  one" (services.console.wording.RESCAN) when the words "scan it again" or "scan one
  code at a time" appear anywhere in the decode check's detail. That detail also
  quotes what a crafted code holds (a duplicate CBOR map key, certseal.cbor), so
  anyone who prints a QR code makes the page tell the clerk to scan again instead of
  "Not a licence code";
- the same substring match takes the kernel's advice for a code typed through a
  Chinese input method ("switch the input method ... and type or scan it again") for
  a read cut short: the headline says "Code read only in part";
- an authorisation code pasted with an invisible character before it or inside its
  first characters (a zero-width space, word joiner or soft hyphen from a chat, which
  the issuer's normalise_code removes) is sent by the page to VerifyCode, whose
  MALFORMED says "this looks like an authorisation code, which the counter redeems":
  it was not redeemed. The page's rule is run as tests/console/
  test_atk11_counter_routing.py runs it; the real page, in Chromium, redeems a code
  with a zero-width space and a symbology identifier before it
  (tests/e2e/test_console_redemption.py).
"""

from __future__ import annotations

import zlib

import cbor2
import pytest

from certseal import codes, cose
from certseal.crypto import SoftwareSigner, Suite, generate_key
from services.issuer.authorisation import normalise_code
from services.verifier.domain import malformed, parse_code
from tests.console.test_atk11_counter_routing import page_redeems
from tests.console.test_domain_boundaries import malformed_view

_KEY = generate_key(Suite.ED25519)
SIGNER = SoftwareSigner(Suite.ED25519, _KEY.private_bytes, _KEY.public_key_der)
CODE = "AU-7K3M9QXZ2P4R"


async def _crafted(words: str) -> str:
    """A code anyone can make: signed by a key of their own, its claims a CBOR map
    with ``words`` as a key twice."""
    key = cbor2.dumps(words)
    payload = b"\xa2" + key + b"\x01" + key + b"\x02"
    protected = cose.encode_protected(
        {
            cose.HEADER_ALG: SIGNER.suite.cose_alg,
            cose.HEADER_KID: bytes.fromhex(SIGNER.kid),
        }
    )
    signature = await SIGNER.sign(cose.sig_structure(protected, payload))
    message = cose.encode_sign1(protected, payload, signature)
    return "LC1:" + codes.b45encode(zlib.compress(message, 9))


def _headline(text: str) -> str:
    """The page's headline for ``text`` as the verifier decodes it."""
    with pytest.raises(codes.MalformedCode) as err:
        parse_code(text)
    (check,) = malformed(err.value).checks
    shown = malformed_view(check.detail)
    assert shown["verdict"] == "MALFORMED"
    return shown["title_en"]


@pytest.mark.parametrize("words", ["scan it again", "scan one code at a time"])
async def test_atk11b_a_crafted_code_cannot_choose_the_pages_headline(words):
    assert _headline(await _crafted(words)) == "Not a licence code"


async def test_a_crafted_code_with_other_words_is_not_a_licence_code():
    """What held: the same crafted code without the advice's words."""
    assert _headline(await _crafted("hello")) == "Not a licence code"


@pytest.mark.parametrize(
    "typed",
    ["LC1：6BFOX·N3", "ＬＣ１：６ＢＦＯＸ中Ｎ３"],
    ids=["punctuation", "ideograph"],
)
def test_atk11b_a_code_typed_through_an_input_method_is_not_called_read_in_part(typed):
    """A scanner gun typing through a Chinese input method: the detail says to switch
    the input method; the headline says the code was read only in part, so the clerk
    scans again, through the same input method, with the same result."""
    assert _headline(typed) != "Code read only in part"


def test_the_page_rule_redeems_the_forms_it_did():
    """What held: the forms atk11 listed."""
    typed = [CODE, CODE.lower(), "]Q1" + CODE, "AU 7K3M9QXZ2P4R", "ＡＵ－７Ｋ３Ｍ９"]
    assert page_redeems(typed) == [True] * len(typed)


@pytest.mark.parametrize(
    "pasted",
    [
        "\u200b" + CODE,  # zero-width space before it (a chat's)
        "\u2060" + CODE,  # word joiner
        "\u00ad" + CODE,  # soft hyphen
        "AU\u200b-7K3M9QXZ2P4R",
        "AU-\u200b7K3M9QXZ2P4R",
        "AU-7K\u200c3M9QXZ2P4R",
    ],
    ids=[
        "zwsp-before",
        "wj-before",
        "shy-before",
        "zwsp-in-prefix",
        "zwsp-after",
        "zwnj-body",
    ],
)
def test_atk11b_a_pasted_authorisation_code_is_redeemed(pasted):
    assert normalise_code(pasted) == CODE  # the issuer reads it as the code
    assert page_redeems([pasted]) == [True]
