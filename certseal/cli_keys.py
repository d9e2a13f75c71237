"""The idempotency keys of one ``certseal`` command, and what it says when a change it
asked for has no known outcome.

trial47: a Ctrl-C during ``licence issue``'s call exited without a word while the
issuer had issued the licence, and the clerk's second try issued another. The same
holds for every command that changes something (amend, renew, a signing key made or
rotated, a document sealed, a use authorised).

Every channel a command opens (:func:`certseal.calls.channel`) shares the command's
:class:`CommandKeys`: the command's first call of a method that honours idempotency
keys (:data:`certseal.idempotency.KEYED_METHODS`) carries the command's key, its n-th
such call ``<key>-<n>``; a read carries none (a service ignores a read's key). So the
same command run again with ``--idempotency-key <key>`` makes its changes with the same
keys, in the same order, and each is made once: the service answers a key it knows
with its first answer (certseal.idempotency). A command that stops with such a call
sent and not answered (Ctrl-C, a deadline, a connection lost, a transient failure the
service asks to retry with the same key) says the key (:func:`stop_words`).

A change's attempts are made here, by the channels' retry policy
(:data:`certseal.retries.RETRY_SERVICE_CONFIG`), not by gRPC (``certseal.calls.channel``
turns gRPC's off for them): gRPC reports its last attempt only, and a service killed
after taking the first (its change committed, its answer lost) left the retries
"failed to connect to all addresses", read as nothing sent: no key was said, and the
clerk's second try made the change again (atk48).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import contextvars
import random
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from typing import Any

import grpc

from certseal.cli_options import chosen_parser
from certseal.errors import CertsealError
from certseal.idempotency import (
    FIELD,
    KEPT_ANSWER_KEY,
    KEYED_METHODS,
    METADATA_KEY,
    check_key,
)

#: the longest key a user gives, in characters: room for ``-<n>`` within the
#: service's 128 (:data:`certseal.idempotency.MAX_KEY_LENGTH`)
MAX_GIVEN_LENGTH = 120
#: a call that ends with one of these has no known outcome, or the service asks for a
#: retry with the same key (UNAVAILABLE, ABORTED: certseal.retries.transient_error)
UNSETTLED = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.ABORTED,
    }
)
HELP = (
    "the idempotency key of the change this command makes (1 to 120 printable ASCII "
    "characters, no spaces): run again with the same key while the service keeps it "
    "([idempotency] retention_hours, 72 by default), the change is made once and the "
    "service answers as it did the first time; a command stopped before its answer "
    "says the key to repeat it with (default: a new key each run)"
)

_CURRENT: contextvars.ContextVar[CommandKeys] = contextvars.ContextVar("command_keys")


class CommandKeys(grpc.aio.UnaryUnaryClientInterceptor):
    """The keys of one command's changes, shared by every channel it opens.

    ``key``: the command's key (``cli-<32 hex digits>`` when not given). A key the
    request carries in its ``idempotency_key`` field, else in the call's metadata
    (a program's own), is sent as it is. ``unsettled``
    maps the key of each change sent and not answered (or answered with
    :data:`UNSETTLED`) to its method's name (``RevokeLicence``), ``done`` the key of
    each change answered with success, ``kept`` those of them answered with the
    answer an earlier call with the key was given (:data:`KEPT_ANSWER_KEY`: done
    then, not now), when no attempt or other call of this command with the key may
    have made the change; ``done`` and ``kept`` for a command only (``remember``: a
    channel a program keeps open for days would hold one entry per change)."""

    def __init__(self, key: str | None = None, *, remember: bool = True):
        self.key = key or f"cli-{uuid.uuid4().hex}"
        self._changes = 0
        self._remember = remember
        self.unsettled: dict[str, str] = {}
        self.done: dict[str, str] = {}
        self.kept: dict[str, str] = {}
        self._sending: collections.Counter[str] = collections.Counter()

    def _next(self) -> str:
        self._changes += 1
        return self.key if self._changes == 1 else f"{self.key}-{self._changes}"

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        """Key a change (and note it unsettled until its answer); pass a read on."""
        return await self.intercept(continuation, client_call_details, request)

    def watching(self, watch: ConnectionWatch) -> grpc.aio.UnaryUnaryClientInterceptor:
        """These keys as one channel's interceptor, which knows from ``watch``
        whether that channel ever connected (:func:`never_sent`)."""
        return _WatchedKeys(self, watch)

    async def intercept(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
        watch: ConnectionWatch | None = None,
    ) -> Any:
        """:meth:`intercept_unary_unary` on a channel ``watch`` follows."""
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        if method not in KEYED_METHODS:
            return await continuation(client_call_details, request)
        key, details = self._keyed(client_call_details, request)
        # a kept answer is an earlier command's change only if no call of this one
        # may have made it: none with this key before (done, or sent and not
        # answered) nor at the same time (:meth:`_kept`)
        sent_here = key in self.unsettled or key in self.done
        self.unsettled[key] = method.rpartition("/")[2]
        self._sending[key] += 1  # two calls of one key at once: the service orders
        tries = _Tries()  # them, and the key is unsettled while either is unanswered
        try:
            call = await self._attempts(continuation, details, request, tries, watch)
            try:
                await call  # its answer, or its error, is the caller's to take again
            except grpc.aio.AioRpcError as exc:
                tries.settled = not (tries.reached and exc.code() in UNSETTLED)
            else:
                if self._remember:
                    self.done[key] = self.unsettled[key]
                    alone = not (sent_here or tries.reached or self._sending[key] > 1)
                    if alone and await _kept(call):
                        self.kept[key] = self.unsettled[key]
                tries.settled = True
            return call
        finally:
            self._sending[key] -= 1
            if not self._sending[key]:
                del self._sending[key]
                if tries.settled:
                    del self.unsettled[key]

    def _keyed(
        self, details: grpc.aio.ClientCallDetails, request: Any
    ) -> tuple[str, grpc.aio.ClientCallDetails]:
        """The key of a change's call, and its details carrying it: the one the
        request carries in its field, else in the call's metadata (a program's own:
        sent as it is, a value given as bytes too, and both, when they differ, for
        the service to refuse), else the command's next."""
        key = self._next()
        own = getattr(request, FIELD, "")
        own = own if isinstance(own, str) else ""
        metadata = list(details.metadata or ())
        given = [value for name, value in metadata if name == METADATA_KEY]
        if not given:
            metadata.append((METADATA_KEY, own or key))
        elif not own:  # the program's (atk48 F6); the service takes the last
            last = given[-1]
            own = last.decode("ascii", "replace") if isinstance(last, bytes) else last
        return own or key, details._replace(metadata=grpc.aio.Metadata(*metadata))

    async def _attempts(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        details: grpc.aio.ClientCallDetails,
        request: Any,
        tries: _Tries,
        watch: ConnectionWatch | None = None,
    ) -> Any:
        """The change's attempts by the retry policy, within its deadline: the last
        attempt's call (the last that may have reached the service, when later ones
        never connected); ``tries`` notes whether any attempt may have reached the
        service (one that ended otherwise than "failed to connect"), and a change
        stopped between attempts of which none did as settled."""
        from certseal.retries import RETRY_SERVICE_CONFIG

        policy = RETRY_SERVICE_CONFIG["methodConfig"][0]["retryPolicy"]
        retried = {grpc.StatusCode[code] for code in policy["retryableStatusCodes"]}
        backoff = float(policy["initialBackoff"].removesuffix("s"))
        longest = float(policy["maxBackoff"].removesuffix("s"))
        timeout = details.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        attempt, reached = 0, None
        while True:
            attempt += 1
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            call = await continuation(details._replace(timeout=left), request)
            try:
                await call
            except grpc.aio.AioRpcError as exc:
                if left_unknown(exc, watch):
                    tries.reached, reached = True, call
                # the change's error: the last attempt's, but for one that never
                # connected after one that reached the service (killed with the
                # change: "connection lost", not "is certseal running?"; trial49 L4)
                told = (
                    reached if reached is not None and never_sent(exc, watch) else call
                )
                if exc.code() not in retried or attempt >= policy["maxAttempts"]:
                    return told
            except asyncio.CancelledError:
                call.cancel()  # the command stopped: the outcome stays unknown
                raise
            else:
                return call
            pause = random.uniform(0, backoff)  # gRPC's jitter
            if deadline is not None and time.monotonic() + pause >= deadline:
                return told
            try:
                await asyncio.sleep(pause)
            except asyncio.CancelledError:
                # stopped between tries of which none was sent: nothing was done
                tries.settled = not tries.reached
                raise
            backoff = min(backoff * policy["backoffMultiplier"], longest)


