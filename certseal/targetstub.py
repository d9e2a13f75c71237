"""A service's stub of another service: its client identity checked at start, its
target read at each call (:class:`TargetStub`; the channel: :mod:`certseal.rpc`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import grpc

from certseal.errors import invalid
from certseal.files import certificate_common_name
from certseal.rpc import identity_channel
from certseal.tlsfiles import check_client_certificate, read_tls_identity

StubT = TypeVar("StubT")


class TargetStub(Generic[StubT]):
    """A gRPC stub for the service at ``target()`` (a setting read on each call, so
    a test or an operator may move it), over an mTLS channel presenting one client
    identity. The identity is read and checked when this is made, at the service's
    start (:func:`~certseal.tlsfiles.read_tls_identity`, ``fields`` naming its three
    settings: gRPC alone would fail every call later, "is it running?"), as the
    callee's handshake would check it
    (:func:`~certseal.tlsfiles.check_client_certificate`), and so is
    its certificate's common name, which must be ``presents``: the one identity the
    callee authorises for what this client asks (another service's certificate
    would be refused at every call, or act with that service's rights). The channel
    is made from those bytes on first use and again when the target changed.
    Calling it gives the stub.

    Raises CertsealError(INVALID_ARGUMENT) naming the setting of the file at fault
    (``fields``), the certificate's when it names another identity."""

    def __init__(
        self,
        stub_type: Callable[[grpc.aio.Channel], StubT],
        target: Callable[[], str],
        files: tuple[str, str, str],
        fields: tuple[str, str, str],
        *,
        presents: str,
    ):
        self._stub_type = stub_type
        self._target_of = target
        self._identity = read_tls_identity(*files, fields)
        check_client_certificate(self._identity, files, fields)
        if (name := certificate_common_name(files[1], fields[1])) != presents:
            raise invalid(
                fields[1],
                f"{files[1]} names {name!r}; give the certificate of {presents}, "
                "the identity the service it calls authorises",
            )
        self._stub: StubT | None = None
        self._target = ""

    def __call__(self) -> StubT:
        target = self._target_of()
        if self._stub is None or self._target != target:
            self._target = target
            self._stub = self._stub_type(identity_channel(target, self._identity))
        return self._stub
