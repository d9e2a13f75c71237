"""The seal service's ``certseal`` commands.

``seal inspect`` reads a GB/T 38540 structure offline. The others call the Seal gRPC API:
as the department named by ``seal --as CODE`` (its dev identity; a seal owner registers,
lists and revokes its seals and seals documents and PDFs with them), or as the CLI's
operator identity without ``--as`` (``verify``, ``verify-pdf`` and ``verify-ofd`` need no
department).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from certseal.calls import call_service
from certseal.cli import load, ts
from certseal.cli_options import OutputFile, say, whole_number, write_output
from certseal.cli_parser import given
from certseal.errors import CertsealError, invalid
from certseal.files import InputFile
from certseal.identifiers import validate_uscc
from certseal.text import shown_name
from services.seal.cli_as import seal_identity
from services.seal.cli_document import seal_document, verify_request
from services.seal.cli_inputs import (
    OFD,
    PDF,
    SIGNATURE,
    read_as,
    read_document,
    write_sealed,
)
from services.seal.cli_ofd import ofd_file_lines, signature_heading
from services.seal.cli_password import password_hint, password_in


def cmd_seal_inspect(args: argparse.Namespace) -> int:
    """Print an SESeal or SES_Signature (GB/T 38540, DER) field by field; with
    ``--maker-cert``, also write the seal maker's certificate there (PEM), for a
    ``[[seal.seal_makers]]`` entry (docs/operations.md, "Trusted seal platforms")."""
    from asn1crypto import pem

    from certseal.filekinds import looks_like_text
    from services.seal.inspect import NOT_SES, inspect

    if args.as_department:  # would read as a department's inspection: none is made
        raise invalid(
            "as",
            "has no effect with seal inspect (it reads the file here and asks no "
            "service): leave it out",
        )
    data = read_as(args.file, "file", SIGNATURE)
    if looks_like_text(data):  # a README, not "not DER: ..." twice over
        raise invalid("file", f"{shown_name(args.file)} {NOT_SES}: it looks like text")
    try:
        found, lines = inspect(data, "file")
    except CertsealError as exc:  # the file named, as other refusals name it
        raise invalid("file", f"{shown_name(args.file)} {exc.message}") from None
    for line in lines:
        say(line)
    if args.maker_cert:
        from services.seal.ses_read import SignatureData

        seal = found.seal if isinstance(found, SignatureData) else found
        pem_text = pem.armor("CERTIFICATE", seal.maker_cert)
        write_output(args.maker_cert, pem_text, "maker-cert")
        say(f"seal maker's certificate written to {shown_name(args.maker_cert)}")
        for line in _who(seal.maker_cert):
            say(f"  {line}")
    return 0


def _who(der: bytes) -> list[str]:
    """A certificate's subject, issuer and full SHA-256 fingerprint: what to check
    with its platform, out of band, before trusting it (docs/operations.md,
    "Trusted seal platforms")."""
    import hashlib

    from asn1crypto import x509

    fingerprint = hashlib.sha256(der).hexdigest().upper()
    lines = [f"SHA-256 {':'.join(fingerprint[i : i + 2] for i in range(0, 64, 2))}"]
    try:
        tbs = x509.Certificate.load(der)["tbs_certificate"]
        lines[:0] = [
            f"subject {tbs['subject'].human_friendly}",
            f"issuer  {tbs['issuer'].human_friendly}",
        ]
    except ValueError:
        lines.insert(0, "(not a readable certificate)")
    return lines


def _call(args: argparse.Namespace, call: Callable[[Any], Awaitable[Any]]) -> Any:
    """Call the Seal API as ``--as CODE``'s department, or as the CLI's identity;
    an error about a request field names the option instead (``_OPTIONS``)."""
    from certseal.v1 import seal_pb2_grpc

    # the form first, before the configuration (a mistyped check character is bad
    # input, exit 2, wherever the command runs); then a department the stack knows,
    # never a certificate made for any code typed (services.seal.cli_as)
    code = validate_uscc(args.as_department, "as") if args.as_department else None
    cfg = load(args)
    identity = seal_identity(cfg, code) if code else None
    return call_service(
        cfg,
        cfg.cli.seal_target,
        lambda chan: call(seal_pb2_grpc.SealStub(chan)),
        identity=identity,
        service="seal",
        options=_OPTIONS,
    )


def _signer(text: str) -> str:
    """An argparse ``type``: a signer identity as the seal service checks it
    (:func:`services.seal.registration.check_signer`), refused by the parser."""
    from services.seal.registration import check_signer

    try:
        return check_signer(text)
    except CertsealError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


#: a request field the Seal API names in an error -> the option that gives it,
#: where their names differ (nu24: 'error: owner_code: ...')
_OPTIONS = {"owner_code": "owner", "seal_type": "type", "signers": "signer"}
#: and the document read, the FILE argument (trial 2a: 'error: ofd: ...')
_OPTIONS |= dict.fromkeys(("pdf", "ofd", "document"), "file")


def _pdf_call(args: argparse.Namespace, call: Callable[[Any], Awaitable[Any]]) -> Any:
    """:func:`_call` for `seal pdf` and `seal verify-pdf`: a refused or missing PDF
    password is named as the option that gives it (see :func:`password_hint`)."""
    try:
        return _call(args, call)
    except CertsealError as exc:
        raise password_hint(exc, args.password_file) from None


def _print_seal(seal: Any) -> None:
    say(f"seal        {seal.seal_id}")
    say(f"name        {seal.name} ({seal.seal_type}, {seal.suite})")
    say(f"owner       {seal.owner_code}")
    say(
        f"status      {seal.status}"
        + (f" ({seal.revocation_reason})" if seal.revocation_reason else "")
    )
    say(f"valid       {ts(seal.valid_start)} .. {ts(seal.valid_end)}")
    say(f"signers     {', '.join(seal.signers)}")


def _signer_lines(found: Any) -> list[str]:
    """The ``seal`` and ``signed`` lines of a verified signature (SES or OFD), with
    only what is known: a file that is no signature (MALFORMED) has no seal, time or
    signer, and a verdict reached before the registry was asked (UNTRUSTED_SEAL) no
    status; a changed document (MODIFIED) has it, as VALID does (words39)."""
    lines = []
    status = f" ({found.current_status})" if found.current_status else ""
    seal = " ".join(p for p in (found.seal_id, found.seal_name) if p)
    if seal:
        lines.append(f"seal        {seal}{status}")
    when = ts(found.signed_at) if found.signed_at.seconds else ""
    signed = " ".join(
        p for p in (when, f"by {found.signer}" if found.signer else "") if p
    )
    if signed:
        lines.append(f"signed      {signed}")
    return lines


def verdict_shown(found: Any) -> str:
    """A seal's verdict as the verify commands print it: a VALID seal revoked since it
    sealed says so and when (VALID by design: sealed while the seal was valid, and
    unchanged; the seal seals nothing since), so it is not read as a seal in use."""
    if found.verdict == "VALID" and found.current_status == "revoked":
        when = ts(found.revoked_at) if found.revoked_at.seconds else "at a time unknown"
        return f"VALID: sealed before the seal was revoked ({when})"
    return str(found.verdict)


def _print_checks(found: Any) -> int:
    """The verdict line and each check of a verified signature (SES or OFD); the
    exit status, 0 only for VALID."""
    verdict = found.verdict
    say(f"verdict     {verdict_shown(found)}")
    for check in found.checks:
        # the same marks as licence verification (services/verifier/cli.py)
        say(f"  [{'ok' if check.passed else 'FAILED'}] {check.name}: {check.detail}")
    return 0 if verdict == "VALID" else 1


def cmd_seal(args: argparse.Namespace) -> int:
    """RegisterSeal, GetSeal, ListSeals, RevokeSeal, SealDocument,
    VerifySealedDocument, SealPdf, VerifyPdf, SealOfd and VerifyOfd, one command
    each."""
    from certseal.v1 import seal_pb2 as pb

    command = args.seal_command
    if command == "register":
        request = pb.RegisterSealRequest(
            owner_code=args.owner or "",
            seal_type=args.type,
            name=args.name,
            suite=args.suite,
            signers=args.signer or [],
            picture=read_document(args.picture, "picture") if args.picture else b"",
        )
        _print_seal(_call(args, lambda s: s.RegisterSeal(request)).seal)
    elif command == "get":
        request = pb.GetSealRequest(seal_id=args.seal_id)
        _print_seal(_call(args, lambda s: s.GetSeal(request)).seal)
    elif command == "list":
        request = pb.ListSealsRequest(
            owner_code=args.owner or "", page_token=args.page_token or ""
        )
        reply = _call(args, lambda s: s.ListSeals(request))
        for seal in reply.seals:
            say(f"{seal.seal_id}  {seal.status:<8} {seal.seal_type:<9} {seal.name}")
        if reply.next_page_token:
            say(f"more: --page-token {reply.next_page_token}")
    elif command == "revoke":
        request = pb.RevokeSealRequest(seal_id=args.seal_id, reason=args.reason)
        _print_seal(_call(args, lambda s: s.RevokeSeal(request)).seal)
    elif command == "document":  # by its digest, of a file of any size
        with InputFile(args.file, "file") as file:
            info = args.property_info or ""
            reply = _call(args, lambda s: seal_document(s, args.seal_id, file, info))
        out = write_sealed(args.out, reply.signature, args.file, "the document")
        say(f"SES_Signature written to {out}")
        say(f"document digest {reply.document_digest}, signed {ts(reply.signed_at)}")
    elif command == "verify":
        request = verify_request(args.signature, args.file)  # a large one's digest
        reply = _call(args, lambda s: s.VerifySealedDocument(request))
        for line in _signer_lines(reply):
            say(line)
        return _print_checks(reply)
    elif command == "pdf":
        _refuse_placed(args, "field", "the stamp goes into the named field")
        request = pb.SealPdfRequest(
            seal_id=args.seal_id,
            pdf=read_as(args.file, "file", PDF, sealing=args.seal_id),
            page=args.page,
            x_mm=args.x_mm,
            y_mm=args.y_mm,
            reason=args.reason or "",
            password=password_in(args.password_file),
            field_name=args.field or "",
        )
        reply = _pdf_call(args, lambda s: s.SealPdf(request))
        out = write_sealed(args.out, reply.pdf, args.file, "the file it sealed")
        say(f"sealed PDF written to {out} (SHA-256 {reply.pdf_digest})")
    elif command == "ofd":
        _refuse_placed(args, "keyword", "the stamp goes over the keyword's text")
        request = pb.SealOfdRequest(
            seal_id=args.seal_id,
            ofd=read_as(args.file, "file", OFD, sealing=args.seal_id),
            page=args.page,
            x_mm=args.x_mm,
            y_mm=args.y_mm,
            keyword=args.keyword or "",
        )
        reply = _call(args, lambda s: s.SealOfd(request))
        out = write_sealed(args.out, reply.ofd, args.file, "the file it sealed")
        say(f"sealed OFD written to {out} (SHA-256 {reply.ofd_digest})")
        say(f"signature {reply.signature_id} {reply.signature_path}, page {reply.page}")
    elif command == "verify-ofd":
        return _verify_ofd(args)
    else:  # verify-pdf
        request = pb.VerifyPdfRequest(
            pdf=read_as(args.file, "file", PDF),
            password=password_in(args.password_file),
        )
        reply = _pdf_call(args, lambda s: s.VerifyPdf(request))
        for line in pdf_report_lines(reply):
            say(line)
        return verify_status([s.verdict for s in reply.seals], reply)
    return 0


def _refuse_placed(args: argparse.Namespace, instead: str, why: str) -> None:
    """``seal ofd --keyword`` and ``seal pdf --field`` place the stamp themselves: a
    ``--page``, ``--x-mm`` or ``--y-mm`` beside them has no effect, so it is refused
    by its option's name (INVALID_ARGUMENT naming it; the service refuses the
    request's field as well)."""
    if not getattr(args, instead):
        return
    for dest in ("page", "x_mm", "y_mm"):
        if getattr(args, dest) is not None:
            raise invalid(
                dest.replace("_", "-"),
                f"has no effect with --{instead} ({why}): give one of them",
            )


