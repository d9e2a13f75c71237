"""``certseal holder --as APP <command>``: what a holder's app does for its holder
(docs/holder.md), with the app's dev identity ``app:APP``: the licence file
(``file``), an authorisation of a department to use the licence (``authorise``,
授权用证), its withdrawal (``withdraw``) and the licence's usage record (``usage``,
用证记录). Each names the holder (``--id-number``, ``--id-type``); the app must be
granted the licence's type (``certseal holder-app grant``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Awaitable, Callable
from typing import Any

from certseal.calls import operator_call
from certseal.cli import ts
from certseal.cli_options import say, whole_number
from certseal.cli_parser import given
from certseal.dev_identities import known_identity
from certseal.errors import CertsealError, invalid
from certseal.identifiers import validate_identity_document, validate_uscc
from services.issuer.authorisation import MAX_PURPOSE_CHARS
from services.issuer.cli_call import call_issuer
from services.issuer.document_cli import add_document_options, licence_document
from services.issuer.usage import refusal_words

#: a request field the Issuer names in an error -> the option that gives it
_FLAGS = {
    "holder": "id-number",
    "holder.id_type": "id-type",
    "holder.id_number": "id-number",
    "department_code": "department",
    "fields": "field",
    "expires_at": "days",
    "valid_days": "days",
    "page_token": "page-token",
    "page_size": "page-size",
    "authorisation_id": "authorisation-id",
}

#: an authorisation's status as the API says it -> as the holder's commands say it
_AUTH_STATUS = {"revoked": "withdrawn"}

#: a usage kind's words where its name is not (the holder withdrew the authorisation)
_KIND_WORDS = {
    "authorisation_revoked": "authorisation withdrawn",
    "redemption_refused": "redemption refused",
}
_KIND_WIDTH = len("authorisation withdrawn")

#: ``usage --kind`` choices: LicenceUsageKind's names, lower case
_KINDS = (
    "verified",
    "authorised",
    "authorisation_revoked",
    "redeemed",
    "downloaded",
    "viewed",
    "redemption_refused",
)


_APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


def _app(name: str) -> str:
    """``app:NAME`` of ``--as NAME``; INVALID_ARGUMENT (``as``) for a name given
    with its kind, or one no certificate's common name would carry."""
    if name.startswith("app:"):
        raise invalid("as", f"{name!r}: give the app's name without 'app:'")
    if not _APP_NAME.fullmatch(name):
        raise invalid(
            "as", f"{name!r}: an app's name is 1 to 64 letters, digits and . _ -"
        )
    return f"app:{name}"


def _call(
    args: argparse.Namespace,
    call: Callable[[Any], Awaitable[Any]],
    *,
    holder: bool = True,
) -> Any:
    """Call the Issuer (``holder``: its LicenceHolder service) as the app (its name's
    form checked before the configuration is read)."""
    app = _app(args.as_app)
    return call_issuer(
        args,
        "LicenceHolder" if holder else "Issuer",
        call,
        identity=lambda cfg: _app_identity(cfg, app),
        options=_FLAGS,
    )


def _app_identity(cfg: Any, app: str) -> tuple[str, str]:
    """The dev identity of ``app`` (``app:NAME``) when the stack knows the app: the
    dev CA issued it (``certseal dev identity``) or the operator granted it a licence
    type; a mistyped name is refused, not made (trial53 P6:
    :func:`certseal.dev_identities.known_identity`)."""
    from certseal.v1 import issuer_pb2 as pb

    def granted() -> list[str]:
        reply = operator_call(
            cfg, lambda s: s.ListHolderAppGrants(pb.ListHolderAppGrantsRequest())
        )
        return [grant.app for grant in reply.grants]

    return known_identity(
        cfg,
        app,
        granted,
        what="holder apps",
        made_by=f"a new app's identity is made with 'certseal dev identity {app}', "
        f"and the operator grants it a licence type with 'certseal holder-app "
        f"grant {app} --type CODE'",
    )


