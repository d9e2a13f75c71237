"""The transparency log's ``certseal log`` commands.

``log checkpoint`` prints the latest signed checkpoint; ``log verify --licence ID``
checks that the licence's issuance is a leaf of the log under a checkpoint signed by the
log key (``[cli] log_key`` or ``--log-key``, given out of band); ``log verify --old
FILE [--new FILE]`` checks that two checkpoints are consistent (the newer extends the
older). Every check is done here, from the leaf data and the hashes: the log service is
not trusted. Exit 0 verified, 1 not verified (the reason named), 2 bad input: the
user's own input (an option, a file given, the log key). What the log answers is never
the user's input: an answer that is malformed (a checkpoint that is no signed note, leaf
data that is no log entry) or that the log refuses to prove is the log failing to
prove, exit 1. An error about a checkpoint file names its option (``old``, ``new``)
and the file.
"""

from __future__ import annotations

import argparse
from typing import Any

from certseal.calls import call_service
from certseal.cli import load
from certseal.cli_options import OutputFile, write_output
from certseal.text import shown_name


def _verifier(args: argparse.Namespace, cfg: Any) -> Any:
    from certseal.checkpoints import NoteVerifier
    from certseal.errors import invalid

    text = args.log_key or cfg.cli.log_key
    if not text:
        raise invalid(
            "log_key", "give the log's verifier key ([cli] log_key or --log-key)"
        )
    return NoteVerifier.parse(text)


def _call(cfg: Any, method: str, request: Any) -> Any:
    from certseal.v1 import tlog_pb2_grpc

    return call_service(
        cfg,
        cfg.cli.tlog_target,
        lambda chan: getattr(tlog_pb2_grpc.TransparencyLogStub(chan), method)(request),
        service="tlog",
    )


def _from_log(exc: Any, field: str, what: str) -> Any:
    """``exc``, raised reading an answer of the log or by a refusal of a request
    built from signed checkpoints, as the log failing to prove (FAILED_PRECONDITION,
    exit 1, naming ``field``), never as the user's bad input (exit 2)."""
    from certseal.errors import CertsealError, ErrorKind

    return CertsealError(
        ErrorKind.FAILED_PRECONDITION, f"{what} ({exc.message})", field=field
    )


def _proof(cfg: Any, method: str, request: Any, field: str, what: str) -> Any:
    """The log's answer to ``request``, a request built from sizes the log signed:
    the log refusing it (INVALID_ARGUMENT naming one of the request's fields) is the
    log failing to prove ``what`` (:func:`_from_log`, naming ``field``); any other
    error (a setting at fault, the log unreachable) is said as it is."""
    from certseal.errors import CertsealError, ErrorKind

    try:
        return _call(cfg, method, request)
    except CertsealError as exc:
        if exc.kind is not ErrorKind.INVALID_ARGUMENT or (
            exc.field not in request.DESCRIPTOR.fields_by_name
        ):
            raise
        raise _from_log(exc, field, what) from None


def _log_checkpoint(note: str, verifier: Any) -> Any:
    """The checkpoint the log served, its signature checked (exit 1 if not)."""
    from certseal.checkpoints import open_checkpoint
    from certseal.errors import CertsealError

    try:
        return open_checkpoint(note, verifier)
    except CertsealError as exc:
        raise _from_log(
            exc,
            "checkpoint",
            f"the log's latest checkpoint is not a valid one signed by {verifier.name}",
        ) from None


def _file_checkpoint(path: str, option: str, verifier: Any) -> Any:
    """The checkpoint in the file of ``--old`` or ``--new`` (``option``), its
    signature checked; an error names the option and the file: exit 2 for a file
    that is no signed checkpoint, 1 for one the log's key did not sign or that
    states no tree (size 0 with a root other than SHA-256(""))."""
    from certseal.checkpoints import open_checkpoint
    from certseal.errors import CertsealError

    note = _read_note(path, option)
    try:
        return open_checkpoint(note, verifier)
    except CertsealError as exc:
        raise CertsealError(
            exc.kind, f"{shown_name(path)}: {exc.message}", field=option
        ) from None


