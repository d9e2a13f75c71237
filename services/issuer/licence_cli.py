"""The issuer's ``certseal licence`` commands: a department's operations on its
licences, one command per Issuer RPC a department runs by hand (issue, get, list, code,
present, amend, renew, suspend, unsuspend, revoke, cancel, transfer, and the
licence file from LicenceHolder: document), as the department
named by ``licence --as CODE`` (its dev identity). Split from :mod:`services.issuer.cli`
by size.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from certseal.calls import operator_call
from certseal.cli import load, ts
from certseal.cli_keys import command_keys
from certseal.cli_options import (
    STATUS_WORDS,
    OutputFile,
    checked,
    licence_status,
    status_shown,
    write_output,
)
from certseal.cli_parser import given
from certseal.dev_identities import department_identity
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.identifiers import (
    LICENCE_OID_PREFIX,
    parse_licence_id,
    validate_type_code,
    validate_uscc,
)
from certseal.text import shown_name
from services.issuer.cli_call import call_issuer
from services.issuer.code_cli import licence_code
from services.issuer.document_cli import add_document_options, licence_document
from services.issuer.present_cli import add_ttl_option, presentation_ttl

_STATUSES = STATUS_WORDS


def _call(
    args: argparse.Namespace,
    call: Callable[[Any], Awaitable[Any]],
    *,
    holder: bool = False,
) -> Any:
    """Call the Issuer (``holder``: its LicenceHolder) as the department ``--as CODE``
    (its form checked first, before the configuration is read: trial53)."""
    validate_uscc(args.as_department, "as")
    try:
        return call_issuer(
            args,
            "LicenceHolder" if holder else "Issuer",
            call,
            identity=lambda cfg: department_identity(cfg, args.as_department),
            options=_FLAGS,
        )
    except CertsealError as exc:
        raise as_field_option(exc) from None


#: a request field the Issuer names in an error -> the option of these commands that
#: gives it (the CLI names its own flags)
_FLAGS = {
    "type_code": "type",
    "to_department_code": "to",
    "ttl_seconds": "ttl",
    "holder": "id-number",
    "holder.name": "holder-name",
    "holder_name": "holder-name",
    "holder.id_type": "id-type",
    "holder.id_number": "id-number",
    "idempotency_key": "idempotency-key",
    "page_token": "page-token",
    "remove_fields": "remove-field",
    "suite": "suite",
}


#: how a service names one licence field: ``fields.NAME`` (the issuer's checks),
#: ``fields['NAME']`` and ``fields['NAME'].string_value`` (its value) and
#: ``fields key 'NAME'`` (its name: certseal.requests); ``fields[0]`` is another
#: request's list, no licence field
_FIELD_PATH = re.compile(
    r"""fields(?:\.(?P<dotted>.+)|\[(?P<value>'.*'|".*")\](?:\.[a-z_]+)?"""
    r"| key (?P<key>.+))"
)


def as_field_option(exc: CertsealError) -> CertsealError:
    """``exc`` naming ``--field`` for a licence field it names (:data:`_FIELD_PATH`
    -> ``field``, the message starting with the NAME, as the option was typed
    ``--field NAME=VALUE``; of a name, ``the name 'NAME'``); unchanged for any other
    field. The other options are named by :func:`~certseal.calls.call_service`
    (:data:`_FLAGS`)."""
    found = _FIELD_PATH.fullmatch(exc.field or "")
    if found is None:
        return exc
    if found["dotted"] is not None:
        shown = repr(found["dotted"])
    elif found["value"] is not None:
        shown = found["value"]  # already quoted by the service
    else:
        shown = f"the name {found['key']}"
    return CertsealError(exc.kind, f"{shown} {exc.message}", field="field")


def _key_suite(args: argparse.Namespace, licence: Any) -> str:
    """The suite of the key that signed ``licence`` (sm2, es256, ed25519), asked of
    the issuer as the CLI's operator; empty when it cannot be told (another identity,
    the key not listed)."""
    from certseal.v1 import issuer_pb2 as pb

    if not licence.kid:
        return ""
    try:
        department = parse_licence_id(licence.identifier).authority_code
        reply = operator_call(
            load(args),
            lambda stub: stub.ListSigningKeys(
                pb.ListSigningKeysRequest(department_code=department)
            ),
        )
    except CertsealError:
        return ""
    return next((k.suite for k in reply.keys if k.kid == licence.kid), "")


def _print_licence(
    licence: Any,
    suite: str = "",
    args: argparse.Namespace | None = None,
    warnings: Sequence[str] = (),
) -> None:
    """A licence, one line per property; ``signed by key KID (SUITE)`` with the suite
    given or, with ``args``, looked up; the issuer's ``warnings`` on stderr, each
    ``warning: <field>: <what>`` (the licence is written: exit status 0)."""
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if licence.kid and not suite and args is not None:
        suite = _key_suite(args, licence)
    print(f"identifier  {licence.identifier}")
    print(
        f"status      {status_shown(licence)}"
        + (f" ({licence.status_reason})" if licence.status_reason else "")
    )
    print(f"holder      {licence.holder.name or licence.holder_display_name}")
    print(f"valid       {ts(licence.valid_from)} .. {ts(licence.valid_until)}")
    if licence.kid:  # which of the department's keys signed this version
        print(f"signed by   key {licence.kid}{f' ({suite})' if suite else ''}")
    for name, value in sorted(licence.fields.items()):
        print(
            f"  {name} = {getattr(value, value.WhichOneof('value') or 'string_value')}"
        )


#: FieldSpec.type (licence.proto FieldType) -> how ``--field NAME=VALUE`` reads VALUE
FIELD_TYPES = {1: "string", 2: "integer", 3: "boolean", 4: "date"}
_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits: str.isdigit() takes "²" (atk16 F3)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BOOLEANS = {"true": True, "false": False}


def field_items(items: list[str] | None) -> list[tuple[str, str]]:
    """``NAME=VALUE`` items as (name, text), each name once; else ``field``."""
    pairs: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise invalid("field", f"{item!r}: use NAME=VALUE")
        if name in pairs:  # the last won in silence
            raise invalid("field", f"{name} is given more than once")
        pairs[name] = value
    return list(pairs.items())


def set_fields(
    fields: Any, pairs: list[tuple[str, str]], declared: dict[str, int], type_code: str
) -> None:
    """Each (name, text) into a request's field map as the type the licence type
    ``type_code`` declares for the name (``declared``: name -> FieldSpec.type), never
    guessed from the text: a string field takes the text as it is (digits, leading
    zeros, ``true`` and quotes are text), an integer field ASCII digits with an
    optional leading minus within a 64-bit integer, a boolean field ``true`` or
    ``false``, a date field YYYY-MM-DD.

    INVALID_ARGUMENT (``field``) naming the field for a name the type does not have
    or a text its type does not read."""
    for name, text in pairs:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise invalid(
                "field",
                f"{name!r} is not a field of licence type {type_code} (its fields: "
                f"{known})",
            )
        kind = FIELD_TYPES.get(declared[name])
        if kind is None:  # declared with a type newer than this CLI
            raise invalid(
                "field",
                f"{name!r} has a field type ({declared[name]}) this certseal does not "
                f"know, so how to read {text!r} cannot be known: upgrade the CLI",
            )
        if kind == "string":
            fields[name].string_value = text
        elif kind == "integer":
            if not _INTEGER.fullmatch(text) or not -(2**63) <= int(text) < 2**63:
                raise invalid(
                    "field",
                    f"{name!r} is an integer field: {text!r} is not an integer "
                    "(ASCII digits, an optional leading minus, within 64 bits)",
                )
            fields[name].integer_value = int(text)
        elif kind == "boolean":
            if text.lower() not in _BOOLEANS:
                raise invalid(
                    "field", f"{name!r} is a boolean field: give true or false"
                )
            fields[name].boolean_value = _BOOLEANS[text.lower()]
        else:
            if not _DATE.fullmatch(text):
                raise invalid(
                    "field", f"{name!r} is a date field: give YYYY-MM-DD, not {text!r}"
                )
            fields[name].date_value = text


def _declared_types(args: argparse.Namespace, type_code: str) -> dict[str, int]:
    """The field types licence type ``type_code`` declares (name -> FieldSpec.type),
    asked of the issuer as the CLI's operator, as ``type list`` does. When they
    cannot be known (the type is not registered, or the types cannot be read), the
    error says so, naming ``field``."""
    from certseal.v1 import issuer_pb2 as pb

    try:
        reply = operator_call(
            load(args), lambda stub: stub.ListLicenceTypes(pb.ListLicenceTypesRequest())
        )
    except CertsealError as exc:
        if exc.kind not in (ErrorKind.PERMISSION_DENIED, ErrorKind.UNAUTHENTICATED):
            raise  # nobody answers, a setting at fault: said as for every command
        raise CertsealError(
            exc.kind,
            f"the licence type's field types cannot be known ({exc}): each "
            "NAME=VALUE is read as its declared type",
            field="field",
        ) from None
    for licence_type in reply.licence_types:
        if licence_type.type_code == type_code:
            return {f.name: f.type for f in licence_type.fields}
    raise invalid("type", f"unknown licence type {type_code!r} ('certseal type list')")


def _type_of(identifier: str) -> str:
    """The licence type code in ``identifier`` (an identifier or a lineage: its first
    part); INVALID_ARGUMENT (``identifier``) when it is neither."""
    parts = identifier.removeprefix(LICENCE_OID_PREFIX).split(".")
    if identifier.startswith(LICENCE_OID_PREFIX) and len(parts) == 3:
        return validate_type_code(parts[0], "identifier")
    return parse_licence_id(identifier).type_code


def _fields_of(
    args: argparse.Namespace, fields: Any, type_code: Callable[[], str]
) -> None:
    """``--field`` items into ``fields``, each as its licence type declares it; the
    type is asked for only when there are items."""
    pairs = field_items(args.field)
    if pairs:
        code = type_code()
        set_fields(fields, pairs, _declared_types(args, code), code)


def cmd_licence(args: argparse.Namespace) -> int:
    """Department operations on licences (with the department's dev identity)."""
    from certseal.v1 import issuer_pb2 as pb
    from certseal.v1 import licence_pb2

    command = args.licence_command
    if command == "issue":
        # its key is the command's (certseal.cli_keys): an issuance a Ctrl-C left
        # unknown is repeated with it to happen once. It goes in the request's own
        # field too, as before: the issuer keeps it with the licence, in the
        # department's key space, past [idempotency] retention_hours (atk48 F2)
        request = pb.IssueLicenceRequest(
            type_code=args.type,
            idempotency_key=command_keys().key,
            suite=args.suite or "",
            holder=licence_pb2.Holder(
                name=args.holder_name, id_type=args.id_type, id_number=args.id_number
            ),
        )
        _fields_of(args, request.fields, lambda: args.type)
        reply = _call(args, lambda s: s.IssueLicence(request))
        _print_licence(reply.licence, request.suite, args, reply.warnings)
        return 0
    if command == "document":
        return licence_document(args, _call)
    if command == "code":
        return licence_code(args, _call)
    if command == "list":
        if not (args.id_number or args.type or args.status):
            raise invalid(
                "filter", "give at least one: --id-number, --type or --status"
            )
        listing = pb.ListLicencesRequest(
            type_code=args.type or "",
            status=args.status,
            page_token=args.page_token or "",
            include_superseded=args.include_superseded,
        )
        if args.id_number:
            listing.holder.id_type, listing.holder.id_number = (
                args.id_type,
                args.id_number,
            )
        reply = _call(args, lambda s: s.ListLicences(listing))
        for one in reply.licences:
            # an earlier version keeps its status: said superseded first, as `get`
            print(
                f"{one.identifier}  {status_shown(one):<26} {one.holder_display_name}"
            )
        if reply.next_page_token:
            print(f"more: --page-token {reply.next_page_token}")
        elif not reply.licences and not args.page_token:  # a last page may be empty
            print("no licences match", file=sys.stderr)
        return 0
    if command == "present":
        ttl = presentation_ttl(args)  # checked before the issuer is asked
        presented = _call(
            args,
            lambda s: s.CreatePresentationCode(
                pb.CreatePresentationCodeRequest(
                    identifier=args.identifier, ttl_seconds=ttl
                )
            ),
        )
        print(presented.text)  # alone on the output: PC=$(certseal ... present ...)
        print(f"expires {ts(presented.expires_at)}", file=sys.stderr)
        if args.png:
            write_output(args.png, presented.png, "png")
            print(f"QR code written to {shown_name(args.png)}", file=sys.stderr)
        return 0
    if command == "transfer":
        moved = _call(
            args,
            lambda s: s.TransferLicence(
                pb.TransferLicenceRequest(
                    identifier=args.identifier,
                    to_department_code=args.to,
                    reason=args.reason or "",
                )
            ),
        )
        _print_licence(moved.transferred_out, args=args)
        print("--")
        _print_licence(moved.transferred_in, args=args)
        return 0
    if command == "amend":
        amend = pb.AmendLicenceRequest(
            identifier=args.identifier,
            remove_fields=args.remove_field or [],
            holder_name=args.holder_name or "",
            reason=args.reason or "",
        )
        _fields_of(args, amend.fields, lambda: _type_of(args.identifier))
        amended = _call(args, lambda s: s.AmendLicence(amend))
        _print_licence(amended.licence, args=args, warnings=amended.warnings)
        return 0
    ident, reason = args.identifier, getattr(args, "reason", "")
    calls: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "get": lambda s: s.GetLicence(pb.GetLicenceRequest(identifier=ident)),
        "suspend": lambda s: s.SuspendLicence(
            pb.SuspendLicenceRequest(identifier=ident, reason=reason)
        ),
        "unsuspend": lambda s: s.UnsuspendLicence(
            pb.UnsuspendLicenceRequest(identifier=ident, reason=reason)
        ),
        "revoke": lambda s: s.RevokeLicence(
            pb.RevokeLicenceRequest(
                identifier=ident,
                reason=reason,
                kind=pb.REVOCATION_KIND_SANCTION
                if args.sanction
                else pb.REVOCATION_KIND_REVOKE,
            )
        ),
        "cancel": lambda s: s.CancelLicence(
            pb.CancelLicenceRequest(identifier=ident, reason=reason)
        ),
        "renew": lambda s: s.RenewLicence(pb.RenewLicenceRequest(identifier=ident)),
    }
    reply = _call(args, calls[command])
    _print_licence(reply.licence, args=args)
    return 0