def _holder(args: argparse.Namespace) -> Any:
    """The holder ``--id-type`` and ``--id-number`` name, checked here by the
    issuer's rules (GB 11643 for 111) with its words, as ``licence issue`` is told:
    the Issuer answers a holder it cannot match with "not found", which says nothing
    of a mistyped digit (trial 4)."""
    from certseal.v1 import licence_pb2

    try:
        id_type, id_number = validate_identity_document(args.id_type, args.id_number)
    except CertsealError as exc:
        raise invalid(_FLAGS.get(exc.field or "", "id-number"), exc.message) from None
    return licence_pb2.Holder(id_type=id_type, id_number=id_number)


def cmd_holder(args: argparse.Namespace) -> int:
    """The holder app's commands (:mod:`services.issuer.holder_cli`)."""
    from certseal.v1 import issuer_pb2 as pb

    command = args.holder_command
    if command == "file":
        return licence_document(args, _call, _holder(args))
    if command == "authorise":
        if args.counter is not None and not args.counter.strip():
            raise invalid("counter", "is empty: name the counter, or leave it out")
        if len(set(args.field)) < len(args.field):
            raise invalid("field", "a field is given more than once")
        request = pb.AuthoriseUseRequest(
            identifier=args.identifier,
            holder=_holder(args),
            department_code=validate_uscc(args.department, "department"),
            counter=args.counter or "",
            purpose=args.purpose,
            fields=args.field or [],
            # days from the issuer's now, not a time of the command's: the command
            # repeated with its --idempotency-key is then the same request (trial48)
            valid_days=args.days,
        )
        auth = _call(args, lambda s: s.AuthoriseUse(request)).authorisation
        _print_authorisation(auth)
        print(f"code        {auth.code}   (give it to the department's counter)")
        return 0
    if command == "withdraw":
        request = pb.RevokeAuthorisationRequest(
            authorisation_id=_authorisation_id(args.authorisation_id),
            holder=_holder(args),
            reason=args.reason or "",
        )
        _print_authorisation(
            _call(args, lambda s: s.RevokeAuthorisation(request)).authorisation
        )
        return 0
    return _usage(args)


def _authorisation_id(text: str) -> str:
    """``withdraw``'s argument if it has an authorisation id's shape; else
    INVALID_ARGUMENT (``authorisation-id``) before asking, saying which of the two
    things authorise printed it wants when the code was given (the Issuer answers
    any other text "not found": trial 5)."""
    from services.issuer.authorisation import is_authorisation_id, normalise_code

    if is_authorisation_id(text.strip()):
        return text.strip()
    if normalise_code(text) is not None:
        problem = f"give the authorisation id (au-…) that authorise printed, not the code {text}"
    else:
        problem = f"{text!r} is not an authorisation id: au- and 16 hex digits, as authorise printed it"
    raise invalid("authorisation-id", problem)


def _print_authorisation(auth: Any) -> None:
    counter = f", counter {auth.counter}" if auth.counter else ", any counter"
    status = _AUTH_STATUS.get(auth.status, auth.status)
    print(f"authorisation {auth.authorisation_id} ({status})")
    print(f"licence     {auth.identifier}")
    department = " ".join(p for p in (auth.department_code, auth.department_name) if p)
    say(f"department  {department}{counter}")
    say(f"purpose     {auth.purpose}")
    print(f"fields      {', '.join(auth.fields)}")
    print(f"expires     {ts(auth.expires_at)}")
    if auth.revoked_at.seconds:
        print(f"withdrawn   {ts(auth.revoked_at)}")