async def _kept(call: Any) -> bool:
    """Whether ``call``'s answer is marked the one an earlier call with its key was
    given (:data:`KEPT_ANSWER_KEY`). Only for a call that is its change's only one in
    the command: a kept answer to a retry whose earlier attempt may have reached the
    service (its answer lost with a connection, or its commit's reply: UNAVAILABLE)
    is, most likely, this command's own change, made now (atk55); the service cannot
    tell its attempts apart, the command can."""
    trailing = dict(await call.trailing_metadata() or ())
    return trailing.get(KEPT_ANSWER_KEY) == "1"


class _WatchedKeys(grpc.aio.UnaryUnaryClientInterceptor):
    """A command's keys on one channel (:meth:`CommandKeys.watching`)."""

    def __init__(self, keys: CommandKeys, watch: ConnectionWatch):
        self.keys, self.watch = keys, watch

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        """:meth:`CommandKeys.intercept` with this channel's watch."""
        return await self.keys.intercept(
            continuation, client_call_details, request, self.watch
        )


class _Tries:
    """What a change's attempts found: whether any may have reached the service, and
    whether its outcome is known (done, or not done)."""

    reached = False
    settled = False


def left_unknown(
    exc: grpc.aio.AioRpcError, watch: ConnectionWatch | None = None
) -> bool:
    """Whether a change whose attempt failed with ``exc`` may be done, or is to be
    retried with its key: a status of :data:`UNSETTLED`, but not a connection that
    was never made (gRPC's "failed to connect to all addresses", or a deadline on a
    channel ``watch`` saw never connect: nothing was sent by that attempt; an
    earlier one may have been, :meth:`CommandKeys._attempts`)."""
    return exc.code() in UNSETTLED and not never_sent(exc, watch)


