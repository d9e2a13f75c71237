"""atk15b: the seal service's CA and trust files as other tools write them.

fix15 takes an SM2 seal CA key in PKCS#8 or SEC 1, PEM or DER
(services/seal/certificates.py ``_sm2_private_scalar``), but reads only the first
PEM block of the file (``asn1crypto.pem.unarmor``). ``openssl ecparam -name SM2
-genkey``, the command that makes an EC key, writes the curve's parameters first:
OpenSSL 3 an ``SM2 PARAMETERS`` block and then the key in PKCS#8, OpenSSL 1.1.1 and
GmSSL 2 an ``EC PARAMETERS`` block and then ``EC PRIVATE KEY``. Both are refused as
"holds no EC P-256 or SM2 private key (no SEC 1 or PKCS#8 EC private key)", while
the P-256 key the same command writes (``EC PARAMETERS`` first) is taken: for P-256,
cryptography finds the key block itself.

The [tls] files, the TSA's files, [kafka]'s and the DSN file may start with a UTF-8
byte order mark (a Windows editor's; certseal.tlsfiles.BOM is dropped). The seal CA's
certificate (either CA) and the SM2 CA's key may not: "holds no X.509 certificate
(pem_bytes does not appear to contain PEM-encoded data - no BEGIN/END combination
found)". Worse, ``seal.trusted_ca_files`` and ``seal.tsa_trusted_ca_files``
(services/seal/trust.py ``load_trust_files``) take a bundle that starts with one and
silently drop its first certificate: asn1crypto skips the marked BEGIN line as text
outside any block, so that root is no longer trusted and nothing says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem

from certseal.errors import CertsealError
from services.seal.certificates import SM2_CURVE_OID, SealCa
from services.seal.trust import load_trust_files

BOM = b"\xef\xbb\xbf"
SM2_FIELDS = ("seal.sm2_ca_cert_file", "seal.sm2_ca_key_file")


def sm2_parameters(label: str) -> bytes:
    """The named-curve parameters block ``openssl ecparam -name SM2`` writes."""
    named = asn1_keys.ECDomainParameters(name="named", value=SM2_CURVE_OID)
    return asn1_pem.armor(label, named.dump())


def sm2_key_as_ecparam_writes_it(config, tool: str) -> bytes:
    """The dev SM2 CA's key as ``openssl ecparam -name SM2 -genkey`` writes one:
    OpenSSL 3 (SM2 PARAMETERS, then PKCS#8), OpenSSL 1.1.1 / GmSSL 2 (EC PARAMETERS,
    then SEC 1)."""
    sec1 = Path(config.seal.sm2_ca_key_file).read_bytes()
    if tool == "openssl-1.1.1":
        return sm2_parameters("EC PARAMETERS") + sec1
    _, _, body = asn1_pem.unarmor(sec1)
    private = asn1_keys.ECPrivateKey.load(body)
    info = asn1_keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": {
                "algorithm": "ec",
                "parameters": private["parameters"],
            },
            "private_key": private,
        }
    )
    return sm2_parameters("SM2 PARAMETERS") + asn1_pem.armor("PRIVATE KEY", info.dump())


@pytest.mark.parametrize("tool", ["openssl-3", "openssl-1.1.1"])
def test_an_sm2_ca_key_as_openssl_ecparam_writes_it_is_taken(config, tmp_path, tool):
    assert config.seal.sm2_ca_cert_file
    key_file = tmp_path / "sm2-ca.key"
    key_file.write_bytes(sm2_key_as_ecparam_writes_it(config, tool))
    ca = SealCa.from_files(config.seal.sm2_ca_cert_file, str(key_file), SM2_FIELDS)
    own = SealCa.from_files(
        config.seal.sm2_ca_cert_file, config.seal.sm2_ca_key_file, SM2_FIELDS
    )
    assert ca.cert == own.cert


def marked(path: str, tmp_path) -> str:
    copy = tmp_path / f"bom-{Path(path).name}"
    copy.write_bytes(BOM + Path(path).read_bytes())
    return str(copy)


@pytest.mark.parametrize(
    "ca,which",
    [("p256", "cert"), ("sm2", "cert"), ("sm2", "key"), ("p256", "cert-and-more")],
)
def test_seal_ca_files_with_a_byte_order_mark_are_taken(config, tmp_path, ca, which):
    """``cert-and-more``: the CA's certificate and another after it (its issuer's,
    say): the marked first block is skipped, the second is taken as the CA's, and
    ``seal.ca_key_file`` is blamed ("is not the key of the certificate")."""
    cert_file, key_file = (
        (config.seal.ca_cert_file, config.seal.ca_key_file)
        if ca == "p256"
        else (config.seal.sm2_ca_cert_file, config.seal.sm2_ca_key_file)
    )
    fields = ("seal.ca_cert_file", "seal.ca_key_file") if ca == "p256" else SM2_FIELDS
    own = SealCa.from_files(cert_file, key_file, fields)
    if which == "cert":
        cert_file = marked(cert_file, tmp_path)
    elif which == "key":
        key_file = marked(key_file, tmp_path)
    else:
        more = tmp_path / "ca-and-more.pem"
        more.write_bytes(
            BOM
            + Path(cert_file).read_bytes()
            + Path(config.seal.sm2_ca_cert_file).read_bytes()
        )
        try:
            taken = SealCa.from_files(str(more), key_file, fields)
        except CertsealError as exc:  # refused: then for the certificate's file
            assert exc.field == fields[0], exc
            return
        assert taken.cert == own.cert
        return
    assert SealCa.from_files(cert_file, key_file, fields).cert == own.cert


@pytest.mark.parametrize(
    "field", ["seal.trusted_ca_files", "seal.tsa_trusted_ca_files"]
)
def test_a_trust_bundle_with_a_byte_order_mark_loses_no_certificate(
    config, tmp_path, field
):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        BOM
        + Path(config.seal.sm2_ca_cert_file).read_bytes()
        + Path(config.seal.ca_cert_file).read_bytes()
    )
    try:
        found = load_trust_files([str(bundle)], field)
    except CertsealError as exc:  # refused, naming the setting: not silent
        assert exc.field == field
        return
    assert len(found) == 2  # both roots, or the first is no longer trusted
