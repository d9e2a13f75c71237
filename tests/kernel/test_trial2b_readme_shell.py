"""trial2b 4: the README's holder walk-through set ``HOLDER="--id-number …"`` and
passed ``$HOLDER`` unquoted, which only bash's word splitting makes two arguments
(zsh passes one: ``--id-number 4403…`` as a single word), and piped into ``jq``,
which the README never says to install. The examples of README and docs/ work in any
POSIX shell and zsh, with nothing the set-up does not install."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: a shell variable set to text with a blank in it: NAME="a b" or NAME='a b'
_SPLIT_VALUE = re.compile(r"""(?<![\w$])([A-Za-z_]\w*)=(["'])([^"'\n]*\s[^"'\n]*)\2""")


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_example_relies_on_word_splitting(page):
    relying = []
    blocks = "\n".join(_code_blocks(page.read_text(encoding="utf-8")))
    for name, _, value in _SPLIT_VALUE.findall(blocks):
        if re.search(rf'(?<!")\${name}\b|(?<!")\${{{name}}}', blocks):
            relying.append(f"{name}={value!r}")
    assert relying == [], f"{page.name}: use a shell function or write the options out"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_example_needs_jq(page):
    blocks = "\n".join(_code_blocks(page.read_text(encoding="utf-8")))
    assert not re.search(r"(^|[|;&(]\s*)jq\b", blocks, re.M), page.name