#: what gRPC's details of an UNAVAILABLE call say of one never sent, lowercased: no
#: connection made, or no address to make one to (the name not resolved: ``errors
#: resolving HOST:PORT: [... Domain name not found]``, older gRPC's ``DNS resolution
#: failed for``, or resolved to none)
_NEVER_SENT = (
    "failed to connect to all addresses",
    "errors resolving",
    "dns resolution failed",
    "empty address list",
)


def never_sent(exc: grpc.aio.AioRpcError, watch: ConnectionWatch | None = None) -> bool:
    """Whether the call that failed with ``exc`` was never sent: gRPC could not
    connect to the service (UNAVAILABLE, :data:`_NEVER_SENT`), or its deadline came
    while no call of the channel ``watch`` follows had gone out on a connection (a
    server that takes the TCP connection and never finishes TLS: gRPC says only
    "Deadline Exceeded").
    A name that did not resolve was taken for a call that may have reached the
    service (atk52: a change to a host not found said "not known to be done", and
    a service whose name went with it, a pod's, left its retries' "host not found"
    as the error, not the connection lost)."""
    if watch is not None and exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
        return not watch.connected()
    return _unavailable_saying(exc, _NEVER_SENT)


class ConnectionWatch(grpc.AuthMetadataPlugin):
    """Whether any call of a channel has gone out on a connection, so that a call
    that ran out of time on a channel none of whose calls ever did is known never
    sent (:func:`never_sent`). The channel carries it as call credentials
    (:meth:`credentials`; :func:`certseal.calls.channel`).

    gRPC asks a channel's call credentials for a call's metadata only once the call
    has been given a connection whose handshake is done (their metadata may depend
    on that connection's security: C-core's client auth filter is on the
    subchannel's connected stack, after the load balancer's pick), and sends the
    call's headers after the answer: while it was never asked, no call was sent. A
    watch of the channel's connectivity state instead (READY seen, at some time)
    missed a connection that was ready for less time than the command's event loop
    took to look: a server that took the call and said GOAWAY at once (a graceful
    stop: the call goes on) had a change it may have made said "not sent", its key
    settled (atk54)."""

    def __init__(self) -> None:
        self._sent = self._carried = False

    def __call__(
        self,
        context: grpc.AuthMetadataContext,
        callback: grpc.AuthMetadataPluginCallback,
    ) -> None:
        """gRPC's question for a call given a connection: no metadata."""
        self._sent = True  # before the answer, which lets the call go out
        callback((), None)

    def credentials(self) -> grpc.CallCredentials:
        """This watch as the channel's call credentials."""
        self._carried = True
        return grpc.metadata_call_credentials(self, name="certseal-call-sent")

    def connected(self) -> bool:
        """Whether a call of the channel may have been sent: one went out on a
        connection (the credentials were asked for it), at any time; True for a
        watch no channel carries (not known)."""
        return self._sent or not self._carried


def _unavailable_saying(exc: grpc.aio.AioRpcError, words: tuple[str, ...]) -> bool:
    """Whether ``exc`` is UNAVAILABLE with details holding one of ``words``
    (lowercased)."""
    details = (exc.details() or "").lower()
    unavailable = exc.code() is grpc.StatusCode.UNAVAILABLE
    return unavailable and any(said in details for said in words)


