"""Where webhooks may connect: global addresses only, checked at registration and again
for every connection, unless the operator allowed the host explicitly.

The check and the connection use the same DNS answer: aiohttp's connector asks
:meth:`EgressPolicy.resolver` for the addresses and connects to what it returns, which
are the addresses this policy checked; nothing is cached between connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.text import with_article
from services.feed.domain import WebhookUrl, parse_webhook_url, refused_address_class


class EgressRefused(aiohttp.ClientConnectionError):
    """A webhook host that is, or resolves to, an address webhooks may not reach."""

    def __init__(self, message: str, *, lookup: str = ""):
        super().__init__(message)
        self.lookup = lookup  # "failed" (no address) or "timeout"; "" for an address


class EgressPolicy:
    """Where webhooks may connect.

    A host the operator listed in ``allowed_hosts`` (``[feed] webhook_allowed_hosts``)
    may resolve to anything; any other host must resolve only to global addresses
    (:func:`~services.feed.domain.refused_address_class`), every one of them.
    ``resolver`` answers the DNS questions (the system's by default); the connection
    goes to the addresses it answered and this policy checked.
    """

    def __init__(
        self,
        *,
        allowed_hosts: Iterable[str] = (),
        resolver: AbstractResolver | None = None,
        resolve_timeout_s: float = 5.0,
    ):
        self.allowed_hosts = frozenset(
            h.lower().removesuffix(".") for h in allowed_hosts
        )
        self._resolver = resolver
        self._timeout = resolve_timeout_s

    def allows_host(self, host: str) -> bool:
        """Whether the operator allowed ``host`` explicitly."""
        return host.lower().removesuffix(".") in self.allowed_hosts

    def check_literal(self, target: WebhookUrl) -> None:
        """EgressRefused for an IP-literal host webhooks may not reach (aiohttp
        connects to a literal without asking the resolver)."""
        if target.literal is None or self.allows_host(target.host):
            return
        refused = refused_address_class(target.literal)
        if refused:
            raise EgressRefused(f"{target.host} is {with_article(refused)} address")

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        """The addresses to connect to for ``host``, all checked; EgressRefused when
        one of them is refused or there are none."""
        if self._resolver is None:
            self._resolver = aiohttp.ThreadedResolver()
        try:
            async with asyncio.timeout(self._timeout):
                found = await self._resolver.resolve(host, port, family=family)
        except TimeoutError:
            raise EgressRefused(
                f"{host}: DNS lookup timed out", lookup="timeout"
            ) from None
        except OSError:
            found = []
        if not found:
            raise EgressRefused(f"host {host} does not resolve", lookup="failed")
        if self.allows_host(host):
            return found
        for result in found:
            try:
                address = ipaddress.ip_address(result["host"])
            except ValueError:
                raise EgressRefused(f"{host} resolves to a non-address") from None
            refused = refused_address_class(address)
            if refused:
                raise EgressRefused(
                    f"{host} resolves to {address}, {with_article(refused)} address"
                )
        return found

    async def check_url(self, url: str) -> WebhookUrl:
        """A URL to register: parsed (:func:`~services.feed.domain.parse_webhook_url`),
        its host resolved and checked. INVALID_ARGUMENT naming ``url`` when refused,
        UNAVAILABLE when DNS did not answer in time."""
        target = parse_webhook_url(url)
        if self.allows_host(target.host):
            return target  # the operator vouched for it (it may not resolve yet)
        try:
            self.check_literal(target)
            if target.literal is None:
                await self.resolve(target.host, target.port)
        except EgressRefused as exc:
            if exc.lookup == "timeout":
                raise CertsealError(ErrorKind.UNAVAILABLE, str(exc)) from None
            if exc.lookup:
                raise invalid("url", str(exc)) from None
            raise invalid(
                "url",
                f"{exc}: webhooks reach global addresses only, unless [feed] "
                "webhook_allowed_hosts lists the host",
            ) from None
        return target

    def resolver(self) -> AbstractResolver:
        """An aiohttp resolver that answers with checked addresses only."""
        return _CheckedResolver(self)


class _CheckedResolver(AbstractResolver):
    def __init__(self, policy: EgressPolicy):
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return await self._policy.resolve(host, port, family)

    async def close(self) -> None:
        pass
