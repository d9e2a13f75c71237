"""The idempotency keys of a command's changes (certseal/cli_keys.py), against a real
gRPC server: the command's first change carries its key, the n-th ``<key>-<n>``, a
read none; a change sent and not answered stays unsettled and is said with the key
that repeats it once. trial47 fixed this for ``licence issue`` alone; every command
that makes a change is covered now (the kind)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import inspect
import re

import grpc
import pytest

from certseal.cli_keys import (
    CommandKeys,
    add_key_options,
    command,
    command_keys,
    given_key,
    stop_words,
)
from certseal.idempotency import KEYED_METHODS, is_idempotent
from certseal.v1 import issuer_pb2 as pb
from services.cli import CHANGING, build_parser
from services.devstack import free_port
from tests.e2e.test_cli_commands import COMMANDS

REVOKE = "/certseal.v1.Issuer/RevokeLicence"
AMEND = "/certseal.v1.Issuer/AmendLicence"
GET = "/certseal.v1.Issuer/GetLicence"


class Server:
    """A real grpc.aio server whose methods answer as ``outcome[method]`` says
    (``"ok"``, a StatusCode, or ``"hold"``: until ``release``, then as
    ``after[method]`` says; a list: each call the next), noting each call's key."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str | None]] = []
        self.outcome: dict[str, object] = {}
        self.after: dict[str, object] = {}  # a held call's outcome once released
        self.held = asyncio.Event()  # a held call has arrived
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()  # each held call's key
        self.release = asyncio.Event()  # held calls are answered as they would be

    def _handler(self, method: str):
        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            key = dict(context.invocation_metadata() or ()).get("idempotency-key")
            self.keys.append((method.rpartition("/")[2], key))
            outcome = self.outcome.get(method, "ok")
            if isinstance(outcome, list):  # one outcome per call, in turn
                outcome = outcome.pop(0)
            if outcome == "hold":
                self.held.set()
                self.arrivals.put_nowait(key)
                await self.release.wait()
                outcome = self.after.get(method, "ok")
            if isinstance(outcome, grpc.StatusCode):
                await context.abort(outcome, "as the test says")
            return b""

        return grpc.unary_unary_rpc_method_handler(handle)

    async def __aenter__(self) -> grpc.aio.Channel:
        self.server = grpc.aio.server()
        handlers = {
            m.rpartition("/")[2]: self._handler(m) for m in (REVOKE, AMEND, GET)
        }
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("certseal.v1.Issuer", handlers),)
        )
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        self.keys_of = CommandKeys("counter-7")
        self.channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=[self.keys_of]
        )
        return self.channel

    async def __aexit__(self, *exc) -> None:
        await self.channel.close()
        await self.server.stop(None)


