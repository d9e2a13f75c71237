"""Who ``certseal seal --as CODE`` acts as: a department whose dev identity the stack
knows. Split from :mod:`services.seal.cli` by size.

A seal's signer need not be onboarded (README), so the issuer is not asked: the
department is known when the dev CA issued its identity already (``certseal dev
identity dept:CODE``, the one way to make a new one, or an earlier ``--as``), or
when the seal service (asked as the CLI's operator) knows it onboarded, as a seal
owner is. Anything else, a mistyped code above all, is ``error: as: …``, exit 2,
with no certificate made (as ``holder --as`` and ``events tail --as``:
:func:`certseal.dev_identities.known_identity`); with the seal service down, the
call's failure, and nothing made either.
"""

from __future__ import annotations

from typing import Any

from certseal.calls import call_service
from certseal.dev_identities import asked, known_identity
from certseal.errors import ErrorKind


def seal_identity(cfg: Any, code: str) -> tuple[str, str]:
    """The dev identity of ``seal --as CODE`` (``code`` a well-formed USCC) when the
    stack knows department ``code``; INVALID_ARGUMENT (``as``) otherwise."""
    from certseal.v1 import seal_pb2 as pb
    from certseal.v1 import seal_pb2_grpc

    name = f"dept:{code}"

    # the seal service refuses an operator's listing of a department it does not
    # know as onboarded (INVALID_ARGUMENT on owner_code)
    request = pb.ListSealsRequest(owner_code=code, page_size=1)
    onboarded = asked(
        name,
        lambda: call_service(
            cfg,
            cfg.cli.seal_target,
            lambda chan: seal_pb2_grpc.SealStub(chan).ListSeals(request),
            service="seal",
        ),
        lambda exc: (
            exc.kind is ErrorKind.INVALID_ARGUMENT and exc.field == "owner_code"
        ),
    )

    return known_identity(
        cfg,
        name,
        onboarded,
        what="departments with a dev identity",
        made_by=(
            "'certseal department add' onboards a seal owner; a signer department "
            f"that is not onboarded: 'certseal dev identity {name}' makes its identity"
        ),
    )
