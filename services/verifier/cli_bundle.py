"""``certseal bundle fetch``: an offline counter's trust bundle file, fetched in full
or brought up to date with the delta from the version it holds (docs/codes.md,
"Offline trust bundles"); kept apart from :mod:`services.verifier.cli` for the floor
plan's size."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from certseal.calls import call_service
from certseal.cli import load
from certseal.cli_options import say, write_output
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.text import shown_name
from certseal.timestamps import utcnow
from certseal.tlsfiles import read_certificates

#: deltas a bundle file carries before ``bundle fetch`` starts it afresh
DEFAULT_MAX_DELTAS = 50


def cmd_bundle_fetch(args: argparse.Namespace) -> int:
    """Fetch an offline trust bundle, or the delta to the one in FILE."""
    from certseal.v1 import verifier_pb2, verifier_pb2_grpc
    from services.verifier.bundle import OfflineBundle, open_bundle
    from services.verifier.storage import bundle_file_bytes, read_bundle_file

    if args.full and args.max_deltas is not None:
        raise invalid(
            "max-deltas",
            "has no effect with --full (a full bundle is fetched whatever the file "
            "holds): give one of them",
        )
    max_deltas = DEFAULT_MAX_DELTAS if args.max_deltas is None else args.max_deltas
    _refuse_other_file(args.out)  # before the configuration, before any fetch
    cfg = load(args)
    out = Path(args.out)  # checked before the command ran (OutputFile)
    # read and checked before anything else (a FIFO would block a raw read)
    ca_pem = read_certificates(cfg.tls.ca_file, "tls.ca_file")[0]
    held: OfflineBundle | None = None
    if out.exists() and not args.full:
        try:
            held = open_bundle(read_bundle_file(out), ca_pem=ca_pem, now=utcnow())
        except CertsealError as exc:
            print(f"{shown_name(out)}: {exc}; fetching a full bundle", file=sys.stderr)
    if held is not None and len(held.messages) > max_deltas:
        held = None  # start afresh rather than carry a long chain

    def fetch(since: OfflineBundle | None) -> Any:
        request = verifier_pb2.ExportTrustBundleRequest(
            since_version=since.version if since else 0,
            group=since.group if since else "",
        )
        return call_service(
            cfg,
            cfg.cli.verifier_target,
            lambda chan: verifier_pb2_grpc.VerifierStub(chan).ExportTrustBundle(
                request
            ),
            service="verifier",
        )

    try:
        reply = fetch(held)
    except CertsealError as exc:
        if held is None or exc.kind is not ErrorKind.FAILED_PRECONDITION:
            raise
        # the group's words are for a program ("fetch a full bundle (since_version
        # 0)"): the command does that itself, so it says what happened (trial49)
        print(
            f"{shown_name(out)}: group {held.group} no longer keeps bundle "
            f"{held.version}, which the file holds (a worker restarted, or the "
            "group's bundles moved on); fetching a full bundle",
            file=sys.stderr,
        )
        held, reply = None, fetch(None)
    messages = [*(held.messages if held and reply.base_version else ()), reply.bundle]
    bundle = open_bundle(messages, ca_pem=ca_pem, now=utcnow())
    write_output(out, bundle_file_bytes(bundle.messages), "out")
    kind = f"delta from {reply.base_version}" if reply.base_version else "full"
    # a snapshot of the group's index, taken at most every [verifier]
    # bundle_refresh_s: what it holds is said by its last event's time
    upto = bundle.index_time.isoformat() if bundle.index_time else "none yet"
    say(
        f"{shown_name(out)}: bundle {bundle.version} of group {bundle.group} ({kind}, "
        f"{reply.listed_licences} lineages in this message); lists "
        f"{len(bundle.content.licences)} lineages and {len(bundle.content.keys)} keys "
        f"(events up to {upto}); valid until {bundle.valid_until.isoformat()}"
    )
    return 0


def _refuse_other_file(text: str) -> None:
    """INVALID_ARGUMENT (``out``) when ``--out`` names an existing file that is not a
    trust bundle: ``bundle fetch`` replaces the file, so it takes only a bundle (to
    update; one cut short or damaged is replaced by a full one), an empty file or
    none (made)."""
    from certseal.bounds import MAX_BUNDLE_FILE_BYTES
    from certseal.files import read_regular_file
    from services.verifier.bundle import is_bundle_message
    from services.verifier.bundle_file_start import starts_as_bundle_file
    from services.verifier.storage import bundle_file_messages

    path = Path(text)
    if not path.exists() or path.stat().st_size == 0:
        return
    messages, data = None, b""
    if path.stat().st_size <= MAX_BUNDLE_FILE_BYTES:
        data = read_regular_file(path, "out", MAX_BUNDLE_FILE_BYTES)
        messages = bundle_file_messages(data)
    if messages is None and starts_as_bundle_file(data):
        return  # a bundle cut short or damaged: replaced by a full one, said then
    if not messages or not all(is_bundle_message(m) for m in messages):
        raise invalid(
            "out",
            f"{shown_name(text)} is not a certseal trust bundle; refusing to replace it: give "
            "a new FILE, or the file of an earlier bundle fetch to update",
        )