def _call(channel: grpc.aio.Channel, method: str, request=None):
    stub = channel.unary_unary(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    return stub(request if request is not None else pb.RevokeLicenceRequest())


async def test_changes_carry_the_commands_key_in_order_and_reads_none():
    server = Server()
    async with server as channel:
        await _call(channel, GET, pb.GetLicenceRequest())
        await _call(channel, REVOKE)
        await _call(channel, GET, pb.GetLicenceRequest())
        await _call(channel, AMEND, pb.AmendLicenceRequest())
        own = pb.AmendLicenceRequest(idempotency_key="field-key")
        await _call(channel, AMEND, own)
        assert not server.keys_of.unsettled
    assert server.keys == [
        ("GetLicence", None),
        ("RevokeLicence", "counter-7"),
        ("GetLicence", None),
        ("AmendLicence", "counter-7-2"),
        ("AmendLicence", "field-key"),  # a key the request carries is its own
    ]


async def test_a_change_cut_before_its_answer_stays_unsettled_and_is_said():
    server = Server()
    server.outcome[REVOKE] = "hold"
    async with server as channel:
        call = asyncio.ensure_future(_call(channel, REVOKE))
        await server.held.wait()
        call.cancel()  # what asyncio.run does to the command on a Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await call
        keys = server.keys_of
        assert keys.unsettled == {"counter-7": "RevokeLicence"}
    assert stop_words(keys, interrupted=True) == (
        "interrupted: RevokeLicence was sent and not answered: it may be done; to be "
        "sure it is done once, run the same command again with --idempotency-key "
        "counter-7"
    )
    assert stop_words(keys, interrupted=False).startswith(
        "RevokeLicence: not known to be done; to be sure"
    )


@pytest.mark.parametrize(
    ("code", "settled"),
    [
        (grpc.StatusCode.FAILED_PRECONDITION, True),  # refused: nothing was done
        (grpc.StatusCode.INVALID_ARGUMENT, True),
        (grpc.StatusCode.UNAVAILABLE, False),  # the service asks for a retry
        (grpc.StatusCode.ABORTED, False),
        (grpc.StatusCode.DEADLINE_EXCEEDED, False),
    ],
)
async def test_an_answer_settles_a_change_unless_it_leaves_it_unknown(code, settled):
    server = Server()
    server.outcome[REVOKE] = code
    async with server as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _call(channel, REVOKE)
        assert err.value.code() is code  # the command still gets the error
        assert (not server.keys_of.unsettled) is settled
    assert (stop_words(server.keys_of, interrupted=False) is None) is settled


async def test_a_change_done_before_the_command_stopped_is_said_as_done():
    """atk48 F7: the answer taken, then a Ctrl-C (or a failure) before the command
    printed or wrote it: the change is done, and the same key gets its answer."""
    server = Server()
    async with server as channel:
        await _call(channel, GET, pb.GetLicenceRequest())
        assert stop_words(server.keys_of, interrupted=True) is None  # a read
        await _call(channel, REVOKE)
    keys = server.keys_of
    assert keys.done == {"counter-7": "RevokeLicence"} and not keys.unsettled
    assert stop_words(keys, interrupted=True) == (
        "interrupted: RevokeLicence was done; to see its answer, run the same "
        "command again with --idempotency-key counter-7 (it is not done again)"
    )
    assert stop_words(keys, interrupted=False).startswith("RevokeLicence was done;")


async def test_a_change_never_sent_is_settled():
    """Nobody listening: gRPC says it could not connect, so nothing was sent, and
    the command's error ("is certseal running?") says no more."""
    keys = CommandKeys()
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{free_port()}", interceptors=[keys]
    ) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _call(channel, REVOKE)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
    assert not keys.unsettled


def test_every_command_has_its_own_keys_and_its_channels_share_them():
    with command() as first:
        assert command_keys() is first is command_keys()
        with command("given-1") as second:
            assert command_keys() is second
        assert command_keys() is first
    assert second.key == "given-1" and first.key != second.key
    assert first.key.startswith("cli-") and len(first.key) == 36
    # outside a command, a channel's own keys, which keep no record of what was done
    assert command_keys() is not command_keys()
    assert not command_keys()._remember


def test_the_keyed_methods_are_the_ones_the_services_honour_keys_for():
    """certseal.idempotency.KEYED_METHODS against every servicer's @idempotent
    marks, by full method name (a mutation adopted without it is not keyed)."""
    from services.feed.servicer import EventFeedAdminServicer, EventFeedServicer
    from services.issuer.admin_servicer import IssuerAdminServicer
    from services.issuer.servicer import (
        IssuerServicer,
        LicenceHolderServicer,
        RedemptionServicer,
    )
    from services.seal.servicer import SealServicer
    from services.tlog.servicer import TransparencyLogServicer
    from services.verifier.servicer import VerifierServicer

    marked = set()
    for servicer in (
        IssuerServicer,
        LicenceHolderServicer,
        RedemptionServicer,
        IssuerAdminServicer,
        EventFeedServicer,
        EventFeedAdminServicer,
        SealServicer,
        VerifierServicer,
        TransparencyLogServicer,
    ):
        service = servicer.__mro__[1].__name__.removesuffix("Servicer")
        for name, method in inspect.getmembers(servicer, inspect.isfunction):
            if is_idempotent(method):
                marked.add(f"/certseal.v1.{service}/{name}")
    assert marked == KEYED_METHODS


def _command_of(parser: argparse.ArgumentParser, line: str) -> str:
    """The subcommand words of a command line (``licence issue``)."""
    words = []
    for token in line.split():
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            break
        if token in subs[0].choices:
            words.append(token)
            parser = subs[0].choices[token]
    return " ".join(words)


