"""atk11: which typed or scanned texts the counter page sends to RedeemAuthorisation.

services/console/static/counter.js routes a scan to the issuer's RedeemAuthorisation
only when it starts with "AU-" (after a symbology identifier), everything else to the
verifier's VerifyCode. The issuer reads more as the same authorisation code
(services.issuer.authorisation.normalise_code: "AU-", "AU " or "AU" before the body,
or the bare body), and a clerk typing a code from a phone's screen types those, or
full-width forms with a Chinese input method. They go to the verifier, which answers
MALFORMED "expected 'LC1:' or 'PC1:'".

The page's own rule is run, in Node.js, on the text as the page has it after trim().
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from importlib import resources

import pytest

from services.issuer.authorisation import normalise_code

CODE = "AU-7K3M9QXZ2P4R"
NODE = shutil.which("node")


def _routing_rule() -> str:
    js = (
        resources.files("services.console")
        .joinpath("static/counter.js")
        .read_text(encoding="utf-8")
    )
    found = re.search(r"if \((/.+?/[a-z]*)\.test\(code\)\) redeem\(code\)", js)
    assert found, "counter.js no longer routes with a regular expression literal"
    return found.group(1)


def _redeemed(texts: list[str]) -> list[bool]:
    """Whether the page sends each text (trimmed, as the page does) to redeem()."""
    script = (
        f"const rule = {_routing_rule()};"
        "const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(texts.map((t) => rule.test(t.trim()))));"
    )
    done = subprocess.run(
        [NODE, "-e", script],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="needs Node.js")
def test_atk11_the_page_redeems_what_it_did_before():
    """Held: "AU-" in either case, after a symbology identifier."""
    assert (
        _redeemed([CODE, CODE.lower(), "]Q1" + CODE, " " + CODE + "\n"]) == [True] * 4
    )


@pytest.mark.skipif(NODE is None, reason="needs Node.js")
@pytest.mark.xfail(
    strict=True,
    reason="atk11: only 'AU-' is routed to redemption; 'AU ', 'AU', a full-width "
    "'ＡＵ－' (all read by the issuer as the same code) go to VerifyCode",
)
@pytest.mark.parametrize(
    "typed",
    [
        "AU 7K3M9QXZ2P4R",
        "AU7K3M9QXZ2P4R",
        "au 7k3m 9qxz 2p4r",
        "ＡＵ－７Ｋ３Ｍ９ＱＸＺ２Ｐ４Ｒ",
        "AU－7K3M9QXZ2P4R",
    ],
)
def test_atk11_the_page_redeems_every_form_the_issuer_reads(typed):
    # the issuer reads it as the code (after NFKC for the full-width forms, which the
    # issuer's normalise_code lacks too: tests/kernel/test_atk11_scanned.py)
    assert normalise_code(unicodedata.normalize("NFKC", typed)) == CODE
    assert _redeemed([typed]) == [True]
