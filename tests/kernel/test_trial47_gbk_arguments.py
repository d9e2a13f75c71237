"""trial47 (high): text a terminal sent in GBK (an older counter terminal typing
张三) reached the request as Python's lone surrogates and ended in a traceback
(UnicodeEncodeError, exit 1). It is refused naming the option, exit 2, the value
never quoted (it is a holder's name)."""

from __future__ import annotations

import argparse

import pytest

from certseal.cli_names import not_utf8
from certseal.devpki import DevCA
from tests.kernel.test_cli_edges import run, write_config

#: 张三 as a GBK terminal sends it, as Python reads it from the command line
GBK = "张三".encode("gbk").decode("utf-8", "surrogateescape")
SAID = (
    "is not UTF-8 text: the terminal sent it in another encoding (such as GBK); "
    "set the terminal to UTF-8 and type it again"
)
ISSUE = "licence --as 91350100M000100Y43 issue --type 91350100M000100Y43001"


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory) -> DevCA:
    return DevCA(tmp_path_factory.mktemp("gbk-ca"))


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (f"{ISSUE} --id-number 440301199001011234 --holder-name", "holder-name"),
        ("verify LC1:AAAA --purpose", "purpose"),
    ],
)
def test_gbk_text_in_an_option_is_named_not_a_traceback(
    line, field, dev_ca, tmp_path, capsys
):
    # nothing listens on port 1: the refusal comes before any call
    config = write_config(
        tmp_path, dev_ca, issuer_target="localhost:1", verifier_target="localhost:1"
    )
    code, out = run(capsys, "--config", str(config), *line.split(), GBK)
    assert (code, out) == (2, f"error: {field}: {SAID}")
    assert GBK not in out and "Traceback" not in out


def test_the_value_a_request_failed_on_is_named_among_several():
    args = argparse.Namespace(purpose=f"窗口{GBK}", fields=["class=C1", f"name={GBK}"])
    failed = UnicodeEncodeError("utf-8", f"name={GBK}", 5, 6, "surrogates")
    refused = not_utf8(args, failed)
    assert (refused.field, refused.message) == ("fields", SAID)


def test_an_encoding_fault_no_argument_explains_is_raised_again():
    args = argparse.Namespace(purpose="窗口办事", out=f"/tmp/{GBK}.pdf")
    fault = UnicodeEncodeError("utf-8", "\udce4", 0, 1, "surrogates not allowed")
    with pytest.raises(UnicodeEncodeError):
        not_utf8(argparse.Namespace(purpose="窗口办事"), fault)
    assert not_utf8(args, fault).field == "out"  # a file's name is named if at fault
