"""Which typed or scanned texts the counter page sends to RedeemAuthorisation (found by
the atk11 attack: only "AU-" was).

services/console/static/counter.js routes a scan to the issuer's RedeemAuthorisation
when its NFKC form starts with an authorisation code's prefix (after a symbology
identifier), everything else to the verifier's VerifyCode. The issuer reads "AU-",
"AU " or "AU" before the body, in any case or width, as the same code
(services.issuer.authorisation.normalise_code), and a clerk typing a code from a
phone's screen types those; they must not go to the verifier, which answers MALFORMED.

The page's own regular expression literal is read from counter.js and run with
Python's ``re`` (the same syntax for this pattern: anchors, classes, ``\\s``, a
bounded repeat, the ``i`` flag), on the text as the page tests it: trimmed, without
control and format characters, NFKC.
"""

from __future__ import annotations

import re
import unicodedata
from importlib import resources

import pytest

from services.issuer.authorisation import normalise_code

CODE = "AU-7K3M9QXZ2P4R"


def _routing_rule() -> re.Pattern[str]:
    js = (
        resources.files("services.console")
        .joinpath("static/counter.js")
        .read_text(encoding="utf-8")
    )
    found = re.search(r"if \(/(.+?)/([a-z]*)\.test\(typed\)\) redeem\(code\)", js)
    assert found, "counter.js no longer routes with a regular expression literal"
    pattern, flags = found.groups()
    assert set(flags) <= {"i"}, flags
    return re.compile(pattern, re.IGNORECASE if "i" in flags else 0)


def page_redeems(texts: list[str]) -> list[bool]:
    """Whether the page sends each text to redeem(): trimmed, its control and format
    characters (Unicode Cc, Cf) dropped, then its NFKC form, as counter.js does."""
    rule = _routing_rule()
    typed = [
        "".join(c for c in t.strip() if unicodedata.category(c) not in ("Cc", "Cf"))
        for t in texts
    ]
    return [bool(rule.search(unicodedata.normalize("NFKC", t))) for t in typed]


_redeemed = page_redeems


def test_the_page_redeems_what_it_did_before():
    """ "AU-" in either case, after a symbology identifier."""
    assert (
        _redeemed([CODE, CODE.lower(), "]Q1" + CODE, " " + CODE + "\n"]) == [True] * 4
    )


@pytest.mark.parametrize(
    "typed",
    [
        "AU 7K3M9QXZ2P4R",
        "AU7K3M9QXZ2P4R",
        "au 7k3m 9qxz 2p4r",
        "ＡＵ－７Ｋ３Ｍ９ＱＸＺ２Ｐ４Ｒ",
        "AU－7K3M9QXZ2P4R",
        "]Q1AU 7K3M9QXZ2P4R",
    ],
)
def test_the_page_redeems_every_form_the_issuer_reads(typed):
    assert normalise_code(typed) == CODE
    assert _redeemed([typed]) == [True]


@pytest.mark.parametrize(
    "typed", ["LC1:6BFOXN", "PC1:AU-7K3M", "AU 中文", "AU-7K3", "]Q1LC1:AU7K3M"]
)
def test_licence_codes_and_other_text_go_to_the_verifier(typed):
    assert _redeemed([typed]) == [False]
