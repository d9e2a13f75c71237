"""The transparency log's ``certseal log`` commands.

``log checkpoint`` prints the latest signed checkpoint; ``log verify --licence ID``
checks that the licence's issuance is a leaf of the log under a checkpoint signed by the
log key (``[cli] log_key`` or ``--log-key``, given out of band); ``log verify --old
FILE [--new FILE]`` checks that two checkpoints are consistent (the newer extends the
older). Every check is done here, from the leaf data and the hashes: the log service is
not trusted. Exit 0 verified, 1 not verified (the reason named), 2 bad input.
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
    from certseal.checkpoints import open_checkpoint
    from certseal.v1 import tlog_pb2 as pb

    cfg = load(args)
    reply = _call(cfg, "GetCheckpoint", pb.GetCheckpointRequest())
    checkpoint = open_checkpoint(reply.checkpoint, _verifier(args, cfg))
    if args.out:
        write_output(args.out, reply.checkpoint.encode(), "out")
        print(
            f"wrote       {shown_name(args.out)}: checkpoint {checkpoint.origin} size "
            f"{checkpoint.size}, signature valid"
        )
    else:
        print(reply.checkpoint, end="")
    return 0


def _latest(args: argparse.Namespace, cfg: Any, verifier: Any) -> tuple[Any, str]:
    from certseal.checkpoints import open_checkpoint
    from certseal.v1 import tlog_pb2 as pb

    if args.new:
        note = _read_note(args.new, "new")
    else:
        note = _call(cfg, "GetCheckpoint", pb.GetCheckpointRequest()).checkpoint
    return open_checkpoint(note, verifier), note


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
    checkpoint, _ = _latest(args, cfg, verifier)
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
    reply = _call(
        cfg,
        "GetInclusionProof",
        pb.GetInclusionProofRequest(
            leaf_index=leaf.leaf_index, tree_size=checkpoint.size
        ),
    )
    entry = LogEntry.decode(reply.leaf_data)
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
    from certseal.checkpoints import open_checkpoint
    from certseal.merkle import verify_consistency
    from certseal.v1 import tlog_pb2 as pb

    old = open_checkpoint(_read_note(args.old, "old"), verifier)
    new, _ = _latest(args, cfg, verifier)
    if old.size == 0:
        print(f"consistent  the empty tree precedes size {new.size}")
        return 0
    proof: list[bytes] = []
    if old.size < new.size:
        reply = _call(
            cfg,
            "GetConsistencyProof",
            pb.GetConsistencyProofRequest(
                first_tree_size=old.size, second_tree_size=new.size
            ),
        )
        proof = list(reply.proof)
    verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
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