def test_the_commands_that_make_keyed_changes_take_the_key():
    """Every command that calls a keyed method (tests/e2e/test_cli_commands.py's
    map of RPC -> command) is in CHANGING, and no other is: a command left out
    would be stopped without saying its key; one listed for nothing would take an
    option that does nothing."""
    parser = build_parser()
    keyed = {
        _command_of(parser, line)
        for rpc, line in COMMANDS.items()
        if f"/certseal.v1.{rpc.replace('.', '/')}" in KEYED_METHODS
    }
    assert set(CHANGING) == keyed
    for line in COMMANDS.values():
        args = parser.parse_args(
            [*line.split(), "--idempotency-key", "k"]
            if _command_of(parser, line) in keyed
            else line.split()
        )
        assert hasattr(args, "idempotency_key") is (_command_of(parser, line) in keyed)


def test_a_name_that_is_no_command_is_refused():
    with pytest.raises(ValueError, match="'licence revok' is no certseal command"):
        add_key_options(build_parser(), ["licence revok"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "1 to 120 characters"),
        ("k" * 121, "1 to 120 characters"),
        ("with space", "printable ASCII without spaces only"),
        ("钥匙", "printable ASCII without spaces only"),
    ],
)
def test_a_key_the_service_would_refuse_is_refused_first(text, problem):
    with pytest.raises(argparse.ArgumentTypeError, match=problem):
        given_key(text)
    assert given_key("k" * 120) == "k" * 120


def test_the_help_says_what_a_key_may_hold_and_for_how_long():
    """The help of --idempotency-key names what the parser refuses (a space is
    printable ASCII, and refused) and that a repeat finds the change only while the
    service keeps the key (atk48 F3: "run again with the same key, the change is made
    once" held for 72 hours by default, not for ever)."""
    from certseal.cli_keys import HELP

    with pytest.raises(argparse.ArgumentTypeError):
        given_key("a b")
    assert "no spaces" in HELP
    assert "retention_hours" in HELP


async def test_a_key_the_caller_put_in_the_metadata_is_sent_as_it_is():
    """A program that opens a channel with certseal.calls.channel and keys its own
    change in the call's metadata retries it with that key: it is sent as it is, as
    the channel's keys did before f93fbbef (atk48 F6: replaced by the channel's next
    key, each of the program's own retries was a new change)."""
    server = Server()
    async with server as channel:
        stub = channel.unary_unary(
            REVOKE,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda b: b,
        )
        for _ in range(2):  # the program's first try, and its retry
            await stub(
                pb.RevokeLicenceRequest(), metadata=(("idempotency-key", "mine"),)
            )
    assert server.keys == [("RevokeLicence", "mine")] * 2


def _stub(channel: grpc.aio.Channel, method: str):
    return channel.unary_unary(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )


async def test_a_key_the_caller_put_in_the_metadata_as_bytes_is_sent_as_it_is():
    """gRPC sends a text header's value given as bytes as that text: the server takes
    it as the program's key. The channel's keys replaced it with their next key, so
    each of the program's own retries of one change was keyed anew and made again
    (atk48 F6, for a key given as bytes)."""
    server = Server()
    async with server as channel:
        for _ in range(2):  # the program's first try, and its retry
            await _stub(channel, REVOKE)(
                pb.RevokeLicenceRequest(), metadata=(("idempotency-key", b"mine"),)
            )
    assert server.keys == [("RevokeLicence", "mine")] * 2


async def test_a_field_key_and_another_metadata_key_reach_the_service_as_given():
    """Both given and different is INVALID_ARGUMENT (docs/operations.md, "Sending a
    key"): the channel's keys dropped the program's metadata key and sent the field's,
    so a program's inconsistent keys were taken instead of refused."""
    from certseal.errors import CertsealError
    from certseal.idempotency import claim_for

    server = Server()
    request = pb.AmendLicenceRequest(idempotency_key="field-key")
    async with server as channel:
        await _stub(channel, AMEND)(request, metadata=(("idempotency-key", "meta"),))
    assert server.keys == [("AmendLicence", "meta")]
    with pytest.raises(CertsealError, match="differs from the idempotency-key"):
        claim_for("dept:x", AMEND, request, "meta")  # what the service does with it