#: what gRPC's details of an UNAVAILABLE call say of a connection lost after the
#: call was sent, lowercased: the peer killed (``Stream removed (recvmsg:Connection
#: reset by peer)``), stopping (``Cancelling all calls``, ``GOAWAY received``,
#: ``Server shutdown``), or gone from the network (``keepalive watchdog timeout``)
_LOST = (
    "stream removed",
    "socket closed",
    "connection reset",
    "broken pipe",
    "recvmsg",
    "goaway",
    "cancelling all calls",
    "server shutdown",
    "endpoint closing",
    "transport closed",
    "keepalive watchdog timeout",
)


def connection_lost(exc: grpc.aio.AioRpcError) -> bool:
    """Whether the call that failed with ``exc`` was sent on a connection that was
    then lost (:data:`_LOST`), the service stopped or restarted while it had the
    call: not a connection never made (:func:`never_sent`)."""
    return not never_sent(exc) and _unavailable_saying(exc, _LOST)


@contextlib.contextmanager
def command(key: str | None = None) -> Iterator[CommandKeys]:
    """The keys of the command run in this block (``key`` given with
    ``--idempotency-key``, or a new one): the channels opened in it share them."""
    keys = CommandKeys(key)
    token = _CURRENT.set(keys)
    try:
        yield keys
    finally:
        _CURRENT.reset(token)


def command_keys() -> CommandKeys:
    """The running command's keys; outside a command (a program that opens a
    channel itself), the channel's own."""
    keys = _CURRENT.get(None)
    return keys if keys is not None else CommandKeys(remember=False)


def say_key(keys: CommandKeys, args: argparse.Namespace, *, interrupted: bool) -> None:
    """Say on standard error what :func:`stop_words` says, for a command that takes
    ``--idempotency-key`` (the words tell the user to give it)."""
    said = stop_words(keys, interrupted=interrupted)
    if said is not None and hasattr(args, "idempotency_key"):
        with contextlib.suppress(OSError):  # standard error gone with its reader
            print(said, file=sys.stderr)


def stop_words(keys: CommandKeys, *, interrupted: bool) -> str | None:
    """What a command stopped before its end (``interrupted`` by a Ctrl-C, or failed)
    says of its changes, None when it made none: one sent and not answered may be
    done; one done (its answer taken, then the command stopped before it printed or
    wrote it: atk48 F7) is answered again, not made again, with the same key."""
    stopped = "interrupted: " if interrupted else ""
    if keys.unsettled:
        names = ", ".join(sorted(set(keys.unsettled.values())))
        what = (
            f"interrupted: {names} was sent and not answered: it may be done"
            if interrupted
            else f"{names}: not known to be done"
        )
        return (
            f"{what}; to be sure it is done once, run the same command again with "
            f"--idempotency-key {keys.key}"
        )
    if keys.done:
        names = ", ".join(sorted(set(keys.done.values())))
        return (
            f"{stopped}{names} was done; to see its answer, run the same command "
            f"again with --idempotency-key {keys.key} (it is not done again)"
        )
    return None


def say_kept(keys: CommandKeys) -> None:
    """Say on standard error, after a command's answers, which of its changes an
    earlier call with the same key had made (a repeat with ``--idempotency-key``):
    done then, and this run changed nothing (trial50: a repeat printed what the
    change printed, and read as a second change)."""
    if keys.kept:
        names = ", ".join(sorted(set(keys.kept.values())))
        with contextlib.suppress(OSError):  # standard error gone with its reader
            print(
                f"{names} was already done by an earlier call with this idempotency "
                "key: this is that call's answer, and nothing was changed again",
                file=sys.stderr,
            )


def given_key(text: str) -> str:
    """An argparse ``type``: a key of :data:`MAX_GIVEN_LENGTH` printable ASCII
    characters at most (the rule of certseal.idempotency.check_key)."""
    if not text or len(text) > MAX_GIVEN_LENGTH:
        raise argparse.ArgumentTypeError(f"1 to {MAX_GIVEN_LENGTH} characters")
    try:
        return check_key(text)
    except CertsealError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def add_key_options(parser: argparse.ArgumentParser, commands: Collection[str]) -> None:
    """Give each of ``commands`` (``"licence issue"``: the words that name a command
    of ``parser``) the ``--idempotency-key`` option. Raises ValueError for a name that
    is no command (a list kept beside the commands must not drift from them)."""
    for command in commands:
        sub = chosen_parser(parser, command.split())
        if not sub.prog.endswith(f" {command}"):  # stopped short of a word
            raise ValueError(f"{command!r} is no certseal command")
        sub.add_argument("--idempotency-key", type=given_key, metavar="KEY", help=HELP)
