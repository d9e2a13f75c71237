"""How ``certseal feed`` shows what EventFeedAdmin answers: entitlements, webhooks
and a list's pages (split from :mod:`services.feed.cli` by size)."""

from __future__ import annotations

import argparse
from typing import Any

from certseal.cli_options import say


def print_page(count: int, noun: str, reply: Any, args: argparse.Namespace) -> None:
    """A list's count, "on this page" when paged, and how to ask for the next."""
    page = " on this page" if reply.next_page_token or args.page_token else ""
    print(f"{count} {noun}{'s' if count != 1 else ''}{page}")
    if reply.next_page_token:
        print(f"more: --page-token {reply.next_page_token}")


def print_webhook(hook: Any) -> None:
    """One webhook of ``feed webhooks``: integrator, URL, own filter, and why its
    entitlement does not cover it, if so."""
    lists = (hook.departments, hook.licence_types, hook.event_types)
    named = zip(("departments", "licence types", "events"), lists, strict=True)
    wanted = "; ".join(f"{what} {', '.join(vs)}" for what, vs in named if vs)
    outside = f"; outside its entitlement: {hook.outside}" if hook.outside else ""
    say(f"{hook.name}: {hook.integrator} at {hook.url}; {wanted or 'all'}{outside}")


def print_entitlement(e: Any) -> None:
    """One entitlement of ``feed entitle``, ``entitlement`` and ``entitlements``."""
    if not (e.departments or e.licence_types or e.event_types):
        say(f"{e.integrator}: every right withdrawn (certseal feed revoke)")
        return
    say(
        f"{e.integrator}: departments {', '.join(e.departments) or '-'}; "
        f"licence types {', '.join(e.licence_types) or '-'}; "
        f"events {', '.join(e.event_types) or '-'}"
    )
