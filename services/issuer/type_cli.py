"""The issuer's ``certseal type`` commands: the licence-type catalogue (add, list,
issuers), as the CLI's operator identity. Split from :mod:`services.issuer.cli` by
size; its IssuerAdmin call (which names the command's options in errors) is given.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from certseal.cli_options import checked, whole_number
from certseal.identifiers import validate_type_code
from services.issuer.limits import MAX_TYPE_VALIDITY_DAYS

#: ``call(args, stub -> RPC)``: an IssuerAdmin call as the operator
Call = Callable[[argparse.Namespace, Callable[[Any], Awaitable[Any]]], Any]

_FIELD_TYPES = {"string": 1, "integer": 2, "boolean": 3, "date": 4}


def _field_spec(text: str) -> Any:
    from certseal.v1 import licence_pb2

    name, _, rest = text.partition(":")
    parts = rest.split(":")
    kind, flags = parts[0], set(parts[1:])
    titles = [f.removeprefix("title=") for f in flags if f.startswith("title=")]
    unknown = (
        flags
        - {"required", "public", "restricted", "personal"}
        - {f"title={t}" for t in titles}
    )
    if not name.strip() or kind not in _FIELD_TYPES or unknown or len(titles) > 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use NAME:TYPE[:required][:public|:restricted|:personal]"
            f"[:title=TITLE], TYPE one of {', '.join(_FIELD_TYPES)}"
        )
    return licence_pb2.FieldSpec(
        name=name,
        type=_FIELD_TYPES[kind],  # type: ignore[arg-type]
        required="required" in flags,
        public="public" in flags,
        restricted="restricted" in flags,
        personal="personal" in flags,
        title=titles[0] if titles else "",
    )


def cmd_type_add(args: argparse.Namespace, *, call: Call) -> int:
    """Register a licence type."""
    from certseal.v1 import issuer_pb2 as pb

    reply = call(
        args,
        lambda s: s.RegisterLicenceType(
            pb.RegisterLicenceTypeRequest(
                type_code=args.code,
                name=args.name,
                fields=args.field or [],
                default_validity_days=args.validity_days,
                issuer_codes=_codes(args.issuers),
            )
        ),
    )
    print(f"registered {reply.licence_type.type_code} {reply.licence_type.name}")
    return 0


def _codes(given: list[str]) -> list[str]:
    """The department codes of every ``--issuers`` (each comma-separated, spaces
    around a code ignored); the issuer says what is wrong with them (``issuers``,
    ``issuers[i]``)."""
    return [code.strip() for text in given for code in text.split(",") if code.strip()]


def cmd_type_issuers(args: argparse.Namespace, *, call: Call) -> int:
    """Replace a licence type's issuing departments; prints the type as it is now."""
    from certseal.v1 import issuer_pb2 as pb

    reply = call(
        args,
        lambda s: s.SetLicenceTypeIssuers(
            pb.SetLicenceTypeIssuersRequest(
                type_code=args.code, issuer_codes=_codes(args.issuers)
            )
        ),
    )
    _print_type(reply.licence_type)
    now, was = set(reply.licence_type.issuer_codes), set(reply.previous_issuer_codes)
    changes = [
        f"{what}: {', '.join(sorted(codes))}"
        for what, codes in (("added", now - was), ("taken out", was - now))
        if codes
    ]
    print("; ".join(changes) if changes else "unchanged: it had these issuers")
    return 0


def cmd_type_list(args: argparse.Namespace, *, call: Call) -> int:
    """List the licence types."""
    from certseal.v1 import issuer_pb2 as pb

    reply = call(args, lambda s: s.ListLicenceTypes(pb.ListLicenceTypesRequest()))
    for t in reply.licence_types:
        _print_type(t)
    return 0


def _print_type(t: Any) -> None:
    fields = ", ".join(f.name for f in t.fields)
    print(f"{t.type_code}  {t.name}  issuers {','.join(t.issuer_codes)}  [{fields}]")


def register_types(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], call: Call
) -> None:
    """Add ``certseal type add|list|issuers`` to ``sub``, each calling ``call``."""
    types = sub.add_parser("type", help="licence types").add_subparsers(
        dest="type_command", required=True
    )
    tadd = types.add_parser("add", help="register a licence type")
    tadd.add_argument(
        "--code",
        required=True,
        type=checked(validate_type_code),
        help="the type's code: the defining department's code and 3 digits "
        "(21 characters)",
    )
    tadd.add_argument("--name", required=True, help="the type's name (机动车驾驶证)")
    tadd.add_argument(
        "--field",
        action="append",
        type=_field_spec,
        help="NAME:TYPE[:required][:public|:restricted|:personal][:title=TITLE], "
        f"TYPE one of {', '.join(_FIELD_TYPES)}; repeatable: public fields are printed in every code, restricted ones shown "
        "only to counters with a field right, personal ones encrypted (docs/codes.md); "
        "the title is what counters see, e.g. class:string:required:public:title=准驾车型",
    )
    tadd.add_argument(
        "--validity-days",
        type=whole_number(MAX_TYPE_VALIDITY_DAYS, minimum=1, unit=" days"),
        default=365 * 6,
        help="a licence's validity when its issuance gives none, 1 to "
        f"{MAX_TYPE_VALIDITY_DAYS:,} days (default 2190)",
    )
    tadd.add_argument(
        "--issuers",
        required=True,
        action="append",
        help="department codes that may issue it, each with the issuer role: "
        "comma-separated, or repeatable",
    )
    tadd.set_defaults(func=functools.partial(cmd_type_add, call=call))
    types.add_parser("list", help="every licence type").set_defaults(
        func=functools.partial(cmd_type_list, call=call)
    )
    tissuers = types.add_parser(
        "issuers",
        help="replace the departments that may issue a licence type: one taken out "
        "keeps the licences it issued (it may transfer them to a listed issuer) but "
        "issues, renews and receives by transfer no more of the type",
    )
    tissuers.add_argument(
        "code",
        type=checked(validate_type_code),
        help="the licence type's code ('type list')",
    )
    tissuers.add_argument(
        "--issuers",
        required=True,
        action="append",
        help="the whole new set of department codes, each with the issuer role "
        "(comma-separated, or repeatable): a department left out is "
        "taken out; prints what was added and taken out",
    )
    tissuers.set_defaults(func=functools.partial(cmd_type_issuers, call=call))
