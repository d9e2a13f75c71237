"""What VerifyOfd's document reading and one signature's ``references`` check cost
for an N-page OFD (pure, one process, no stack): ``python -m bench.ofd_references_bench
[pages]`` prints the best and median of 5 runs of reading the package, the document
(:func:`services.seal.ofd.signatures_document`), the signature list and Signature.xml,
and :func:`services.seal.ofd.check_references` (the digests and the files the
document is drawn from, every page parsed once).
"""

from __future__ import annotations

import sys
import time

from certseal.crypto import Suite
from services.seal import ofd
from services.seal.ofd_package import read_package
from services.seal.ofd_sign import StampPlace, prepare_seal
from tests.seal.ofd_samples import make_ofd, zip_files


def main(pages: int) -> None:
    prepared = prepare_seal(
        make_ofd(tuple(f"第{i}页" for i in range(pages))),
        seal=b"\x30\x00",
        suite=Suite.SM2,
        stamp_mm=(40.0, 40.0),
        place=StampPlace(),
        signed_at_text="2026-12-02 08:00:00",
    )
    data = zip_files(dict(prepared.files))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        package = read_package(data)
        document = ofd.signatures_document(package)
        entries, _ = ofd.signature_entries(document)
        signature = ofd.read_signature_file(package, entries[0].path)
        results = ofd.check_references(document, signature, entries[0])
        times.append(time.perf_counter() - start)
        assert all(r.holds for r in results)
    times.sort()
    print(
        f"{pages} pages, {len(data)} bytes, {len(results)} references: "
        f"best {times[0] * 1000:.1f} ms, median {times[2] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
