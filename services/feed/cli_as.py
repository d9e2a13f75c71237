"""Who ``certseal events tail --as NAME`` subscribes as: an integrator, or an
operator, whose dev identity the stack knows (trial53 P6). Split from
:mod:`services.feed.cli` by size."""

from __future__ import annotations

from typing import Any

from certseal.calls import call_service
from certseal.dev_identities import asked, known_identity
from certseal.errors import CertsealError, invalid

LISTED_PAGES = 100
"""The most pages of 500 entitlements an unknown ``--as`` name is looked for among
(its nearest name and the count said): 50,000 integrators."""


def check_tail_as(name: str) -> None:
    """INVALID_ARGUMENT (``as``) unless ``name`` is ``integrator:<name>`` or
    ``operator:<name>``: the kinds that may subscribe."""
    kind, _, rest = name.partition(":")
    if kind not in ("integrator", "operator") or not rest.strip():
        raise invalid("as", f"{name!r}: use integrator:<name> or operator:<name>")


def tail_identity(cfg: Any, name: str) -> tuple[str, str]:
    """The dev identity of ``events tail --as NAME`` when the stack knows it: the dev
    CA issued it, or (an integrator) the feed has its entitlement; a mistyped name
    is refused, not made (trial53 P6: :func:`certseal.dev_identities.known_identity`),
    above all an operator's, who would see every event."""
    from certseal.errors import ErrorKind
    from certseal.v1 import feed_pb2 as pb
    from certseal.v1 import feed_pb2_grpc

    make = f"'certseal dev identity {name}' makes a new identity"
    if name.startswith("operator:"):
        return known_identity(cfg, name, list, what="operators", made_by=make)

    def admin(call: Any) -> Any:
        return call_service(
            cfg,
            cfg.cli.feed_target,
            lambda c: call(feed_pb2_grpc.EventFeedAdminStub(c)),
            service="feed",
        )

    request = pb.GetEntitlementRequest(integrator=name)
    entitled = asked(
        name,
        lambda: admin(lambda stub: stub.GetEntitlement(request)),
        lambda exc: exc.kind is ErrorKind.NOT_FOUND,
    )

    def known() -> list[str]:
        # the name when entitled; else, for the refusal, the integrators that are:
        # every page (it shows 20, the nearest and how many), at most LISTED_PAGES
        if entitled():
            return [name]
        names: list[str] = []
        token = ""
        for _ in range(LISTED_PAGES):
            listing = pb.ListEntitlementsRequest(page_size=500, page_token=token)
            try:
                reply = admin(lambda stub, r=listing: stub.ListEntitlements(r))
            except CertsealError:  # a feed older than the call: the dev identities
                return names
            names += [e.integrator for e in reply.entitlements]
            if not (token := reply.next_page_token):
                break
        return names

    return known_identity(
        cfg,
        name,
        known,
        what="integrators, entitled or with a dev identity",
        made_by=f"'certseal feed entitle {name} …' entitles a new integrator; {make}",
    )