def _read_note(path: str, option: str) -> str:
    """The checkpoint file of ``--old`` or ``--new`` (``option``), as text."""
    from certseal.checkpoints import MAX_NOTE_BYTES
    from certseal.errors import invalid
    from certseal.filekinds import CHECKPOINT, refuse_other_kind
    from certseal.files import read_input_file

    raw = read_input_file(path, option, MAX_NOTE_BYTES)
    refuse_other_kind(raw, path, option, CHECKPOINT)
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise invalid(option, f"{shown_name(path)} is not UTF-8 text") from None


def cmd_log_checkpoint(args: argparse.Namespace) -> int:
    """Fetch the latest checkpoint, check its signature, print it (or write --out)."""
    from certseal.v1 import tlog_pb2 as pb

    cfg = load(args)
    reply = _call(cfg, "GetCheckpoint", pb.GetCheckpointRequest())
    checkpoint = _log_checkpoint(reply.checkpoint, _verifier(args, cfg))
    if args.out:
        write_output(args.out, reply.checkpoint.encode(), "out")
        print(
            f"wrote       {shown_name(args.out)}: checkpoint {checkpoint.origin} size "
            f"{checkpoint.size}, signature valid"
        )
    else:
        print(reply.checkpoint, end="")
    return 0


def _latest(args: argparse.Namespace, cfg: Any, verifier: Any) -> Any:
    """The ``--new`` file's checkpoint, else the log's latest."""
    from certseal.v1 import tlog_pb2 as pb

    if args.new:
        return _file_checkpoint(args.new, "new", verifier)
    note = _call(cfg, "GetCheckpoint", pb.GetCheckpointRequest()).checkpoint
    return _log_checkpoint(note, verifier)


def cmd_log_verify(args: argparse.Namespace) -> int:
    """Inclusion of a licence's issuance, or consistency of two checkpoints."""
    from certseal.errors import invalid

    cfg = load(args)
    verifier = _verifier(args, cfg)
    if bool(args.licence) == bool(args.old):
        raise invalid("licence", "give --licence IDENTIFIER or --old CHECKPOINT")
    if args.licence:
        return _verify_licence(args, cfg, verifier)
    return _verify_consistency(args, cfg, verifier)


def _verify_licence(args: argparse.Namespace, cfg: Any, verifier: Any) -> int:
    from certseal.errors import CertsealError, ErrorKind
    from certseal.identifiers import parse_licence_id
    from certseal.merkle import leaf_hash, verify_inclusion
    from certseal.v1 import tlog_pb2 as pb
    from services.tlog.domain import LogEntry

    lineage = parse_licence_id(args.licence, "licence").lineage
    checkpoint = _latest(args, cfg, verifier)
    found = _call(cfg, "FindEntries", pb.FindEntriesRequest(subject=lineage)).leaves
    issued = [
        leaf
        for leaf in found
        if leaf.leaf_index < checkpoint.size
        and leaf.leaf_data.startswith(b"certseal/transparency-log/entry/v1\n")
        and b"\ntype cn.gov.certseal.licence.issued\n" in leaf.leaf_data
    ]
    if not issued:
        raise CertsealError(
            ErrorKind.NOT_FOUND,
            f"no issuance of {lineage} in the log's first {checkpoint.size} leaves",
            field="licence",
        )
    leaf = issued[0]
    reply = _proof(
        cfg,
        "GetInclusionProof",
        pb.GetInclusionProofRequest(
            leaf_index=leaf.leaf_index, tree_size=checkpoint.size
        ),
        "leaf",
        f"the log proves no leaf {leaf.leaf_index} in its own signed checkpoint of "
        f"size {checkpoint.size}",
    )
    try:
        entry = LogEntry.decode(reply.leaf_data)
    except CertsealError as exc:
        raise _from_log(
            exc, "leaf", f"leaf {leaf.leaf_index} as the log serves it is no log entry"
        ) from None
    if entry.subject != lineage or not entry.type.endswith(".licence.issued"):
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"leaf {leaf.leaf_index} is not the issuance of {lineage}",
            field="leaf",
        )
    try:
        verify_inclusion(
            leaf.leaf_index,
            checkpoint.size,
            leaf_hash(reply.leaf_data),
            list(reply.proof),
            checkpoint.root_hash,
        )
    except CertsealError as exc:
        raise CertsealError(
            ErrorKind.FAILED_PRECONDITION,
            f"leaf {leaf.leaf_index} as the log serves it is not the leaf the signed "
            f"checkpoint of size {checkpoint.size} holds ({exc.message})",
            field="leaf",
        ) from None
    print(f"logged      {args.licence}: issuance is leaf {leaf.leaf_index}")
    print(f"event       {entry.event} at {entry.time} (sha256 {entry.sha256.hex()})")
    print(f"checkpoint  {checkpoint.origin} size {checkpoint.size}, signature valid")
    return 0


