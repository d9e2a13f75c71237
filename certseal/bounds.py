"""The size, depth and pixel bounds every decoder of outside input checks first.

Each bound is checked before the decoder allocates in proportion to what the input
claims, so a hostile input is refused cheaply instead of after the damage (docs/codes.md,
"Bounds"). Pure: constants only.
"""

from __future__ import annotations

MAX_CODE_CHARS = 8192
"""Characters of a code's text (prefix and Base45), after stripping whitespace.

A licence code with 100 public fields of 1,000 characters does not compress below this,
but no QR symbol holds more than 4,296 alphanumeric characters either (version 40-L), so
8,192 leaves room for codes pasted as text and bounds the Base45 decoder's input.
"""

MAX_CODE_INPUT_CHARS = MAX_CODE_CHARS + 1024
"""Characters of a code's text as received, before anything else is done with it:
:data:`MAX_CODE_CHARS` and room for surrounding white space and control characters
(a scanner's prefix and suffix, a pasted line's indentation). Checked before the text
is stripped or normalised."""

MAX_CODE_COMPRESSED_BYTES = (MAX_CODE_CHARS // 3) * 2 + 2
"""Bytes of the zlib stream a code's Base45 text may carry (Base45 turns 2 bytes into 3
characters, so this follows from :data:`MAX_CODE_CHARS`)."""

MAX_CODE_MESSAGE_BYTES = 64 * 1024
"""Bytes of the COSE_Sign1 message after inflating a code's zlib stream.

A real code is under 5 KiB; 64 KiB bounds a zlib bomb's output (inflation is stopped at
this size, it is never reached first and checked after).
"""

MAX_CODE_CBOR_DEPTH = 8
"""Nesting depth of arrays and maps in a code's CBOR (COSE_Sign1, its protected header,
the CWT claims). The deepest legitimate shape is claims → licence part → fields → value,
depth 3; 8 leaves room and keeps the strict reader's recursion shallow."""

MAX_CODE_CBOR_ITEMS = 1024
"""Data items (every integer, string, array, map, key and value counts one) in one CBOR
structure of a code. A licence code with the 100 public fields a licence type may have
holds about 220; a count beyond 1,024 is refused before anything is allocated for it."""

MAX_BUNDLE_CBOR_DEPTH = 8
"""Nesting depth of an offline trust bundle's CBOR (the file's array of messages, each
message's payload: map → ``keys`` → one key's array is depth 3)."""

MAX_BUNDLE_CBOR_ITEMS = 16 * 1024 * 1024
"""Data items in one trust bundle structure: a listed lineage takes 7, a key 11, so this
holds two million listed lineages. Every item is at least one byte, so reading is linear
in the file's size; the bound stops a file of millions of empty items early."""

MAX_IMAGE_BYTES = 8 * 1024 * 1024
"""Bytes of a PNG, JPEG or HEIC image sent to be read as a QR code: the one limit of
VerifyImage, the console's upload and ``certseal verify --image`` (each checks it before
reading more, and the verifier's and console's request limits are above it). A
12-megapixel phone photo is 3 to 5 MB as JPEG, 1 to 3 MB as HEIC."""

MAX_IMAGE_PIXELS = 4096 * 4096
"""Pixels (width × height, read from the file's header before decoding) of an image
read as a QR code: 16.8 million, so a 12-megapixel phone photo fits. Decoding one costs
at most about 120 MiB (the RGBA frame, its grey and alpha planes and the white canvas;
measured: 4096 × 4096 RGBA PNG, peak RSS +40 MiB over the test's own 100 MiB, 0.3 s).
Larger images are refused before decoding: a 13,000 × 13,000 PNG of 657 KB took the
verifier to 2 GB."""

MAX_JPEG_PIXELS = 4 * MAX_IMAGE_PIXELS
"""Pixels a baseline JPEG (or MPO) may declare: 67 million. One over
:data:`MAX_IMAGE_PIXELS` is decoded at half scale or less straight from its DCT
(libjpeg's scaled decoding), so what is decoded stays within :data:`MAX_IMAGE_PIXELS`
(measured: 8192 × 8192, peak +65 MiB, 0.3 s): an iPhone 15 or later takes 24-megapixel
photos by default (5712 × 4284), a phone's full sensor 48 (8064 × 6048), and cameras
write baseline JPEGs; both sizes were refused. A progressive JPEG keeps every DCT
coefficient of the whole image whatever the scale (8192 × 8192 grey: +145 MiB), so it
keeps :data:`MAX_IMAGE_PIXELS`, as PNG (no reduced decoding) does; so does a
baseline JPEG whose first scan lacks one of its components (each component a scan of its
own: libjpeg keeps every coefficient then too; 8192 × 8192 CMYK: +570 MiB)."""

MAX_HEIC_PIXELS = 6144 * 4096
"""Pixels a HEIC (HEIF) image may declare: 25.2 million for an 8-bit 4:2:0 picture (what
phones write; fewer for costlier formats, :data:`MAX_HEIC_DECODE_BYTES`), so an iPhone
15's or later's default 24-megapixel photo (5712 × 4284, a grid of 512 × 512 HEVC
tiles) is read; it was refused. HEVC has no reduced decoding, so the memory is kept down
instead (:mod:`certseal.heic`): libheif's RGB bytes are made grey a strip of rows at a
time (never a second full RGB copy, as Pillow's frame would be) and released before the
QR reader runs, and the image is decoded once, the full-size read after a scaled one
that found no code reading the grey plane kept. Measured (photo-like HEICs of 512 × 512
tiles, 1.6 MB, each in a fresh process, the scaled and the full-size read both,
pillow-heif 1.9, libheif 1.23): at the bound (6144 × 4096) peak RSS +113 MiB, 0.6 s;
5712 × 4284 +109 MiB, 0.5 to 0.7 s. Through Pillow's frame and decoded again for the
full-size read, as before, a 4096 × 4096 HEIC took +152 MiB and 1.3 s (now +79 MiB,
0.7 s); a second decode alone added 44 MiB (glibc keeps what libde265's threads
freed)."""

MAX_HEIC_DECODE_BYTES = 114 * 1024 * 1024
"""Peak memory a HEIC's pixels may take at their format's cost
(:data:`HEIC_PEAK_BYTES_PER_PIXEL`): with the ~6 MiB a decode takes whatever its size,
the ~120 MiB of an image within the other bounds. So a HEIC of a format costlier to
decode than a phone's may have fewer pixels than :data:`MAX_HEIC_PIXELS` (a 10-bit 4:4:4
one with alpha 5.8 million). At that bound such a HEIC of 1 MB took +494 MiB and 1.8 s
(5.6 s on the busy machine, over ``[verifier] image_timeout_s``), an 8-bit 4:4:4 one
+221 MiB; at their limits, three such formats measured took +114 to +121 MiB.
The chroma is the costliest of the header's and of every SPS the file's ``hvcC``
records carry (:func:`certseal.hevc.coded_chroma`): libheif checks the decoded bit
depth against the header, not the chroma, and an 8-bit 4:4:4 picture whose record
said 4:2:0 got 4:2:0's limit and took +229 MiB at 6144 × 4096 (atk33c H1). An SPS
sent in band, in the picture's data, is not read: libheif does not reject one that
differs from its record's either."""

HEIC_PEAK_BYTES_PER_PIXEL: dict[tuple[int, int, bool], float] = {
    # (bytes a sample: 1 for 8 bits, 2 for 9 to 16; chroma, 0 for grey; alpha):
    # peak RSS over pixels reading a 6144 × 4096 HEIC of that format, both reads
    (1, 0, False): 4.2,
    (1, 420, False): 4.7,  # a phone's photo: MAX_HEIC_PIXELS, +113 MiB
    (1, 422, False): 8.3,
    (1, 444, False): 9.3,
    (1, 0, True): 10.6,  # as 2 bytes a sample (pillow-heif writes none to measure)
    (1, 420, True): 6.9,
    (1, 422, True): 11.5,
    (1, 444, True): 12.5,
    (2, 0, False): 4.2,  # pillow-heif's "I;16", read as its high bytes
    (2, 420, False): 7.8,
    (2, 422, False): 13.3,
    (2, 444, False): 15.4,
    (2, 0, True): 10.6,
    (2, 420, True): 11.9,
    (2, 422, True): 18.6,
    (2, 444, True): 20.6,
}
"""Peak bytes a pixel reading a HEIC of each format takes (:mod:`certseal.heic`),
measured with pillow-heif 1.9 and libheif 1.23: libheif decodes into YCbCr planes of 1
or 2 bytes a sample (4:2:2 and 4:4:4 through planes at full chroma; the alpha is a
picture of its own) and converts them to 8-bit RGB(A). A format pillow-heif names no
chroma for (not grey) counts as 4:4:4."""

IMAGE_LIMIT = (
    f"a PNG, JPEG or HEIC image of at most {MAX_IMAGE_BYTES // (1024 * 1024)} MiB "
    f"and {MAX_IMAGE_PIXELS / 1e6:.1f} million pixels "
    f"(a baseline JPEG {MAX_JPEG_PIXELS / 1e6:.1f} million, "
    f"a HEIC {MAX_HEIC_PIXELS / 1e6:.1f} million)"
)
"""The one image limit (:data:`MAX_IMAGE_BYTES`, :data:`MAX_IMAGE_PIXELS`,
:data:`MAX_JPEG_PIXELS`, :data:`MAX_HEIC_PIXELS`: a phone's HEIC's) in words, as
the console, VerifyImage and the CLI state it."""

MAX_QR_SIDE = 2048
"""Pixels of the longer side of the picture handed to the QR reader first: a larger
image (within :data:`MAX_IMAGE_PIXELS`) is scaled down to this, which keeps the reader's
own working memory under a few times 4 MiB. A QR symbol taking a quarter of a
12-megapixel photo still has more than 4 pixels per module at this size. When the scaled
picture holds no licence or presentation code (no QR code, or only others printed
larger) the picture is read at its own size too (a symbol a tenth of a photo's width;
measured: 4096 × 4096 of noise, about 50 MiB more and 0.35 s)."""

MAX_JPEG_SCANS = 32
"""Scans (SOS markers) a JPEG may have. A baseline JPEG has one and a progressive one
from a camera or libjpeg about ten; each scan costs a pass over every block of the
image, so a small file of thousands of empty scans would otherwise take minutes to
decode (the pixel bound does not bound time). Counted in the image decoded
(:func:`certseal.qr.jpeg_scans`), MPO too, not in bytes appended after it."""

MAX_JSON_DEPTH = 16
"""Nesting depth of arrays and objects in JSON from outside (a console request body, a
feed position token). The deepest legitimate shape is a token's list of
``[topic, partition, offset]`` lists, depth 2; 16 leaves room. Checked by
:func:`certseal.jsontext.loads_bounded` before the decoder recurses."""

MAX_BUNDLE_FILE_BYTES = 256 * 1024 * 1024
"""Bytes of an offline trust bundle file read by ``certseal verify --offline``: a full
bundle of two million listed lineages and its deltas fit."""

MAX_DOCUMENT_BYTES = 60 * 1024 * 1024
"""Bytes of a document the seal service takes by default (``[seal]
max_document_bytes``): a PDF or OFD to seal or verify, a document to seal whole. A
sealed document is held to it too (the seal service refuses to make one it would not
verify), and the counter console takes a body of as many bytes
(``[console] max_upload_bytes`` 0: the seal service's limit)."""

MAX_DOCUMENT_FILE_BYTES = 64 * 1024 * 1024
"""Bytes of a PDF, OFD, signature, picture or document-to-verify file the CLI reads
to send to the seal service: a bound on the CLI's own memory, over the service's
default :data:`MAX_DOCUMENT_BYTES` (the service says its own limit for a file
between). ``seal document`` reads a file of any size, a chunk at a time, and sends
its digest, and so does ``seal verify`` of a larger document
(services/seal/cli_document.py)."""

DOCUMENT_FILE_LIMIT = (
    f"{MAX_DOCUMENT_FILE_BYTES // (1024 * 1024)} MiB, what the CLI reads of a "
    f"document (the seal service takes at most its [seal] max_document_bytes, "
    f"{MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB unless set otherwise)"
)
"""The CLI's document read bound, as its refusal says it."""

MAX_SMALL_FILE_BYTES = 1024 * 1024
"""Bytes of a small file the CLI or a service reads: a configuration (TOML), a secret,
a password or DSN file, a CA certificate."""

MAX_CA_BUNDLE_BYTES = 16 * 1024 * 1024
"""Bytes of a CA bundle handed to Python's ``ssl`` (``kafka.ssl_cafile``, a DSN's
``sslrootcert``), which sets no limit: a system bundle may be one (Debian's
ca-certificates.crt is about 220 KB, Fedora's text form 756 KB, with ``openssl x509
-text`` comments more than 1 MiB)."""

MAX_PDF_REVISIONS = 500
"""Revisions (the original and each incremental update: a signature, a timestamp, an
edit) a PDF may have to be verified (VerifyPdf) or sealed (SealPdf, which adds one).
pyHanko's difference analysis, run for every signature over each revision after it,
costs time that grows with the square of their number (measured: a sealed file of
1,000 objects updated 200, 400 and 800 times, 0.85, 1.9 and 5.4 s of CPU; without
the objects 0.46, 1.3 and 2.7 s), and a 60 MiB file could hold 700,000 updates of
80 bytes. A contract signed by many parties has tens of revisions; 500 keeps a
verification within seconds. Refused INVALID_ARGUMENT ``pdf``, naming the count."""

MAX_XMP_MARKUP = 100_000
"""Markup (``<`` bytes: tags, comments, CDATA sections) an XMP packet may hold for the
title a viewer shows to be read from it (``services/seal/pdf_title.py``); its bytes are
bounded by :data:`MAX_DOCUMENT_BYTES` only, as pdf.js reads a packet of any size. A
packet with its thumbnail holds a few hundred tags; each costs about 2 µs of Python
callbacks, so this bounds a read to about 0.2 s (measured: 2 million nested tags, 13
MiB, took 4.3 s and 700 MiB). A packet with more reads as none, counted by its bytes:
changed after a seal, it is a title change. It bounds the entity references (``&``
bytes) read by pdf.js's steps too (``services/seal/pdf_xmp.py``, a Python call
each), past which the packet is counted by its bytes as well."""

MAX_PDF_PASSWORD_BYTES = 127
"""UTF-8 bytes of an encrypted PDF's password: AES-256 (revision 6) uses the first 127
bytes of the SASLprepped password (ISO 32000-2 §7.6.4.3.3); revisions 2 to 4 use 32
bytes of PDFDocEncoding. The seal service refuses a longer one, and the counter
console's ``X-PDF-Password`` header is held to it before anything is sent on."""
