"""SM2 signing with GmSSL's own signing context, for a key that signs many times.

``gmssl_pyx.sm2_sign_sm3_digest`` rebuilds the key from its 32 private bytes on every
call (a scalar multiplication for the public point and a modular inversion of
``1 + d``), signs with ``sm2_do_sign`` and returns DER, which the caller then parses
back into ``r || s``. That is about 215 µs of CPU per signature here.

GmSSL's streaming API (``sm2_sign_init`` / ``_reset`` / ``_update`` / ``_finish``,
the one GmSSL's own ``gmssl`` tool and its Python binding use) keeps that work in an
``SM2_SIGN_CTX``: the signer's Z_A (GB/T 32918.2 with the default identity,
GB/T 35276), ``(1 + d)^-1`` computed once, and 32 precomputed ``(k, x1 = [k]G)`` pairs
made together with one inversion (Montgomery's trick), each used for exactly one
signature (the context counts them down and makes 32 fresh ones when they run out).
A signature then costs about 70 µs. The signatures are ordinary SM2 signatures over
SM3(Z_A || message) (GB/T 32918.2): the same verifiers check them.

The context is reached through ``ctypes`` in the very library ``gmssl_pyx`` ships (it
exports GmSSL's symbols); :func:`available` says whether it does. The functions are
loaded with :class:`ctypes.PyDLL`, so every call holds the GIL; a lock keeps one
signature's reset, update and finish together across threads, and a context made
before ``fork()`` is remade in the child, so no precomputed ``k`` is ever used twice.
A context is checked when made: its public point must be the key's, and a probe
signature must verify with ``gmssl_pyx``'s own verification.

Making a context costs about 2.3 ms (the 32 pairs), so it pays only for a key kept
for many signatures (the issuer's cached department keys, the seal service's
cached seal keys and seal makers), not for one made per call.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading

import gmssl_pyx

#: GB/T 35276's default signer identity (the one :func:`certseal.crypto.sm2_z` uses)
DEFAULT_ID = b"1234567812345678"

# Generous upper bounds of GmSSL 3.1's SM2_KEY (128 bytes) and SM2_SIGN_CTX (about
# 2.5 KB): the buffers are opaque to us and only passed by pointer.
_KEY_BYTES = 512
_CTX_BYTES = 16384
_MAX_DER_SIGNATURE = 72
_SYMBOLS = (
    "sm2_z256_from_bytes",
    "sm2_z256_point_to_bytes",
    "sm2_key_set_private_key",
    "sm2_sign_init",
    "sm2_sign_reset",
    "sm2_sign_update",
    "sm2_sign_finish",
)


def _load() -> ctypes.PyDLL | None:
    try:
        lib = ctypes.PyDLL(gmssl_pyx.gmsslext.__file__)
        for name in _SYMBOLS:
            getattr(lib, name)
    except (OSError, AttributeError):
        return None
    p, size = ctypes.c_void_p, ctypes.c_size_t
    lib.sm2_z256_from_bytes.argtypes = [p, ctypes.c_char_p]
    lib.sm2_z256_from_bytes.restype = None
    lib.sm2_z256_point_to_bytes.argtypes = [p, p]
    lib.sm2_z256_point_to_bytes.restype = None
    lib.sm2_key_set_private_key.argtypes = [p, p]
    lib.sm2_sign_init.argtypes = [p, p, ctypes.c_char_p, size]
    lib.sm2_sign_reset.argtypes = [p]
    lib.sm2_sign_update.argtypes = [p, ctypes.c_char_p, size]
    lib.sm2_sign_finish.argtypes = [p, p, ctypes.POINTER(size)]
    for name in ("sm2_key_set_private_key", "sm2_sign_init", "sm2_sign_reset"):
        getattr(lib, name).restype = ctypes.c_int
    lib.sm2_sign_update.restype = ctypes.c_int
    lib.sm2_sign_finish.restype = ctypes.c_int
    return lib


_LIB = _load()


def available() -> bool:
    """Whether the installed ``gmssl_pyx`` exposes GmSSL's signing context."""
    return _LIB is not None


class Sm2SignContext:
    """GmSSL's ``SM2_SIGN_CTX`` for one key; :meth:`sign` gives DER signatures.

    Raises ValueError when the private key is not one GmSSL accepts, when its public
    point is not ``public64`` (the 64-byte ``x || y``), or when the probe signature
    does not verify; RuntimeError when :func:`available` is False.
    """

    __slots__ = ("_ctx", "_der", "_der_len", "_lock", "_pid", "_private", "_public")

    def __init__(self, private_key: bytes, public64: bytes):
        if _LIB is None:
            raise RuntimeError("gmssl_pyx does not expose GmSSL's SM2 signing context")
        if len(private_key) != 32 or len(public64) != 64:
            raise ValueError("an SM2 private key has 32 bytes and its point 64")
        self._private = private_key
        self._public = public64
        self._lock = threading.Lock()
        self._der = ctypes.create_string_buffer(_MAX_DER_SIGNATURE)
        self._der_len = ctypes.c_size_t()
        self._ctx = ctypes.create_string_buffer(_CTX_BYTES)
        self._pid = 0
        self._init()
        probe = b"certseal sm2 signing context check"
        if not gmssl_pyx.sm2_verify(public64, probe, self.sign(probe), DEFAULT_ID):
            raise ValueError(
                "the SM2 signing context's probe signature does not verify"
            )

    def _init(self) -> None:
        assert _LIB is not None
        key = ctypes.create_string_buffer(_KEY_BYTES)
        scalar = (ctypes.c_uint64 * 4)()
        point = ctypes.create_string_buffer(64)
        try:
            _LIB.sm2_z256_from_bytes(scalar, self._private)
            if _LIB.sm2_key_set_private_key(key, scalar) != 1:
                raise ValueError("not a valid SM2 private key")
            _LIB.sm2_z256_point_to_bytes(key, point)  # SM2_KEY starts with its point
            if point.raw != self._public:
                raise ValueError("the SM2 private key does not match its public key")
            if _LIB.sm2_sign_init(self._ctx, key, DEFAULT_ID, len(DEFAULT_ID)) != 1:
                raise ValueError("GmSSL refused to make an SM2 signing context")
        finally:
            ctypes.memset(key, 0, _KEY_BYTES)
            ctypes.memset(scalar, 0, ctypes.sizeof(scalar))
        self._pid = os.getpid()

    def sign(self, data: bytes) -> bytes:
        """The DER SM2 signature (SEQUENCE of r, s) of SM3(Z_A || ``data``)."""
        assert _LIB is not None
        with self._lock:
            if self._pid != os.getpid():
                # a fork copied the precomputed k values: never use them in two
                # processes
                self._init()
            ctx = self._ctx
            if (
                _LIB.sm2_sign_reset(ctx) != 1
                or _LIB.sm2_sign_update(ctx, data, len(data)) != 1
                or _LIB.sm2_sign_finish(ctx, self._der, ctypes.byref(self._der_len))
                != 1
            ):
                raise ValueError("GmSSL could not sign")
            return self._der.raw[: self._der_len.value]

    def __del__(self) -> None:
        # the precomputed k values and the key leave memory with the context (at
        # interpreter exit ctypes may already be gone: nothing to do then)
        ctx = getattr(self, "_ctx", None)
        if ctx is not None:
            with contextlib.suppress(Exception):
                ctypes.memset(ctx, 0, _CTX_BYTES)

    def __repr__(self) -> str:
        return "Sm2SignContext(<key>)"
