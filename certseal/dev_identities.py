"""The dev identities the ``certseal`` commands act as on ``make run``'s stack: the
certificate and key its dev CA issued for ``--as`` (a department's, a holder app's,
an integrator's, an operator's) and ``certseal dev identity``.

``certseal dev identity KIND:NAME`` is the one way to make an identity that is new to
the stack; ``--as`` never makes one for a name the stack does not know (trial53 P6: a
mistyped ``holder --as walet`` made ``app:walet``, which the issuer then refused as
ungranted, and ``events tail --as operator:admn`` a second operator). ``--as NAME`` is
known when the dev CA issued its identity already, or when the service that answers
for its kind knows the name: a department onboarded (the only way for ``--as
CODE``), a holder app granted a licence type, an integrator entitled (whose identity
is then issued on first use, as before); anything else is INVALID_ARGUMENT
(``error: as: …``, exit 2) naming the names the stack knows and how to make one,
with nothing issued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from certseal.calls import operator_call
from certseal.errors import CertsealError, invalid
from certseal.text import nearest_of_kind


def department_identity(cfg: Any, code: str) -> tuple[str, str]:
    """The dev identity (certificate and key files) of department ``code`` for an
    issuer command's ``--as CODE``: INVALID_ARGUMENT (field ``as``) when ``code`` is
    no USCC or no department of that code is onboarded (asked of the issuer as the
    CLI's operator), checked before the identity is made, so that a mistyped or
    unknown code leaves no certificate behind."""
    from certseal.identifiers import validate_uscc
    from certseal.v1 import issuer_pb2 as pb

    validate_uscc(code, "as")
    reply = operator_call(
        cfg, lambda stub: stub.ListDepartments(pb.ListDepartmentsRequest())
    )
    if not any(d.code == code for d in reply.departments):
        raise invalid(
            "as",
            f"no department {code} is onboarded: add it first with 'certseal "
            "department add'",
        )
    return dev_identity(cfg, f"dept:{code}")


def known_identity(
    cfg: Any,
    common_name: str,
    known: Callable[[], Iterable[str]],
    *,
    what: str,
    made_by: str,
) -> tuple[str, str]:
    """The dev identity of ``common_name`` (``app:wallet``) for ``--as``: one the dev
    CA issued before, or one of the names ``known()`` gives (those a service knows:
    its identity is issued now). Otherwise INVALID_ARGUMENT (field ``as``) naming
    the stack's ``what`` (``holder apps``) and how one is made (``made_by``), with
    nothing issued."""
    ca = dev_ca(cfg)
    kind = common_name.partition(":")[0]
    if not ca.holds(common_name):
        listed = set(known())
        if common_name not in listed:
            raise invalid(
                "as",
                _unknown(common_name, listed | set(ca.issued(kind)), what, made_by),
            )
    return dev_identity(cfg, common_name)


def asked(
    name: str, call: Callable[[], object], unknown: Callable[[CertsealError], bool]
) -> Callable[[], list[str]]:
    """A ``known`` for :func:`known_identity` that asks the service answering for
    ``name``'s kind: ``[name]`` when ``call()`` answers, ``[]`` when it fails as
    ``unknown`` says a service that does not know the name fails; any other failure
    (the service unreachable) is raised, and nothing is made."""

    def known() -> list[str]:
        try:
            call()
        except CertsealError as exc:
            if unknown(exc):
                return []
            raise
        return [name]

    return known


def _unknown(common_name: str, names: set[str], what: str, made_by: str) -> str:
    """What ``--as`` says of a name the stack does not know: the nearest it knows
    (a typo, of its kind: :func:`certseal.text.nearest_of_kind`), then the ones it
    knows (20 at most), then how one is made."""
    near = nearest_of_kind(common_name, names)
    listed = sorted(names)
    said = ", ".join(listed[:20]) + (f", … ({len(listed)})" if len(listed) > 20 else "")
    return (
        f"the stack knows no {common_name}"
        + (f"; did you mean {near}?" if near else "")
        + f" (its {what}: {said or 'none'}); {made_by}"
    )


def dev_identity(cfg: Any, common_name: str, field: str = "as") -> tuple[str, str]:
    """The certificate and key files of ``common_name`` from :func:`dev_ca`
    (the embedded stack's, for ``dev identity`` and, once known, ``--as``), issued on
    first use. INVALID_ARGUMENT (``field``) when the files its name gives hold
    another identity's (:meth:`~certseal.devpki.DevCA.identity`): ``--as
    integrator:acme/x`` never acts as ``integrator:acme_x``."""
    try:
        ident = dev_ca(cfg).identity(common_name)
    except ValueError as exc:
        raise invalid(field, str(exc)) from None
    return str(ident.cert_file), str(ident.key_file)


def dev_ca(cfg: Any) -> Any:
    """The embedded stack's dev CA (a :class:`certseal.devpki.DevCA`), the one
    ``make run`` made: ``[tls] ca_file`` named ``ca.pem`` with its ``ca.key``
    beside it. INVALID_ARGUMENT (field ``tls.ca_file``) for any other, so that a
    deployment's CA folder never gets a CA or identities of ours."""
    from certseal.devpki import DevCA

    ca_file = Path(cfg.tls.ca_file)
    try:
        if ca_file.name != "ca.pem":
            raise ValueError(f"{ca_file} is not a dev CA's ca.pem")
        return DevCA.existing(ca_file.parent)
    except ValueError as exc:
        raise invalid(
            "tls.ca_file",
            f"{exc}: dev identities and certificates are made only from the "
            "embedded stack's dev CA ('make run' makes it); with another CA, give "
            "the files of an identity it issued",
        ) from None
