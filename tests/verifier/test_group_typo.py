"""trial56: ``verify --group regoin-demo`` listed the known groups but did not say
which one was likely meant, as other mistyped names do."""

from __future__ import annotations

import argparse
import types

import pytest

from certseal.errors import CertsealError
from services.verifier.cli import verifier_target

GROUPS = {"dept-demo": "localhost:50061", "region-demo": "localhost:50062"}


@pytest.mark.parametrize(
    ("group", "said"),
    [
        ("regoin-demo", "did you mean region-demo? known: dept-demo, region-demo;"),
        ("nowhere", "verifier_groups; known: dept-demo, region-demo; or give"),
    ],
)
def test_an_unknown_group_names_the_nearest(group, said):
    cfg = types.SimpleNamespace(cli=types.SimpleNamespace(verifier_groups=GROUPS))
    args = argparse.Namespace(verifier=None, group=group)
    with pytest.raises(CertsealError) as refused:
        verifier_target(cfg, args)
    assert refused.value.field == "group"
    assert said in refused.value.message, refused.value.message
    assert (
        verifier_target(cfg, argparse.Namespace(verifier=None, group="dept-demo"))[0]
        == GROUPS["dept-demo"]
    )
