"""atk15 F5 before/after: VerifyPdf's reader (``read_pdf_seals``) on a PDF whose
signature ``/Contents`` carries a 200,000-byte tag number, and ``check_token`` on a
62 KB time-stamp token of the same kind. Run from a checkout's root (its code is
measured): ``.venv/bin/python bench/long_tag_bench.py``."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, ".")

from services.seal.pdf_verify import read_pdf_seals
from services.seal.timestamp import TokenError, check_token
from services.seal.trust import TrustStore
from tests.seal.test_atk15_pdf import (
    cms_with_long_tag,
    pdf_with_signature_contents,
)

CA = Path("tests/seal/data/ofdrw/ofdrw_ROOT.cer")


def main() -> None:
    pdf = pdf_with_signature_contents(cms_with_long_tag(200_000))
    started = time.monotonic()
    try:
        asyncio.run(read_pdf_seals(pdf, ca=CA.read_bytes()))
    except Exception as exc:
        print(f"pdf: {str(exc)[:100]}")
    print(f"pdf, 200,000-byte tag: {time.monotonic() - started:.3f} s")
    tag = b"\x1f" + b"\x81" * 62_000 + b"\x01\x00"
    token = b"\x30\x83" + len(tag).to_bytes(3, "big") + tag
    started = time.monotonic()
    try:
        check_token(token, stamped=b"x", trust=TrustStore())
    except TokenError as exc:
        print(f"token: {exc.detail[:100]}")
    print(f"token, 62,000-byte tag: {time.monotonic() - started:.3f} s")


if __name__ == "__main__":
    main()
