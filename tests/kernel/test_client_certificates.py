"""``certseal.tlsfiles.check_client_certificate`` against the real thing: for each
chain, a gRPC server requiring client certificates from the CA file is called with
it, and the start check must agree with that handshake (atk23 F3, atk23b H1-H3):
refuse what every handshake would refuse, never what one accepts."""

from __future__ import annotations

import base64
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID

from certseal.errors import CertsealError
from certseal.tlsfiles import check_client_certificate, read_tls_identity
from tests.certificates import (
    MANGLED_KEY_USAGES,
    below,
    der_pem,
    edi_party_name,
    issue,
    key_pem,
    name,
    new_key,
    pem,
    resigned,
    root,
    twice,
)

FIELDS = ("tls.ca_file", "issuer.cert_file", "issuer.key_file")


SERVER_KEY, SERVER_CA = root("server CA")


def handshake(ca: bytes, chain: bytes, key: bytes) -> bool:
    """Whether a gRPC server requiring client certificates from ``ca`` answers a
    client presenting ``chain`` (BoringSSL decides, as in production)."""
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = issue(
        name("server"), server_key, SERVER_CA.subject, SERVER_KEY
    ).public_bytes(serialization.Encoding.PEM)
    handler = grpc.method_handlers_generic_handler(
        "t.T",
        {"M": grpc.unary_unary_rpc_method_handler(lambda request, context: b"ok")},
    )
    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((handler,))
    credentials = grpc.ssl_server_credentials(
        [(key_pem(server_key), server_cert)],
        root_certificates=ca,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        client = grpc.ssl_channel_credentials(pem(SERVER_CA), key, chain)
        options = [("grpc.ssl_target_name_override", "server")]
        with grpc.secure_channel(f"127.0.0.1:{port}", client, options) as channel:
            call = channel.unary_unary("/t.T/M")
            try:
                return call(b"x", timeout=5) == b"ok"
            except grpc.RpcError:
                return False
    finally:
        server.stop(0)


def refusal(tmp_path: Path, ca: bytes, chain: bytes, key: bytes) -> str:
    """'' when the start check accepts, else its message."""
    paths = []
    for file, data in (("ca.pem", ca), ("chain.pem", chain), ("key.pem", key)):
        (tmp_path / file).write_bytes(data)
        paths.append(str(tmp_path / file))
    files = (paths[0], paths[1], paths[2])
    try:
        check_client_certificate(read_tls_identity(*files, FIELDS), files, FIELDS)
    except CertsealError as exc:
        assert exc.field == "issuer.cert_file"
        return exc.message
    return ""


def trusted(cert: x509.Certificate) -> bytes:
    """OpenSSL's TRUSTED CERTIFICATE form (the certificate, then trust settings)."""
    der = cert.public_bytes(serialization.Encoding.DER) + bytes.fromhex("3000")
    body = base64.encodebytes(der)
    return (
        b"-----BEGIN TRUSTED CERTIFICATE-----\n"
        + body
        + b"-----END TRUSTED CERTIFICATE-----\n"
    )


def cases() -> dict[str, tuple[bytes, bytes, bytes]]:
    rk, rc = root("Root")
    ik, ic = below("Inter", rc, rk, ca=True)
    lk, lc = below("client", ic, ik)
    i2k, i2c = below("Inter2", ic, ik, ca=True)
    l2k, l2c = below("client2", i2c, i2k)
    _, unrelated = root("Unrelated")
    r2k, r2c = root("Root2")
    cross = issue(rc.subject, rk, r2c.subject, r2k, ca=True)
    typed = name("Typed CA", _ASN1Type.UTF8String)
    tk = new_key()
    tc = issue(typed, tk, typed, tk, ca=True)
    nk = new_key()
    nc = issue(name("c"), nk, name("Typed CA", _ASN1Type.PrintableString), tk, ca=False)
    _, other = root("Other")
    ok, oc = below("client", other, _)
    sk, sc = below("client", rc, rk, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    ak, ac = below("client", rc, rk, eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])
    xk, xc = below("I", rc, rk, ca=True, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    xlk, xlc = below("client", xc, xk, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    no_sign = x509.KeyUsage(
        False, False, True, False, False, False, False, False, False
    )
    uk, uc = below("client", rc, rk, usage=no_sign)
    bk, bc = below("I", rc, rk, ca=None)
    blk, blc = below("client", bc, bk)
    ek, ec_ = below("I", rc, rk, ca=True, days=(9, -1))
    elk, elc = below("client", ec_, ek)
    dk, dc = below("client", rc, rk, kind="ed25519")
    gk, gc = root("Ed CA", kind="ed25519")
    glk, glc = below("client", gc, gk)
    qk, qc = root("RSA CA", kind="rsa")
    qlk, qlc = below("client", qc, qk, kind="p384", pss=True)
    dup = twice(lc, ik)
    # a subject alternative name holding an ediPartyName (RFC 5280 §4.2.1.6), which
    # cryptography does not model (atk25 F3)
    sank, sanc = below("client", rc, rk, extra=[edi_party_name()])
    dupk, dupi = below("I", rc, rk, ca=True)
    duplk, duplc = below("client", dupi, dupk)
    return {
        "an extension twice": (pem(rc), pem(dup, ic), key_pem(lk)),
        "an ediPartyName alternative name": (pem(rc), pem(sanc), key_pem(sank)),
        "an intermediate with an extension twice": (
            pem(rc),
            pem(duplc, twice(dupi, rk)),
            key_pem(duplk),
        ),
        "a leaf of the CA": (pem(rc), pem(lc, ic), key_pem(lk)),
        "an intermediate in the CA file": (pem(rc, ic), pem(lc), key_pem(lk)),
        "an unrelated certificate in the chain file": (
            pem(rc),
            pem(lc, ic, unrelated),
            key_pem(lk),
        ),
        "intermediates out of order": (pem(rc), pem(l2c, ic, i2c), key_pem(l2k)),
        "cross-signed CA last": (pem(rc), pem(lc, ic, cross), key_pem(lk)),
        "names equal but for the string type": (pem(tc), pem(nc), key_pem(nk)),
        "TRUSTED CERTIFICATE blocks": (trusted(rc), pem(lc, ic), key_pem(lk)),
        "an Ed25519 CA": (pem(gc), pem(glc), key_pem(glk)),
        "an RSA-PSS CA and a P-384 client": (pem(qc), pem(qlc), key_pem(qlk)),
        "another CA": (pem(rc), pem(oc), key_pem(ok)),
        "for TLS servers only": (pem(rc), pem(sc), key_pem(sk)),
        "anyExtendedKeyUsage alone": (pem(rc), pem(ac), key_pem(ak)),
        "an intermediate for TLS servers only": (pem(rc), pem(xlc, xc), key_pem(xlk)),
        "a key usage without digitalSignature": (pem(rc), pem(uc), key_pem(uk)),
        "an intermediate that is no CA": (pem(rc), pem(blc, bc), key_pem(blk)),
        "an intermediate expired": (pem(rc), pem(elc, ec_), key_pem(elk)),
        "an Ed25519 client key": (pem(rc), pem(dc), key_pem(dk)),
    }


CASES = cases()


#: the cases every handshake accepts; the others it refuses
ACCEPTED = {
    "a leaf of the CA",
    "an ediPartyName alternative name",
    "an intermediate in the CA file",
    "an unrelated certificate in the chain file",
    "intermediates out of order",
    "cross-signed CA last",
    "names equal but for the string type",
    "TRUSTED CERTIFICATE blocks",
    "an Ed25519 CA",
    "an RSA-PSS CA and a P-384 client",
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_start_check_agrees_with_the_handshake(tmp_path, case):
    ca, chain, key = CASES[case]
    accepted = handshake(ca, chain, key)
    assert accepted is (case in ACCEPTED)  # the oracle itself
    refused = refusal(tmp_path, ca, chain, key)
    if accepted:
        assert refused == "", refused
    else:
        assert refused.endswith(
            (
                "the service it calls would refuse it in every handshake",
                "one of the two settings is wrong, and no handshake with the "
                "service it calls succeeds",
            )
        ), refused


def test_a_chain_file_of_look_alikes_is_searched_within_a_bound(tmp_path):
    """Forty intermediates all named and issued "I", none reaching the CA: the path
    search gives up after MAX_TRIES issuers looked at, refusing."""
    _, rc = root("Root")
    keys = [new_key() for _ in range(40)]
    looks = [
        issue(name("I"), k, name("I"), keys[i - 1], ca=True) for i, k in enumerate(keys)
    ]
    lk, lc = below("client", looks[0], keys[0])
    refused = refusal(tmp_path, pem(rc), pem(lc, *looks), key_pem(lk))
    assert "is not issued by a CA of tls.ca_file" in refused


def test_a_certificate_with_an_extension_twice_is_said_so(tmp_path):
    """atk24b F6: cryptography's DuplicateExtension came out as a traceback."""
    refused = refusal(tmp_path, *CASES["an extension twice"])
    assert "has CN=client on its path, with an extension given twice or" in refused


def test_a_malformed_extension_beside_an_edi_party_name_is_named(tmp_path):
    """atk26 F5: read with asn1crypto (cryptography refuses the name), only the
    extension judged first was read before judging: a malformed extended key usage
    came out as asn1crypto's raw ValueError."""
    rk, rc = root("Root")
    bad_usage = x509.UnrecognizedExtension(
        x509.ExtensionOID.EXTENDED_KEY_USAGE, MANGLED_KEY_USAGES
    )
    lk, lc = below("client", rc, rk, extra=[edi_party_name(), bad_usage])
    refused = refusal(tmp_path, pem(rc), pem(lc), key_pem(lk))
    assert "has CN=client on its path, with an extension given twice or" in refused


def test_a_certificate_of_no_x509_version_is_named(tmp_path):
    """atk25 F2: cryptography's InvalidVersion (no ValueError) came out as a
    traceback from every command and service start."""
    rk, rc = root("Root")
    lk, lc = below("client", rc, rk)

    def version(tbs: Any) -> None:
        tbs["version"] = 5

    chain = der_pem(resigned(lc, rk, version))
    refused = refusal(tmp_path, pem(rc), chain, key_pem(lk))
    assert "a certificate of X.509 version number 5, which no TLS peer" in refused
    assert not handshake(pem(rc), chain, key_pem(lk))  # nor does gRPC take it
