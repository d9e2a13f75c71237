"""atk11b: the refusal diagnoses of scanned code text (certseal.scanned: the second
code, the characters after a code, NFKC) attacked from outside, after the atk11 fixes.

Findings, each fixed and tested here:

- a real code whose own Base45 happens to hold ``LC1:`` or ``PC1:`` (about one code in
  several thousand: 4 characters of a 45-letter alphabet, at any of a few hundred
  places) is told "a second code starts at character N: two codes were read as one"
  when it is cut short or misread, which is not what happened;
- the diagnosis inflates the zlib stream again for each candidate end: a refused text
  within what a QR code holds makes the kernel produce about 6 times the inflate bound
  (64 KiB), and one within INLINE_CODE_CHARS (1,024) does so on the verifier's event
  loop. Measured as bytes zlib produced, not as time;
- NFKC "one distinct character at a time" (``_ascii_form``) still takes a Python step
  for every non-ASCII character: a text of 8,188 full-width characters costs ~4 ms of
  thread time under load where whole-text NFKC on e4d88e4 took 0.2-0.4 ms (the worst
  case went down, from U+FDFA's 10.8 ms, but every full-width text went up). Measured
  as the NFKC calls made, not as time.

Pure: no database or broker.
"""

from __future__ import annotations

import zlib

import base45
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from certseal import codes, scanned
from certseal.bounds import MAX_CODE_MESSAGE_BYTES
from certseal.crypto import SoftwareSigner, Suite

# a fixed key, so that the code below is the same on every run (Ed25519 signatures are
# deterministic): nonce 2769 is the first whose code's Base45 holds "PC1:"
_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SIGNER = SoftwareSigner(
    Suite.ED25519,
    _KEY.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ),
    _KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ),
)
NONCE = 2769


async def _code_with_a_prefix_inside() -> str:
    code = await codes.encode_code(
        "LC1:", {1: "issuer", 4: 2_000_000_000, 7: NONCE.to_bytes(8, "big")}, SIGNER
    )
    assert codes.decode_code(code).claims[7] == NONCE.to_bytes(8, "big")
    assert code.find("PC1:", 4) == 82, code  # its own Base45, not a second code
    return code


@pytest.mark.parametrize("cut", [3, 30, 60])
async def test_atk11b_a_cut_code_whose_base45_holds_a_prefix_is_not_two_codes(cut):
    """One code, scanned once and cut short: nothing was read twice."""
    code = await _code_with_a_prefix_inside()
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(code[:-cut])
    message = str(err.value)
    assert "second code" not in message and "two codes" not in message, message


async def test_atk11b_a_misread_code_whose_base45_holds_a_prefix_is_not_two_codes():
    """One character misread (a damaged module): still one code."""
    code = await _code_with_a_prefix_inside()
    misread = code[:20] + ("0" if code[20] != "0" else "1") + code[21:]
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(misread)
    assert "two codes" not in str(err.value), str(err.value)


def _bomb(chars: int) -> str:
    """``chars`` characters of a code whose zlib stream inflates far past 64 KiB."""
    body = base45.b45encode(zlib.compress(b"\0" * 10_000_000, 9)).decode()
    return ("LC1:" + body)[:chars]


@pytest.mark.parametrize("chars", [1_024, 4_300])
def test_atk11b_a_refused_text_is_inflated_at_most_twice_over(monkeypatch, chars):
    """What zlib produces for one refused text: the refusal's own inflate (at most
    MAX_CODE_MESSAGE_BYTES) and at most one more for its diagnosis. 1,024: the
    verifier decodes a text up to INLINE_CODE_CHARS on its event loop; 4,300: the
    longest text the diagnosis runs on (4,296 after the prefix)."""
    produced = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args):
            self._inner = real(*args)

        def decompress(self, data, max_length=0):
            out = self._inner.decompress(data, max_length)
            produced.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(codes.zlib, "decompressobj", Counting)
    text = _bomb(chars)
    with pytest.raises(codes.MalformedCode) as err:
        codes.decode_code(text)
    assert "more than 64 KiB" in str(err.value)
    assert sum(produced) <= 2 * MAX_CODE_MESSAGE_BYTES, produced


@pytest.mark.parametrize("char", ["\uff10", "\U0001d7ce"], ids=["full-width", "math"])
def test_atk11b_nfkc_work_follows_the_distinct_characters(monkeypatch, char):
    """A text of one non-ASCII character repeated to the text bound: NFKC per distinct
    character means work per distinct character, not per character (measured with
    thread_time under load, best of 5: 'LC1:' + 8,188 x U+FF10 took 3.75 ms with a
    Python step per character, 0.41 ms with whole-text NFKC on e4d88e4). Counted as
    the NFKC calls made."""
    calls = []
    real = scanned.unicodedata.normalize

    def counting(form: str, text: str) -> str:
        calls.append(text)
        return real(form, text)

    monkeypatch.setattr(scanned.unicodedata, "normalize", counting)
    with pytest.raises(codes.MalformedCode):
        codes.decode_code("LC1:" + char * 8_188)
    assert len(calls) <= 2, len(calls)
