"""``certseal feed receiver-cert``: a dev HTTPS certificate for a local webhook
receiver, issued by the embedded stack's dev CA. Split from :mod:`services.feed.cli`
by size."""

from __future__ import annotations

import argparse
import json
import re

from certseal.cli import DEFAULT_HOME, LOCAL_OVERLAY, load
from certseal.dev_identities import dev_ca
from certseal.errors import invalid

# a DNS label (RFC 1035 section 2.3.1, with RFC 1123's leading digit): it names files
_RECEIVER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_receiver_name(name: str) -> None:
    """INVALID_ARGUMENT (``name``) unless ``name`` is a DNS label: 1 to 63 ASCII
    letters, digits and inner hyphens (RFC 1035, RFC 1123), so ``server-<name>.pem``
    is a short, plain file name."""
    if not _RECEIVER_NAME.fullmatch(name):
        shown = repr(name) if len(name) <= 70 else f"{name[:60]!r}... ({len(name)})"
        raise invalid(
            "name",
            f"{shown} is not a DNS label: 1 to 63 letters, digits and hyphens, "
            "neither first nor last a hyphen",
        )


def cmd_feed_receiver_cert(args: argparse.Namespace) -> int:
    """Issue a dev HTTPS certificate for a local webhook receiver (embedded stack)."""
    check_receiver_name(args.name)
    ca = dev_ca(load(args))
    try:
        ident = ca.server_identity(
            args.name, args.host or ["localhost", "127.0.0.1"], replace=args.force
        )
    except FileExistsError as exc:  # a receiver may serve with it: kept unless asked
        raise invalid(
            "name",
            f"{exc} exists (a receiver may be serving with its key); give --force "
            "to replace the key and certificate, or another name",
        ) from None
    except ValueError as exc:
        raise invalid("host", str(exc)) from None
    print(f"certificate {ident.cert_file}\nkey         {ident.key_file}")
    print(
        f"issued by the dev CA {ca.ca_file}: let the feed trust it and reach the host "
        f"with, in {DEFAULT_HOME / LOCAL_OVERLAY}:\n"
        f'  [feed]\n  webhook_ca_file = "{ca.ca_file}"\n'
        f"  webhook_allowed_hosts = {json.dumps(args.host or ['localhost'])}"
    )
    return 0


def register_receiver_cert(
    feed: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """``feed receiver-cert NAME [--host H ...] [--force]``."""
    cert = feed.add_parser(
        "receiver-cert",
        help="issue a dev HTTPS certificate for a local webhook receiver (make run)",
    )
    cert.add_argument("name", help="names the files: server-<name>.pem and .key")
    cert.add_argument(
        "--host",
        action="append",
        help="DNS name or IP in its subjectAltName, repeatable (default localhost, "
        "127.0.0.1)",
    )
    cert.add_argument(
        "--force",
        action="store_true",
        help="replace the key and certificate when server-<name> has them already",
    )
    cert.set_defaults(func=cmd_feed_receiver_cert)
