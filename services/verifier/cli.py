"""The verifier's ``certseal`` commands: ``verify`` (online, or offline from a trust
bundle) and ``bundle fetch``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from certseal.cli import call_service, load
from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.timestamps import utcnow


def is_file(text: str) -> bool:
    """Whether ``text`` names a file (a scanned code never does)."""
    if text.startswith(("LC1:", "PC1:")):
        return False
    try:
        return Path(text).is_file()
    except OSError:  # e.g. longer than a file name may be
        return False


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a code (text) or a QR image; exit 0 only when VALID.

    Online at the verifier, or with ``--offline --bundle FILE`` from a trust bundle
    alone (no network).
    """
    if not args.code and not args.image:
        print("error: give the scanned text or --image FILE", file=sys.stderr)
        return 2
    if not args.image and is_file(args.code):  # CODE_OR_IMAGE
        args.image, args.code = args.code, ""
    image = _read_image(Path(args.image)) if args.image else b""
    if args.offline:
        return _verify_offline(args, image)
    if not args.purpose:
        raise invalid("purpose", "is required: the purpose of use (用证事由)")
    from certseal.v1 import verifier_pb2, verifier_pb2_grpc

    cfg = load(args)

    async def call(channel: Any) -> Any:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        if args.image:
            request = verifier_pb2.VerifyImageRequest(image=image, purpose=args.purpose)
            return (await stub.VerifyImage(request)).result
        request = verifier_pb2.VerifyCodeRequest(code=args.code, purpose=args.purpose)
        return (await stub.VerifyCode(request)).result

    result = call_service(cfg, cfg.cli.verifier_target, call)
    return _print_verdict(
        verifier_pb2.Verdict.Name(result.verdict).removeprefix("VERDICT_"),
        result.identifier,
        result.holder_display_name,
        dict(result.fields),
        [(c.name, c.passed, c.detail) for c in result.checks],
    )


def _read_image(path: Path) -> bytes:
    """The image file's bytes, within the one image limit (checked on its size before
    it is read); INVALID_ARGUMENT (``image``) for a missing or unreadable file."""
    from certseal.qr import check_image_bytes

    try:
        check_image_bytes(path.stat().st_size)
        return path.read_bytes()
    except OSError as exc:
        raise invalid("image", f"cannot read {str(path)!r}: {exc.strerror}") from None


def _verify_offline(args: argparse.Namespace, image: bytes) -> int:
    from certseal.qr import read_qr_image
    from services.verifier.bundle import open_bundle, verify_offline
    from services.verifier.storage import read_bundle_file

    if not args.bundle:
        raise invalid("bundle", "--offline needs --bundle FILE (certseal bundle fetch)")
    cfg = load(args)
    now = utcnow()
    bundle = open_bundle(
        read_bundle_file(Path(args.bundle)),
        ca_pem=Path(cfg.tls.ca_file).read_bytes(),
        now=now,
    )
    text = read_qr_image(image) if image else args.code
    result = verify_offline(text, bundle, now)
    print(
        f"offline     bundle {bundle.version} of {bundle.group}, signed by "
        f"{bundle.signer}, valid until {bundle.valid_until.isoformat()}"
    )
    return _print_verdict(
        result.verdict.value,
        result.identifier,
        result.holder_display_name,
        {k: str(v) for k, v in result.fields.items()},
        [(c.name, c.outcome.value == "passed", c.detail) for c in result.checks],
    )


def _print_verdict(
    verdict: str,
    identifier: str,
    holder: str,
    fields: dict[str, str],
    checks: list[tuple[str, bool, str]],
) -> int:
    print(f"verdict     {verdict}")
    if identifier:
        print(f"identifier  {identifier}")
    if holder:
        print(f"holder      {holder}")
    for name, value in sorted(fields.items()):
        print(f"  {name} = {value}")
    for name, passed, detail in checks:
        print(f"  [{'ok' if passed else 'FAILED'}] {name}: {detail}")
    return 0 if verdict == "VALID" else 1


def cmd_bundle_fetch(args: argparse.Namespace) -> int:
    """Fetch an offline trust bundle, or the delta to the one in FILE."""
    from certseal.v1 import verifier_pb2, verifier_pb2_grpc
    from services.verifier.bundle import OfflineBundle, open_bundle
    from services.verifier.storage import read_bundle_file, write_bundle_file

    cfg = load(args)
    out = Path(args.out)
    ca_pem = Path(cfg.tls.ca_file).read_bytes()
    held: OfflineBundle | None = None
    if out.exists() and not args.full:
        try:
            held = open_bundle(read_bundle_file(out), ca_pem=ca_pem, now=utcnow())
        except CertsealError as exc:
            print(f"{out}: {exc}; fetching a full bundle", file=sys.stderr)
    if held is not None and len(held.messages) > args.max_deltas:
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
        )

    try:
        reply = fetch(held)
    except CertsealError as exc:
        if held is None or exc.kind is not ErrorKind.FAILED_PRECONDITION:
            raise
        print(f"{exc}; fetching a full bundle", file=sys.stderr)
        held, reply = None, fetch(None)
    messages = [*(held.messages if held and reply.base_version else ()), reply.bundle]
    bundle = open_bundle(messages, ca_pem=ca_pem, now=utcnow())
    write_bundle_file(out, bundle.messages)
    kind = f"delta from {reply.base_version}" if reply.base_version else "full"
    print(
        f"{out}: bundle {bundle.version} of group {bundle.group} ({kind}, "
        f"{reply.listed_licences} lineages in this message); lists "
        f"{len(bundle.content.licences)} lineages and {len(bundle.content.keys)} keys; "
        f"valid until {bundle.valid_until.isoformat()}"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``verify`` and ``bundle fetch``."""
    verify = sub.add_parser("verify", help="verify a scanned code or QR image")
    verify.add_argument(
        "code", nargs="?", default="", help="the scanned text, or a PNG/JPEG of the QR"
    )
    verify.add_argument(
        "--image",
        help="a PNG, JPEG or HEIC image of the QR code instead (at most 8 MiB)",
    )
    verify.add_argument("--purpose", help="the purpose of use (用证事由), online")
    verify.add_argument(
        "--offline", action="store_true", help="verify with a trust bundle, no network"
    )
    verify.add_argument("--bundle", help="the trust bundle file for --offline")
    verify.set_defaults(func=cmd_verify)

    bundles = sub.add_parser("bundle", help="offline trust bundles").add_subparsers(
        dest="bundle_command", required=True
    )
    fetch = bundles.add_parser(
        "fetch", help="fetch a bundle from the verifier, or update the one in --out"
    )
    fetch.add_argument("--out", required=True, help="the bundle file")
    fetch.add_argument("--full", action="store_true", help="never a delta")
    fetch.add_argument(
        "--max-deltas",
        type=int,
        default=50,
        help="fetch a full bundle once the file holds this many deltas",
    )
    fetch.set_defaults(func=cmd_bundle_fetch)