def pdf_report_lines(reply: Any) -> list[str]:
    """The lines `seal verify-pdf` prints for a VerifyPdfResponse.

    One line per seal (with the seal's status now, as `seal verify` shows it: a
    seal revoked after it sealed stays VALID and says "(revoked)"), the count, and,
    for a certseal licence file (GB/T 36905, its
    metadata read by the seal service), the licence's current status at a verifier
    group: a sealed file whose licence was revoked says REVOKED here although its
    seal is VALID (docs/holder.md, "Verifying a licence file").
    """
    lines = [
        f"{one.field_name}: {verdict_shown(one)} {one.seal_name}"
        + (f" ({one.current_status})" if one.current_status else "")
        + f" {one.detail}"
        for one in reply.seals
    ]
    lines.append(
        f"{len(reply.seals)} seal(s)"
        if reply.seals
        else "0 seal(s): the PDF holds no signature or seal to verify"
    )
    return lines + _licence_lines(reply)


def _verify_ofd(args: argparse.Namespace) -> int:
    """VerifyOfd: every signature, its checks and (with --references) its digests."""
    from certseal.v1 import seal_pb2 as pb

    request = pb.VerifyOfdRequest(ofd=read_as(args.file, "file", OFD))
    reply = _call(args, lambda s: s.VerifyOfd(request))
    for one in reply.signatures:
        say(signature_heading(one, len(reply.documents)))
        for line in _signer_lines(one):
            say(line)
        say(f"intact      {'yes' if one.intact else 'NO'} ({one.check_method})")
        _print_checks(one)
        for ref in one.references:
            if args.references or ref.status not in ("ok", "list grown"):
                say(f"  {ref.status:<11} {ref.file} {ref.expected}".rstrip())
    for line in ofd_file_lines(reply) + _licence_lines(reply):
        say(line)
    return verify_status([reply.verdict], reply)  # every document's, every seal's