@pytest.mark.parametrize(
    ("outcome", "done"),
    [("ok", {"mine": "RevokeLicence"}), (grpc.StatusCode.FAILED_PRECONDITION, {})],
)
async def test_two_calls_of_one_key_at_once_both_get_their_answers(outcome, done):
    """Two requests with one key at once are the service's to order (the second
    answers as a retry: docs/operations.md); the channel's keys raised KeyError to
    the second caller instead of its answer, the change done or refused."""
    server = Server()
    server.outcome[REVOKE] = "hold"
    server.after[REVOKE] = outcome
    mine = (("idempotency-key", "mine"),)
    async with server as channel:
        calls = [
            asyncio.ensure_future(
                _stub(channel, REVOKE)(pb.RevokeLicenceRequest(), metadata=mine)
            )
            for _ in range(2)
        ]
        for _ in calls:
            await server.arrivals.get()
        server.release.set()
        answers = await asyncio.gather(*calls, return_exceptions=True)
    expected = grpc.aio.AioRpcError if done == {} else bytes
    assert [type(a) for a in answers] == [type(a) for a in answers[:1]] * 2
    assert all(isinstance(a, expected) for a in answers), answers
    keys = server.keys_of
    assert keys.done == done and not keys.unsettled


async def test_a_call_of_a_key_still_sent_keeps_it_unsettled():
    """One call of a key refused while another of the same key is still unanswered:
    a Ctrl-C then says the key (the refusal settled the key while its other call
    was in flight, and the command stopped without a word)."""
    server = Server()
    server.outcome[REVOKE] = ["hold", grpc.StatusCode.FAILED_PRECONDITION]
    mine = (("idempotency-key", "mine"),)
    async with server as channel:
        stub = _stub(channel, REVOKE)
        held = asyncio.ensure_future(stub(pb.RevokeLicenceRequest(), metadata=mine))
        await server.arrivals.get()
        with pytest.raises(grpc.aio.AioRpcError):
            await stub(pb.RevokeLicenceRequest(), metadata=mine)
        held.cancel()  # the Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await held
        assert server.keys_of.unsettled == {"mine": "RevokeLicence"}


@pytest.mark.parametrize(
    "failure",
    [
        BrokenPipeError(errno.EPIPE, "Broken pipe"),  # its reader went away
        OSError(errno.ENOSPC, "No space left on device", "notes.txt"),
        OSError(errno.EIO, "Input/output error"),
    ],
    ids=["reader-gone", "named-file", "other"],
)
def test_a_change_done_before_the_system_failed_the_command_is_said(capsys, failure):
    """atk48 F7 says a change whose answer came before the command stopped (a
    Ctrl-C, an error) with its key; a command whose output then failed (its reader
    gone, a file it could not write) exited 141 or 2 without a word, and the user's
    second try made the change again."""
    from certseal import cli as kernel_cli

    def change(_args):
        keys = command_keys()
        keys.done[keys.key] = "RevokeLicence"  # as its interceptor notes an answer
        raise failure

    def group(sub):
        sub.add_parser("revoke").set_defaults(func=change)

    parser = kernel_cli.build_parser("t", lambda paths: None, [group])
    add_key_options(parser, ["revoke"])
    kernel_cli.run_command(parser, ["revoke", "--idempotency-key", "k-1"])
    assert capsys.readouterr().err.endswith(
        "RevokeLicence was done; to see its answer, run the same command again with "
        "--idempotency-key k-1 (it is not done again)\n"
    )


def test_the_published_table_of_keyed_rpcs_is_the_keyed_methods():
    """docs/operations.md, "Retries and idempotency keys", is the contract for
    clients: its table of mutating RPCs is what the CLI keys (and retries itself)."""
    from pathlib import Path

    text = Path(__file__).parents[2].joinpath("docs/operations.md").read_text()
    table = text.split("| service | mutating RPCs |", 1)[1].split("\n\n", 1)[0]
    listed = {
        f"/{service}/{method.strip()}"
        for service, methods in re.findall(
            r"^\| `(certseal\.v1\.\w+)` \| (.+) \|$", table, re.M
        )
        for method in methods.split(",")
    }
    assert listed == KEYED_METHODS