#: the commands on one licence, named by its identifier, and what each does
_ONE_LICENCE_COMMANDS = {
    "get": "one licence version, its fields and status",
    "code": "its static code (LC1:...); with --png also a QR code",
    "document": "its licence file (GB/T 36905), sealed by the department, to --out",
    "suspend": "suspend a valid licence (暂扣)",
    "unsuspend": "make a suspended licence valid again",
    "revoke": "revoke it (撤销; --sanction: 吊销)",
    "cancel": "cancel it (注销)",
    "renew": "a new version with a new validity period",
}


#: ``--png FILE`` of ``licence code`` and ``licence present``
_PNG: dict[str, Any] = {
    "action": OutputFile,
    "kinds": ("a PNG image",),
    "help": "also write the QR code to this file",
}


def register_licence(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``licence --as CODE <command>``."""
    lic = sub.add_parser("licence", help="licences, as a department (dev identity)")
    lic.add_argument(
        "--as",
        dest="as_department",
        required=True,
        type=given("a department's code"),
        metavar="CODE",
        help="the department to act as",
    )
    lics = lic.add_subparsers(dest="licence_command", required=True)
    issue = lics.add_parser("issue", help="issue a licence")
    issue.add_argument(
        "--type",
        required=True,
        type=checked(validate_type_code),
    )
    issue.add_argument("--holder-name", required=True)
    issue.add_argument("--id-type", default="111")
    issue.add_argument("--id-number", required=True)
    issue.add_argument("--field", action="append", help="NAME=VALUE, repeatable")
    issue.add_argument(
        "--suite",
        help="sign with the department's active key of this suite (sm2, es256, "
        "ed25519); default its newest active key",
    )
    amend = lics.add_parser("amend", help="change fields or the holder's name")
    amend.add_argument("identifier")
    amend.add_argument("--field", action="append", help="NAME=VALUE, repeatable")
    amend.add_argument("--remove-field", action="append", help="NAME, repeatable")
    amend.add_argument("--holder-name")
    amend.add_argument("--reason", required=True)
    transfer = lics.add_parser("transfer", help="transfer to another department")
    transfer.add_argument("identifier")
    transfer.add_argument("--to", required=True, metavar="CODE")
    transfer.add_argument("--reason", required=True)
    present = lics.add_parser("present", help="a short-lived presentation code")
    present.add_argument("identifier")
    add_ttl_option(present)
    present.add_argument("--png", **_PNG)
    listing = lics.add_parser("list", help="this department's licences")
    listing.add_argument("--type", type=checked(validate_type_code))
    listing.add_argument(
        "--status",
        type=licence_status,
        default=0,
        help="one status, as list prints it: its words in any case ("
        + ", ".join(shown.rpartition(" ")[0] for shown in STATUS_WORDS.values())
        + "), its national code (2 or 02) or both",
    )
    listing.add_argument("--id-type", default="111")
    listing.add_argument("--id-number", help="the holder's identity number")
    listing.add_argument("--include-superseded", action="store_true")
    listing.add_argument("--page-token")
    for name, what in _ONE_LICENCE_COMMANDS.items():
        command = lics.add_parser(name, help=what)
        command.add_argument("identifier", help="an identifier or a lineage")
        if name == "code":
            command.add_argument("--png", **_PNG)
        if name == "document":
            add_document_options(command)
        if name in ("suspend", "unsuspend", "revoke", "cancel"):
            command.add_argument("--reason", required=name == "revoke")
        if name == "revoke":
            command.add_argument(
                "--sanction",
                action="store_true",
                help="吊销 (07) rather than 撤销 (03)",
            )
    lic.set_defaults(func=cmd_licence)