def verify_status(verdicts: list[str], reply: Any) -> int:
    """``seal verify-pdf`` and ``verify-ofd``'s exit status: 0 when there are seals
    and every one is VALID and, in a licence file, its licence is VALID now too; 1
    otherwise (a revoked, expired or not yet valid licence in an intact file, or a
    licence whose status could not be read, is not a valid licence file)."""
    sealed = bool(verdicts) and all(v == "VALID" for v in verdicts)
    licence_ok = not reply.HasField("licence") or reply.licence.verdict == "VALID"
    return 0 if sealed and licence_ok else 1


def _licence_lines(reply: Any) -> list[str]:
    """A licence file's licence and its status now, with why (``REVOKED (revoked
    as a sanction (07))``, or why none could be had), one shape for VerifyPdf and
    VerifyOfd; none for a file that is no licence file."""
    if not reply.HasField("licence"):
        return []
    found = reply.licence
    status = found.verdict or "unknown"
    status += f" ({found.detail})" if found.detail else ""
    return [
        f"licence     {found.identifier} (type {found.type_code}, "
        f"issuer {found.issuer_code}): {status}"
    ]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``seal inspect`` and one command per Seal RPC."""
    parser = sub.add_parser("seal", help="electronic seals")
    parser.add_argument(
        "--as",
        dest="as_department",
        type=given("a department's code"),
        metavar="CODE",
        help="act as this department (its dev identity): one the stack knows, "
        "onboarded or made with 'certseal dev identity dept:CODE'; default: the "
        "CLI's identity",
    )
    seal = parser.add_subparsers(dest="seal_command", required=True)
    inspect = seal.add_parser(
        "inspect", help="print an SESeal or SES_Signature (DER) field by field"
    )
    inspect.add_argument("file")
    inspect.add_argument(
        "--maker-cert",
        action=OutputFile,
        kinds=("a PEM certificate",),
        metavar="PEM",
        help="also write the seal maker's certificate to this file (PEM)",
    )
    inspect.set_defaults(func=cmd_seal_inspect)

    add = seal.add_parser("register", help="register a seal (a seal owner)")
    add.add_argument("--type", required=True, help="official, contract, finance, ...")
    add.add_argument("--name", required=True)
    add.add_argument(
        "--suite", default="sm2", help="sm2, es256 or ed25519 (default sm2)"
    )
    add.add_argument("--owner", help="the owning department (operators only)")
    add.add_argument(
        "--signer",
        action="append",
        type=_signer,
        # registration.SIGNERS_SAID, not imported: the CLI starts without the crypto
        help="mTLS identity that may use the seal (app:<name>, dept:<code> or "
        "service:<name>), repeatable",
    )
    add.add_argument("--picture", help="PNG of the seal (default: a generated one)")
    get = seal.add_parser("get", help="one seal")
    get.add_argument("seal_id")
    listing = seal.add_parser("list", help="seals of a department")
    listing.add_argument("--owner", help="department code (default: --as)")
    listing.add_argument("--page-token")
    revoke = seal.add_parser("revoke", help="revoke a seal")
    revoke.add_argument("seal_id")
    revoke.add_argument("--reason", required=True)
    document = seal.add_parser("document", help="seal a document: an SES_Signature")
    document.add_argument("seal_id")
    document.add_argument("file")
    document.add_argument(
        "--out",
        action=OutputFile,
        kinds=("a DER SES_Signature",),
        required=True,
        help="where the signature goes",
    )
    document.add_argument("--property-info", help="ASCII, e.g. the file name")
    verify = seal.add_parser("verify", help="verify a sealed document")
    verify.add_argument("signature", help="the SES_Signature (DER) file")
    verify.add_argument("file", help="the document")
    pdf = seal.add_parser("pdf", help="seal a PDF (PAdES)")
    pdf.add_argument("seal_id")
    pdf.add_argument("file")
    pdf.add_argument("--out", action=OutputFile, kinds=("a PDF",), required=True)
    pdf.add_argument("--page", type=whole_number(), help="0-based (default 0)")
    pdf.add_argument(
        "--x-mm", type=float, help="from the visible page's left edge (default 20)"
    )
    pdf.add_argument(
        "--y-mm", type=float, help="from the visible page's bottom edge (default 20)"
    )
    pdf.add_argument("--reason")
    pdf.add_argument(
        "--field",
        metavar="NAME",
        help="seal into this empty signature field (no --page/--x-mm/--y-mm)",
    )
    pdf.add_argument(
        "--password-file",
        metavar="FILE",
        help="file holding an encrypted PDF's password (first line)",
    )
    verify_pdf = seal.add_parser("verify-pdf", help="verify every seal in a PDF")
    verify_pdf.add_argument("file")
    verify_pdf.add_argument(
        "--password-file",
        metavar="FILE",
        help="file holding an encrypted PDF's password (first line)",
    )
    ofd = seal.add_parser("ofd", help="seal an OFD document (GB/T 33190)")
    ofd.add_argument("seal_id")
    ofd.add_argument("file")
    ofd.add_argument(
        "--out", action=OutputFile, kinds=("an OFD package (ZIP)",), required=True
    )
    ofd.add_argument("--page", type=whole_number(), help="0-based (default 0)")
    ofd.add_argument("--x-mm", type=float, help="from the page's left (default 20)")
    ofd.add_argument("--y-mm", type=float, help="from the page's top (default 20)")
    ofd.add_argument(
        "--keyword", help="stamp over this text instead (no --page/--x-mm/--y-mm)"
    )
    verify_ofd = seal.add_parser(
        "verify-ofd",
        help="verify every document's seals in an OFD; exit 0 only when every "
        "document holds a seal and every seal is VALID",
    )
    verify_ofd.add_argument("file")
    verify_ofd.add_argument(
        "--references", action="store_true", help="list every reference's digest"
    )
    for name, command in seal.choices.items():
        if name != "inspect":
            command.set_defaults(func=cmd_seal)