def _usage(args: argparse.Namespace) -> int:
    """``usage ID``: one page of the licence's usage record, and the next page's
    token when there is one."""
    from certseal.v1 import issuer_pb2 as pb

    request = pb.ListLicenceUsageRequest(
        identifier=args.identifier,
        holder=_holder(args),
        page_size=args.page_size,
        page_token=args.page_token or "",
        newest_first=args.newest_first,
        kinds=[
            pb.LicenceUsageKind.Value(f"LICENCE_USAGE_KIND_{kind.upper()}")
            for kind in args.kind or []
        ],
    )
    reply = _call(args, lambda s: s.ListLicenceUsage(request), holder=False)
    for use in reply.uses:
        kind = _kind_words(use.kind)
        # a verification names its counter; a view, its app
        who = use.department_name or use.department_code or use.counter or use.actor
        verdict = use.verdict
        if use.kind == pb.LICENCE_USAGE_KIND_REDEMPTION_REFUSED and verdict:
            verdict = f"{refusal_words(verdict)};"  # why, in the holder's words
        what = " ".join(
            part
            for part in (
                verdict,
                f"clerk {use.clerk}" if use.clerk else "",
                f"for {use.purpose}" if use.purpose else "",
                use.reference,
            )
            if part
        )
        line = f"{ts(use.occurred_at)}  {kind:<{_KIND_WIDTH}} {who or '-'}  {what}"
        say(line.rstrip())
    print(f"{len(reply.uses)} use(s)")
    if reply.next_page_token:
        print(f"next page: --page-token {reply.next_page_token}")
    return 0


def _kind_words(number: int) -> str:
    """A usage kind as the record's lines say it; one this version does not know (an
    Issuer newer than this command) as ``kind <number>``, not an error."""
    from certseal.v1 import issuer_pb2 as pb

    if number not in pb.LicenceUsageKind.values():
        return f"kind {number}"
    name = pb.LicenceUsageKind.Name(number).removeprefix("LICENCE_USAGE_KIND_").lower()
    return _KIND_WORDS.get(name, name)


def register_holder(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``holder --as APP <command>``."""
    holder = sub.add_parser(
        "holder", help="a holder's app: licence file, authorisations, usage record"
    )
    holder.add_argument(
        "--as",
        dest="as_app",
        required=True,
        type=given("a holder app's name"),
        metavar="APP",
        help="the holder app to act as (its name, without 'app:'): one the stack "
        "knows, made with 'certseal dev identity app:NAME' or granted a licence type",
    )
    commands = holder.add_subparsers(dest="holder_command", required=True)
    named = {
        "file": ("the licence file (GB/T 36905)", "an identifier or a lineage"),
        "authorise": ("authorise a department to use the licence (授权用证)", None),
        "withdraw": ("withdraw an authorisation", None),
        "usage": (
            "the licence's usage record (用证记录)",
            "an identifier or a lineage",
        ),
    }
    for name, (what, _) in named.items():
        command = commands.add_parser(name, help=what)
        if name == "withdraw":
            command.add_argument("authorisation_id", help="au-… (authorise prints it)")
            command.add_argument("--reason", help="why, for the record (optional)")
        else:
            command.add_argument("identifier", help="an identifier or a lineage")
        command.add_argument(
            "--id-number", required=True, help="the holder's identity number"
        )
        command.add_argument(
            "--id-type",
            default="111",
            help="the identity document's type code (default 111, 居民身份证)",
        )
        command.set_defaults(func=cmd_holder)
    add_document_options(commands.choices["file"])
    authorise = commands.choices["authorise"]
    authorise.add_argument(
        "--department", required=True, metavar="CODE", help="the department's USCC"
    )
    authorise.add_argument(
        "--purpose",
        required=True,
        help=f"用证事由, the purpose: at most {MAX_PURPOSE_CHARS} characters",
    )
    authorise.add_argument(
        "--field",
        action="append",
        required=True,
        help="a field to share with the department, repeatable",
    )
    authorise.add_argument(
        "--days",
        type=whole_number(90, minimum=1),
        default=7,
        help="how long it may be used, 1 to 90 days (default 7)",
    )
    authorise.add_argument(
        "--counter", help="only this counter (a console account) of the department"
    )
    usage = commands.choices["usage"]
    usage.add_argument("--kind", action="append", choices=_KINDS, help="repeatable")
    usage.add_argument("--newest-first", action="store_true", help="newest first")
    usage.add_argument(
        "--page-size",
        type=whole_number(500, minimum=1),
        default=50,
        help="uses per page, 1 to 500 (default 50)",
    )
    usage.add_argument("--page-token", help="the next page, as usage printed it")
