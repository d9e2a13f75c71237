"""A dev identity's files are named from its name with ``:`` and ``/`` written as
``_``, and the dev CA took the files being there for the identity: after ``dev
identity integrator:acme_x``, ``events tail --as integrator:acme/x`` acted as
``integrator:acme_x`` (``app:a:b`` as ``app:a_b``). An identity is held only when its
certificate names it; a name whose files hold another's is refused, never acted as."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from certseal.dev_identities import dev_identity, known_identity
from certseal.devpki import DevCA
from certseal.errors import CertsealError, ErrorKind


@pytest.mark.parametrize(
    ("made", "asked"),
    [("integrator:acme_x", "integrator:acme/x"), ("app:a_b", "app:a:b")],
)
def test_a_name_never_acts_as_another_whose_files_are_named_alike(
    made, asked, tmp_path
):
    ca = DevCA(tmp_path)
    cfg = SimpleNamespace(tls=SimpleNamespace(ca_file=str(ca.ca_file)))
    dev_identity(cfg, made, "common_name")
    assert ca.holds(made) and not ca.holds(asked)
    assert ca.issued(made.partition(":")[0]) == [made]
    before = sorted(tmp_path.iterdir())
    for known in (list, lambda: [asked]):  # unknown, or known to its service
        with pytest.raises(CertsealError) as refused:
            known_identity(cfg, asked, known, what="names", made_by="make one")
        assert refused.value.kind is ErrorKind.INVALID_ARGUMENT
        assert refused.value.field == "as", refused.value
    with pytest.raises(CertsealError) as refused:
        dev_identity(cfg, asked, "common_name")  # certseal dev identity
    assert refused.value.field == "common_name"
    assert f"holds the identity of {made}, not {asked}" in refused.value.message
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("asked", "offered"),
    [
        ("integrator:acmee", "integrator:acme"),  # a typo
        ("integrator:zzz", None),  # trial71: offered acme, the kind alone alike
        ("operator:acme", None),  # another kind's name is never offered
    ],
)
def test_an_unknown_name_is_offered_the_nearest_of_its_kind_only(
    asked, offered, tmp_path
):
    ca = DevCA(tmp_path)
    cfg = SimpleNamespace(tls=SimpleNamespace(ca_file=str(ca.ca_file)))
    with pytest.raises(CertsealError) as refused:
        known_identity(
            cfg,
            asked,
            lambda: ["integrator:acme"],
            what="integrators",
            made_by="make one",
        )
    said = refused.value.message
    if offered is None:
        assert "did you mean" not in said, said
    else:
        assert f"; did you mean {offered}? " in said, said
    assert "(its integrators: integrator:acme)" in said, said