def _verify_consistency(args: argparse.Namespace, cfg: Any, verifier: Any) -> int:
    """The newer checkpoint (``--new``, else the log's latest) extends ``--old``: a
    smaller newer tree (the log shrank) or equal sizes with different roots (a fork)
    fail naming ``new`` (``checkpoint`` for the log's own); equal sizes compare the
    roots, the empty tree (its root SHA-256("")) precedes every tree, and any other
    pair takes the log's consistency proof (RFC 9162 §2.1.4.2)."""
    from certseal.errors import precondition
    from certseal.merkle import EMPTY_ROOT, verify_consistency
    from certseal.v1 import tlog_pb2 as pb

    old = _file_checkpoint(args.old, "old", verifier)
    new = _latest(args, cfg, verifier)
    older = shown_name(args.old)
    field, newer = (
        ("new", shown_name(args.new))
        if args.new
        else ("checkpoint", "the log's latest checkpoint")
    )
    if new.size < old.size:
        raise precondition(
            f"the log shrank: {newer} has tree size {new.size}, smaller than the "
            f"{old.size} of {older}",
            field=field,
        )
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            raise precondition(
                f"{newer} and {older} are both of tree size {new.size} with different "
                "root hashes: the log forked",
                field=field,
            )
        print(f"consistent  size {old.size}: the same tree (equal root hashes)")
        return 0
    if old.size == 0:  # its root was checked as read: RFC 9162 §2.1.1
        if old.root_hash != EMPTY_ROOT:
            raise precondition(
                f"{older}: tree size 0 with a root other than the empty tree's",
                field="old",
            )
        print(f"consistent  the empty tree precedes size {new.size}")
        return 0
    reply = _proof(
        cfg,
        "GetConsistencyProof",
        pb.GetConsistencyProofRequest(
            first_tree_size=old.size, second_tree_size=new.size
        ),
        "proof",
        f"the log gives no consistency proof from size {old.size} to {new.size}",
    )
    verify_consistency(
        old.size, new.size, list(reply.proof), old.root_hash, new.root_hash
    )
    print(
        f"consistent  size {old.size} -> {new.size}: the newer tree extends the older"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``log checkpoint`` and ``log verify``."""
    log = sub.add_parser("log", help="the transparency log").add_subparsers(
        dest="log_command", required=True
    )
    checkpoint = log.add_parser("checkpoint", help="the latest signed checkpoint")
    checkpoint.add_argument(
        "--out",
        action=OutputFile,
        kinds=("a signed checkpoint",),
        help="write it to this file",
    )
    checkpoint.add_argument(
        "--log-key", help="the log's verifier key (else [cli] log_key)"
    )
    checkpoint.set_defaults(func=cmd_log_checkpoint)
    verify = log.add_parser(
        "verify", help="a licence's issuance is logged; two checkpoints are consistent"
    )
    verify.add_argument("--licence", help="a licence identifier (GB/T 36904)")
    verify.add_argument("--old", help="an older checkpoint file (signed note)")
    verify.add_argument("--new", help="a newer checkpoint file (default: the latest)")
    verify.add_argument("--log-key", help="the log's verifier key (else [cli] log_key)")
    verify.set_defaults(func=cmd_log_verify)
